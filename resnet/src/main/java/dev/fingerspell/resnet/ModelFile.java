package dev.fingerspell.resnet;

import dev.fingerspell.weights.Json;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.SafetensorsWriter;
import dev.fingerspell.weights.StateDicts;
import dev.fingerspell.weights.TensorInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
        for (Object o : (List<?>) Json.parse(meta.get("labels"))) {
          labels.add((String) o);
        }
        if (labels.size() != classes) {
          throw new SafetensorsException(
              path + ": metadata has " + labels.size() + " labels for " + classes + " classes");
        }
      } else if (classes == AslLabels.NAMES.size()) {
        labels.addAll(AslLabels.NAMES);
      } else {
        for (int i = 0; i < classes; i++) {
          labels.add(Integer.toString(i));
        }
      }
      Preprocess p = Preprocess.imagenet();
      if (meta.containsKey("input_size")) {
        List<?> size = (List<?>) Json.parse(meta.get("input_size"));
        int side = ((Number) size.get(size.size() - 1)).intValue();
        p = new Preprocess(side, p.mean(), p.std());
      }
      float[] mean = meta.containsKey("mean") ? floatArray(meta.get("mean")) : p.mean();
      float[] std = meta.containsKey("std") ? floatArray(meta.get("std")) : p.std();
      return new Info(List.copyOf(labels), new Preprocess(p.size(), mean, std), meta.get("config"));
    } catch (Json.JsonException | ClassCastException | IllegalArgumentException e) {
      throw new SafetensorsException(path + ": bad model metadata: " + e.getMessage(), e);
    }
  }

  private static float[] floatArray(String json) throws Json.JsonException {
    List<?> l = (List<?>) Json.parse(json);
    float[] out = new float[l.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = ((Number) l.get(i)).floatValue();
    }
    return out;
  }
}
