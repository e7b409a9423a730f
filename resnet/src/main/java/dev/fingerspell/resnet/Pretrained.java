package dev.fingerspell.resnet;

import dev.fingerspell.tensor.Rng;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.StateDicts;
import dev.fingerspell.weights.WeightFetch;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Builds a ResNet18 from a {@code model.weights} value, as timm's {@code create_model('resnet18',
 * pretrained=True, num_classes=N)} does: {@code hf://OWNER/NAME} (fetched and cached), a local
 * safetensors path, or {@code none} for a random initialisation. A stored classifier of another
 * class count is skipped with a notice; any other mismatch is an error.
 */
public final class Pretrained {
  private Pretrained() {}

  /** The model, in evaluation mode, with every notice passed to {@code notice}. */
  public static ResNet18 resnet18(
      String weights,
      int numClasses,
      long seed,
      WeightFetch fetch,
      WeightFetch.Progress progress,
      Consumer<String> notice) {
    return resnet18(fetch.resolve(weights, progress), numClasses, seed, notice);
  }

  /** The same from a resolved file, or from {@code null} for a random initialisation. */
  public static ResNet18 resnet18(Path file, int numClasses, long seed, Consumer<String> notice) {
    ResNet18 model = new ResNet18(numClasses, new Rng(seed));
    if (file == null) {
      notice.accept("model.weights=none: random initialisation (seed " + seed + ")");
    } else {
      try (SafetensorsFile f = SafetensorsFile.open(file)) {
        StateDicts.load(model, f, true, notice);
      }
    }
    model.eval();
    return model;
  }
}
