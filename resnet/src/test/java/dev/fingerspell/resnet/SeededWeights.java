package dev.fingerspell.resnet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;

/**
 * The Java side of resnet/src/test/python/seeded.py: draws every tensor of a ResNet18 state dict in
 * order from one seeded {@link Rng}, with float32 arithmetic identical to the script's, so the
 * PyTorch goldens need no weight file.
 */
final class SeededWeights {
  private SeededWeights() {}

  /** The PyTorch goldens of resnet/src/test/python/make_goldens.py. */
  static JsonNode golden() throws IOException {
    try (InputStream in = SeededWeights.class.getResourceAsStream("/goldens/resnet18.json")) {
      return new ObjectMapper().readTree(in);
    }
  }

  /** The golden's network: its class count, its seeded weights, in evaluation mode. */
  static ResNet18 goldenModel(JsonNode golden) {
    ResNet18 model = new ResNet18(golden.get("classes").asInt(), new Rng(0));
    fill(model, golden.get("weight_seed").asLong());
    model.eval();
    return model;
  }

  static void fill(ResNet18 model, long seed) {
    Rng rng = new Rng(seed);
    for (Map.Entry<String, Tensor> e : model.stateDict().entrySet()) {
      String name = e.getKey();
      Tensor t = e.getValue();
      if (name.endsWith("num_batches_tracked")) {
        continue;
      }
      int[] s = t.shape();
      float lo;
      float hi;
      if (s.length == 4) {
        hi = (float) Math.sqrt(6.0 / (s[1] * s[2] * s[3]));
        lo = -hi;
      } else if (name.startsWith("fc.")) {
        hi = (float) (1.0 / Math.sqrt(512));
        lo = -hi;
      } else if (name.endsWith("running_var")) {
        lo = 0.5f;
        hi = 2.0f;
      } else if (name.endsWith("running_mean") || name.endsWith(".bias")) {
        lo = -0.2f;
        hi = 0.2f;
      } else {
        lo = 0.5f;
        hi = 1.5f;
      }
      float[] v = new float[(int) t.numel()];
      for (int i = 0; i < v.length; i++) {
        v[i] = rng.uniform(lo, hi);
      }
      t.copyFrom(Tensor.of(v, s));
    }
  }

  /** {@code count} bytes, each the top 8 bits of one draw. */
  static byte[] bytes(Rng rng, int count) {
    byte[] b = new byte[count];
    for (int i = 0; i < count; i++) {
      b[i] = (byte) (rng.nextLong() >>> 56);
    }
    return b;
  }
}
