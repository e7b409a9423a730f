package dev.fingerspell.train.training;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.train.data.Folders;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.weights.IoErrors;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * What the frozen stages before layer4 make of each training image, for {@code
 * model.trainable=layer4} without augmentation. Those stages do not train, so their output, {@code
 * [256, S/16, S/16]} an image (196 KB at 224), is computed a shard at a time, in the shard's order,
 * and kept under {@code <FINGERSPELL_HOME>/layer3/<key>-<shard>.safetensors}, one file a shard: the
 * later epochs, and later runs with the same weights, data and preprocessing, read it back instead
 * of running the stages again (on the CPU an epoch after the first then takes 0.53-0.60 of the time
 * at 224; {@code fingerspell cache clear layer3} gets the space back).
 *
 * <p>Where the disk has no room, or a write fails, the shard's output is still computed the same
 * way and only not kept: a run's numbers do not depend on the cache.
 */
final class StageCache {
  /** The stages before this layer are cached. */
  static final int LAYER = 4;

  /** Channels of layer3's output. */
  private static final int CHANNELS = 256;

  /** A training shard's stage output, {@code [count, channels, side, side]}, and its labels. */
  record Maps(float[] values, long[] labels, int[] shape) {
    /** Images {@code order[from]} to {@code order[from + n - 1]}, one after another. */
    Tensor batch(int[] order, int from, int n) {
      int per = shape[1] * shape[2] * shape[3];
      float[] out = new float[n * per];
      for (int i = 0; i < n; i++) {
        System.arraycopy(values, order[from + i] * per, out, i * per, per);
      }
      return Tensor.of(out, n, shape[1], shape[2], shape[3]);
    }
  }

  /** Free space left on the cache's disk after all the shards are written. */
  private static final long HEADROOM = 2L << 30;

  private final Path dir;
  private final PreparedData data;
  private final Preprocess pre;

  /** The weights', data's and preprocessing's key, which each shard's file name begins with. */
  private final String setKey;

  private final long headroom;
  private boolean storing;

  /**
   * A cache of {@code data}'s training shards under {@code dir}; {@code weightsId} as {@link
   * FeatureCache#weightsId}.
   */
  StageCache(Path dir, String weightsId, PreparedData data, Preprocess pre) {
    this(dir, weightsId, data, pre, HEADROOM);
  }

  /** As above, keeping {@code headroom} bytes free (tests: a full disk). */
  StageCache(Path dir, String weightsId, PreparedData data, Preprocess pre, long headroom) {
    this.dir = dir;
    this.data = data;
    this.pre = pre;
    this.setKey = FeatureCache.key(weightsId, data, "train/layer" + (LAYER - 1), pre);
    this.headroom = headroom;
  }

  /** The bytes of all the training shards' files. */
  static long bytes(PreparedData data, Preprocess pre) {
    long side = (pre.size() + 15) / 16; // four stride-2 steps, each rounding up
    return 4L * CHANNELS * side * side * data.count("train");
  }

  /**
   * Decides whether shards are kept: not when the disk would keep less than 2 GB free. The cache
   * holds one set at a time (16 GB for the Kaggle set at 224): keeping this run's replaces any
   * other weights', data's or image size's, which costs a later run on those one epoch's stages,
   * what it would pay without the cache. Returns a line for the user.
   */
  String open() {
    long need = bytes(data, pre);
    long cached = 0;
    int present = 0;
    long others = 0;
    List<Path> otherSets = new ArrayList<>();
    long free;
    try {
      Files.createDirectories(dir);
      try (Stream<Path> files = Files.list(dir)) {
        for (Path f : (Iterable<Path>) files::iterator) {
          String name = f.getFileName().toString();
          if (!name.endsWith(".safetensors") || !Files.isRegularFile(f)) {
            continue; // a write under way has another name
          }
          if (name.startsWith(setKey + "-")) {
            cached += Files.size(f);
            present++;
          } else {
            otherSets.add(f);
            others += Files.size(f);
          }
        }
      }
      free = Files.getFileStore(dir).getUsableSpace();
    } catch (IOException | UncheckedIOException e) {
      storing = false;
      return "the frozen stages' output is not cached: " + IoErrors.describe(e);
    }
    String size = Folders.size(need);
    if (present == data.shardFiles("train").size()) {
      storing = true;
      return "the frozen stages before layer4 run from their cache (" + size + " in " + dir + ")";
    }
    storing = free + others - Math.max(0, need - cached) >= headroom;
    if (!storing) {
      return "the frozen stages' output is not cached: it needs "
          + Folders.size(Math.max(0, need - cached))
          + " more and "
          + dir
          + " has "
          + Folders.size(free + others)
          + " free (2 GB kept); each epoch runs them again (`fingerspell cache` shows what the"
          + " cache holds)";
    }
    for (Path f : otherSets) {
      try {
        Files.deleteIfExists(f);
      } catch (IOException e) {
        // another process may hold it; its space is then not regained
      }
    }
    return "the frozen stages before layer4 run once: their output is cached ("
        + size
        + " in "
        + dir
        + ") for the later epochs and runs"
        + (otherSets.isEmpty()
            ? ""
            : ", in place of the cache of other weights, data or image size ("
                + Folders.size(others)
                + ")");
  }

  /**
   * Shard {@code index}'s stage output, from the cache or computed now by {@code frozen} (and kept,
   * when there is room). Null when {@code stop} ended the computation.
   */
  Maps shard(int index, FrozenResNet18 frozen, BooleanSupplier stop) {
    Path file = file(index);
    if (Files.isRegularFile(file)) {
      try (SafetensorsFile f = SafetensorsFile.open(file)) {
        long[] labels = f.readLongs("labels");
        int[] shape = toInts(f.info("maps").shape());
        return new Maps(f.readFloats("maps"), labels, shape);
      } catch (SafetensorsException e) {
        // a damaged entry is computed again
      }
    }
    Maps computed = compute(data.shard("train", index), frozen, stop);
    if (computed != null && storing) {
      try {
        SafetensorsWriter.write(
            file,
            List.of(
                SafetensorsWriter.Entry.f32("maps", computed.shape(), computed.values()),
                SafetensorsWriter.Entry.i64(
                    "labels", new int[] {computed.labels().length}, computed.labels())),
            Map.of("shard", data.shardFiles("train").get(index), "layer", "layer3"));
      } catch (SafetensorsException e) {
        storing = false; // the disk filled up, say: the run goes on without the cache
      }
    }
    return computed;
  }

  /** The stages over a shard in its order, in inference batches. */
  private Maps compute(PreparedData.Shard shard, FrozenResNet18 frozen, BooleanSupplier stop) {
    float[] values = null;
    int[] shape = null;
    int batch = Batches.inferenceBatch();
    try (GradMode g = GradMode.noGrad()) {
      for (int from = 0; from < shard.count(); from += batch) {
        if (stop.getAsBoolean()) {
          return null;
        }
        int n = Math.min(batch, shard.count() - from);
        Tensor x = pre.batchFromRgb(shard.slice(from, from + n), n, shard.size(), shard.size());
        Tensor out = frozen.forwardThrough(x, LAYER - 1);
        if (values == null) {
          shape = out.shape().clone();
          shape[0] = shard.count();
          values = new float[shard.count() * shape[1] * shape[2] * shape[3]];
        }
        float[] part = out.toFloatArray();
        System.arraycopy(part, 0, values, from * (part.length / n), part.length);
      }
    }
    return new Maps(values, shard.labels(), shape);
  }

  private Path file(int index) {
    return dir.resolve(setKey + "-" + index + ".safetensors");
  }

  private static int[] toInts(long[] shape) {
    int[] out = new int[shape.length];
    for (int i = 0; i < shape.length; i++) {
      out[i] = Math.toIntExact(shape[i]);
    }
    return out;
  }
}
