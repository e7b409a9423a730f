package dev.fingerspell.resnet;

import dev.fingerspell.weights.Json;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.SafetensorsWriter;
import dev.fingerspell.weights.StateDicts;
import dev.fingerspell.weights.TensorInfo;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoublePredicate;

/**
 * A whole model in one safetensors file: timm's parameter names (so that {@code
 * timm.create_model('resnet18', num_classes=29)} or torchvision's {@code resnet18} loads it
 * strictly) and {@code __metadata__} with the labels, input size, mean/std and, when trained here,
 * the training config — each value a JSON text, as safetensors metadata holds strings.
 */
public final class ModelFile {
  private ModelFile() {}

  /**
   * What a model needs besides its weights.
   *
   * @param labels class names, index order
   * @param preprocess input size and normalisation
   * @param config the training config as JSON text, or null
   */
  public record Info(List<String> labels, Preprocess preprocess, String config) {}

  /** A loaded model, in evaluation mode, and its info. */
  public record Loaded(ResNet18 model, Info info) {}

  /** Writes {@code model} and {@code info} to {@code path} atomically. */
  public static void save(ResNet18 model, Path path, Info info) {
    if (info.labels().size() != model.numClasses()) {
      throw new IllegalArgumentException(
          info.labels().size() + " labels for a model of " + model.numClasses() + " classes");
    }
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", "pt");
    meta.put("fingerspell.model", "resnet18");
    meta.put("labels", Json.write(info.labels()));
    Preprocess p = info.preprocess();
    meta.put("input_size", Json.write(List.of(3, p.size(), p.size())));
    meta.put("mean", Json.write(floats(p.mean())));
    meta.put("std", Json.write(floats(p.std())));
    if (info.config() != null) {
      meta.put("config", info.config());
    }
    SafetensorsWriter.write(path, SafetensorsWriter.entries(model.stateDict()), meta);
  }

  private static List<Object> floats(float[] v) {
    List<Object> l = new ArrayList<>();
    for (float f : v) {
      l.add(f);
    }
    return l;
  }

  /**
   * Reads a model: the class count from {@code fc.weight}, the weights strictly, the info from the
   * metadata or, where absent, the defaults (ImageNet preprocessing at 224; the ASL labels for 29
   * classes, else the class indices).
   */
  public static Loaded load(Path path) {
    try (SafetensorsFile file = SafetensorsFile.open(path)) {
      TensorInfo fcw = file.tensors().get("fc.weight");
      if (fcw == null || fcw.shape().length != 2 || fcw.shape()[1] != ResNet18.FEATURES) {
        throw new SafetensorsException(
            path + ": not a ResNet18 model: no fc.weight of shape [classes, 512]");
      }
      int classes = Math.toIntExact(fcw.shape()[0]);
      ResNet18 model = new ResNet18(classes, null); // every tensor is loaded strictly below
      StateDicts.load(model, file, true, n -> {});
      model.eval();
      return new Loaded(model, info(path, file.metadata(), classes));
    }
  }

  private static Info info(Path path, Map<String, String> meta, int classes) {
    try {
      List<String> labels = new ArrayList<>();
      if (meta.containsKey("labels")) {
        for (Object o : array(meta, "labels", "labels must be a JSON array")) {
          if (!(o instanceof String label)) {
            throw new IllegalArgumentException("labels must be strings");
          }
          labels.add(label);
        }
        if (labels.size() != classes) {
          throw new IllegalArgumentException(labels.size() + " labels for " + classes + " classes");
        }
      } else if (classes == AslLabels.NAMES.size()) {
        labels.addAll(AslLabels.NAMES);
      } else {
        for (int i = 0; i < classes; i++) {
          labels.add(Integer.toString(i));
        }
      }
      Preprocess p = Preprocess.imagenet();
      int side = meta.containsKey("input_size") ? side(meta) : p.size();
      float[] mean =
          meta.containsKey("mean")
              ? numbers(meta, "mean", "mean must be 3 finite numbers", Double::isFinite)
              : p.mean();
      float[] std = // a zero std would make every input infinite
          meta.containsKey("std")
              ? numbers(
                  meta, "std", "std must be 3 positive numbers", v -> v > 0 && Double.isFinite(v))
              : p.std();
      return new Info(List.copyOf(labels), new Preprocess(side, mean, std), meta.get("config"));
    } catch (IllegalArgumentException e) {
      throw new SafetensorsException(path + ": bad model metadata: " + e.getMessage(), e);
    }
  }

  /** The largest input side taken from a file: 16× timm's 224, far beyond any ResNet18 use. */
  private static final int MAX_SIDE = 4096;

  /** {@code input_size} as timm writes it, {@code [3, side, side]}: the side. */
  private static int side(Map<String, String> meta) {
    String why = "input_size must be [3, side, side] with a side from 1 to " + MAX_SIDE;
    List<?> size = array(meta, "input_size", why);
    if (size.size() != 3
        || !BigInteger.valueOf(3).equals(size.get(0))
        || !(size.get(1) instanceof BigInteger h)
        || !h.equals(size.get(2))
        || h.signum() <= 0
        || h.compareTo(BigInteger.valueOf(MAX_SIDE)) > 0) {
      throw new IllegalArgumentException(why + ", not " + meta.get("input_size"));
    }
    return h.intValue();
  }

  /**
   * A key's JSON array of 3 numbers, as floats, each passing {@code ok} (a number beyond float's
   * range is infinite by then).
   */
  private static float[] numbers(
      Map<String, String> meta, String key, String why, DoublePredicate ok) {
    List<?> l = array(meta, key, why);
    float[] out = new float[3];
    for (int i = 0; i < 3; i++) {
      if (l.size() != 3 || !(l.get(i) instanceof Number n) || !ok.test(out[i] = n.floatValue())) {
        throw new IllegalArgumentException(why + ", not " + meta.get(key));
      }
    }
    return out;
  }

  /** A key's value parsed as a JSON array; else what is wrong, prefixed by the key. */
  private static List<?> array(Map<String, String> meta, String key, String why) {
    Object v;
    try {
      v = Json.parse(meta.get(key));
    } catch (Json.JsonException e) {
      throw new IllegalArgumentException(key + ": " + e.getMessage());
    }
    if (!(v instanceof List<?> l)) {
      throw new IllegalArgumentException(why + ", not " + meta.get(key));
    }
    return l;
  }
}
