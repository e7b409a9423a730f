package dev.fingerspell.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/** Reads the PyTorch goldens that src/test/python/make_goldens.py writes. */
public final class Goldens {
  private Goldens() {}

  /** The cases of {@code goldens/<name>.json}. */
  public static List<JsonNode> cases(String name) {
    try (InputStream in = Goldens.class.getResourceAsStream("/goldens/" + name + ".json")) {
      if (in == null) {
        throw new IllegalStateException("missing golden " + name + ": run make_goldens.py");
      }
      List<JsonNode> out = new ArrayList<>();
      new ObjectMapper().readTree(in).get("cases").forEach(out::add);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The shape of a stored tensor. */
  public static int[] shape(JsonNode t) {
    int[] s = new int[t.get("shape").size()];
    for (int i = 0; i < s.length; i++) {
      s[i] = t.get("shape").get(i).asInt();
    }
    return s;
  }

  /** The values of a stored float tensor. */
  public static float[] floats(JsonNode t) {
    JsonNode d = t.get("data");
    float[] f = new float[d.size()];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) d.get(i).asDouble();
    }
    return f;
  }

  /** The values as doubles (exactly the stored floats). */
  public static double[] doubles(JsonNode t) {
    return GradCheck.toDouble(floats(t));
  }

  /** A stored tensor as a Tensor (float32 or int64 as stored). */
  public static Tensor tensor(JsonNode t) {
    if (t.has("dtype") && t.get("dtype").asText().equals("int64")) {
      JsonNode d = t.get("data");
      long[] l = new long[d.size()];
      for (int i = 0; i < l.length; i++) {
        l[i] = d.get(i).asLong();
      }
      return Tensor.ofLongs(l, shape(t));
    }
    return Tensor.of(floats(t), shape(t));
  }

  /** {@code case.tensors[name]} as a Tensor. */
  public static Tensor tensor(JsonNode c, String name) {
    return tensor(c.get("tensors").get(name));
  }

  /** {@code case.tensors[name]} as doubles. */
  public static double[] expected(JsonNode c, String name) {
    return doubles(c.get("tensors").get(name));
  }
}
