package dev.fingerspell.train.training;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.Sha256;
import dev.fingerspell.weights.IoErrors;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.SafetensorsWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;

/**
 * The 512-d features of a frozen backbone, computed once per image and kept on disk under {@code
 * <FINGERSPELL_HOME>/features/<key>.safetensors}, the key hashing the weights, the data set's
 * fingerprint, the split and the preprocessing: a frozen backbone is a pure function of the image
 * (its batch norms run on the pretrained statistics), so any run with the same key can reuse them.
 */
final class FeatureCache {
  /** Features and labels of one split. */
  record Features(float[] values, long[] labels, int count) {}

  private final Path dir;

  FeatureCache(Path dir) {
    this.dir = dir;
  }

  /** The identity of a weights file (its sha256), or of a seeded random initialisation. */
  static String weightsId(Path file, long seed) {
    if (file == null) {
      return "none:" + seed;
    }
    try {
      return Sha256.of(file);
    } catch (UncheckedIOException e) {
      throw new SafetensorsException(IoErrors.describe(e), e);
    }
  }

  static String key(String weightsId, PreparedData data, String split, Preprocess pre) {
    String text =
        String.join(
            "|",
            "v1",
            weightsId,
            data.fingerprint(),
            split,
            Integer.toString(pre.size()),
            Arrays.toString(pre.mean()),
            Arrays.toString(pre.std()));
    return Sha256.of(text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * The features of {@code split}, from the cache or computed (and stored) now. With {@code
   * augment} set they are computed afresh on augmented images and not stored. Null when {@code
   * stop} ended the computation; nothing is stored then.
   */
  Features get(
      String key,
      ResNet18 model,
      PreparedData data,
      String split,
      Preprocess pre,
      Rng augment,
      IntConsumer progress,
      BooleanSupplier stop) {
    Path file = dir.resolve(key + ".safetensors");
    if (augment == null && Files.isRegularFile(file)) {
      try (SafetensorsFile f = SafetensorsFile.open(file)) {
        long[] labels = f.readLongs("labels");
        progress.accept(labels.length);
        return new Features(f.readFloats("features"), labels, labels.length);
      } catch (SafetensorsException e) {
        // a damaged cache entry is recomputed
      }
    }
    Features computed = compute(model, data, split, pre, augment, progress, stop);
    if (computed != null && augment == null) {
      SafetensorsWriter.write(
          file,
          List.of(
              SafetensorsWriter.Entry.f32(
                  "features", new int[] {computed.count(), ResNet18.FEATURES}, computed.values()),
              SafetensorsWriter.Entry.i64(
                  "labels", new int[] {computed.count()}, computed.labels())),
          Map.of("split", split));
    }
    return computed;
  }

  /** The features of {@code split} computed now; null when {@code stop} ended the pass. */
  static Features compute(
      ResNet18 model,
      PreparedData data,
      String split,
      Preprocess pre,
      Rng augment,
      IntConsumer progress,
      BooleanSupplier stop) {
    int total = data.count(split);
    float[] values = new float[total * ResNet18.FEATURES];
    long[] labels = new long[total];
    int[] done = {0};
    model.eval();
    boolean complete =
        FeaturePass.run(
            FrozenResNet18.of(model), // the backbone does not train here
            data.batches(split, Batches.inferenceBatch()),
            (b, reuse) -> Batches.of(b, pre, augment, reuse),
            (b, features) -> {
              int n = b.count();
              System.arraycopy(b.labels(), 0, labels, done[0], n);
              System.arraycopy(
                  features, 0, values, done[0] * ResNet18.FEATURES, n * ResNet18.FEATURES);
              done[0] += n;
              progress.accept(n);
            },
            stop);
    return complete ? new Features(values, labels, done[0]) : null;
  }
}
