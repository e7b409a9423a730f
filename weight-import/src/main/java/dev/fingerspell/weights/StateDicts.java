package dev.fingerspell.weights;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.nn.Module;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Copies a safetensors state dict into a {@link Module}'s live parameters and buffers, as PyTorch's
 * {@code load_state_dict} does, with timm's pretrained-loading leniencies: {@code
 * num_batches_tracked} may be present or absent, and a classifier whose class count differs from
 * the model's (the 1000-class ImageNet {@code fc} loaded into a 29-class model) is skipped with a
 * notice and left at its initialisation.
 */
public final class StateDicts {
  private StateDicts() {}

  /** What a load did: tensors copied, and notices for the user. */
  public record LoadReport(int loaded, List<String> notices) {}

  /** The classifier's parameter names in timm's ResNet. */
  private static final List<String> CLASSIFIER = List.of("fc.weight", "fc.bias");

  /**
   * Loads every tensor of {@code path} into {@code model}; see {@link #load(Module,
   * SafetensorsFile, boolean, Consumer)}.
   */
  public static LoadReport load(Module model, Path path, boolean strict) {
    try (SafetensorsFile file = SafetensorsFile.open(path)) {
      return load(model, file, strict, n -> {});
    }
  }

  /**
   * Loads {@code file} into {@code model}. In strict mode, every missing, unexpected and
   * shape-mismatched name is reported together in one error (and nothing is copied); otherwise
   * those are skipped and reported as notices. Notices are also passed to {@code notice}.
   */
  public static LoadReport load(
      Module model, SafetensorsFile file, boolean strict, Consumer<String> notice) {
    Map<String, Tensor> state = model.stateDict();
    Map<String, TensorInfo> stored = file.tensors();
    List<String> notices = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    List<String> unexpected = new ArrayList<>();
    List<String> mismatched = new ArrayList<>();
    Map<String, TensorInfo> toCopy = new LinkedHashMap<>();

    boolean classifierMismatch = false;
    for (String name : CLASSIFIER) {
      TensorInfo t = stored.get(name);
      Tensor own = state.get(name);
      if (t != null && own != null && !sameShape(t, own)) {
        classifierMismatch = true;
      }
    }
    if (classifierMismatch) {
      TensorInfo w = stored.get("fc.weight");
      notices.add(
          "skipping the stored classifier ("
              + (w == null ? "fc" : "fc " + w.shapeString())
              + "): the model has "
              + state.get("fc.weight").size(0)
              + " classes; fc keeps its fresh initialisation");
    }
    for (Map.Entry<String, Tensor> e : state.entrySet()) {
      String name = e.getKey();
      TensorInfo t = stored.get(name);
      if (classifierMismatch && CLASSIFIER.contains(name)) {
        continue;
      }
      if (t == null) {
        if (!name.endsWith("num_batches_tracked")) {
          missing.add(name);
        }
        continue;
      }
      if (name.endsWith("num_batches_tracked")) {
        continue; // accepted and ignored: evaluation and fine-tuning do not use it
      }
      if (!sameShape(t, e.getValue())) {
        mismatched.add(
            name
                + " (file "
                + t.shapeString()
                + ", model "
                + Arrays.toString(e.getValue().shape())
                + ")");
        continue;
      }
      toCopy.put(name, t);
    }
    for (String name : stored.keySet()) {
      if (!state.containsKey(name)) {
        unexpected.add(name);
      }
    }
    List<String> problems = new ArrayList<>();
    if (!missing.isEmpty()) {
      problems.add("missing " + String.join(", ", missing));
    }
    if (!unexpected.isEmpty()) {
      problems.add("unexpected " + String.join(", ", unexpected));
    }
    if (!mismatched.isEmpty()) {
      problems.add("shape mismatch " + String.join(", ", mismatched));
    }
    if (!problems.isEmpty()) {
      if (strict) {
        throw new SafetensorsException(
            file.path() + ": does not fit the model: " + String.join("; ", problems));
      }
      notices.add("loaded leniently: " + String.join("; ", problems));
    }
    for (Map.Entry<String, TensorInfo> e : toCopy.entrySet()) {
      Tensor target = state.get(e.getKey());
      if (target.dtype() == DType.INT64) {
        target.copyFrom(Tensor.ofLongs(file.readLongs(e.getKey()), target.shape()));
      } else {
        target.copyFrom(Tensor.of(file.readFloats(e.getKey()), target.shape()));
      }
    }
    notices.forEach(notice);
    return new LoadReport(toCopy.size(), List.copyOf(notices));
  }

  private static boolean sameShape(TensorInfo t, Tensor own) {
    int[] s = own.shape();
    if (s.length != t.shape().length) {
      return false;
    }
    for (int i = 0; i < s.length; i++) {
      if (s[i] != t.shape()[i]) {
        return false;
      }
    }
    return true;
  }
}
