package dev.fingerspell.train.training;

import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.train.data.PreparedData;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.IntUnaryOperator;

/** Model inputs from stored 8-bit images: augmentation (optional), then preprocessing. */
final class Batches {
  private Batches() {}

  /**
   * Images per forward pass where nothing trains (feature cache, evaluation): on the CPU 32, since
   * a 224×224 batch of 64 alone needs over 1 GB of activations and a larger one runs no faster; on
   * a GPU 256, which a small batch leaves mostly idle between kernel launches.
   */
  static int inferenceBatch() {
    return Backends.defaultDevice().type() == Device.Type.CPU ? 32 : 256;
  }

  /**
   * A {@code [N, 3, S, S]} batch from a stored batch, read where its shard holds it unless
   * augmented; {@code augment} is null for none. Written into {@code reuse} where it fits ({@link
   * Preprocess#batchFromRgb(MemorySegment, int, int, int, Tensor)}); null for a new tensor.
   */
  static Tensor of(PreparedData.Batch b, Preprocess pre, Rng augment, Tensor reuse) {
    MemorySegment batch =
        augment == null ? b.bytes() : augmented(b.bytes(), i -> i, b.count(), b.size(), augment);
    return pre.batchFromRgb(batch, b.count(), b.size(), b.size(), reuse);
  }

  /**
   * A batch of images {@code order[from]} to {@code order[from + n - 1]} of {@code shard}, for
   * training on shuffled images: gathered into one array, or, when augmented, augmented straight
   * from where the shard holds them (one pass over the bytes, not a copy and then a pass).
   */
  static Tensor of(
      PreparedData.Shard shard, int[] order, int from, int n, Preprocess pre, Rng augment) {
    MemorySegment batch =
        augment == null
            ? MemorySegment.ofArray(shard.gather(order, from, n))
            : augmented(shard.images(), i -> order[from + i], n, shard.size(), augment);
    return pre.batchFromRgb(batch, n, shard.size(), shard.size());
  }

  /**
   * Images {@code row(0)} to {@code row(n - 1)} of {@code src}, each augmented, one after another.
   */
  private static MemorySegment augmented(
      MemorySegment src, IntUnaryOperator row, int n, int size, Rng rng) {
    int per = 3 * size * size;
    byte[] out = new byte[n * per];
    for (int i = 0; i < n; i++) {
      augment(src, (long) row.applyAsInt(i) * per, size, rng, out, i * per);
    }
    return MemorySegment.ofArray(out);
  }

  /**
   * A random shift of up to 1/16 of the side (edges repeated) and a brightness and contrast change
   * of up to ±20%: variations a hand photo has anyway, none that changes the sign. Reads the image
   * at byte {@code from} of {@code src}, writes it at {@code at} of {@code out}.
   */
  static void augment(MemorySegment src, long from, int size, Rng rng, byte[] out, int at) {
    int max = Math.max(1, size / 16);
    int dx = rng.nextInt(2 * max + 1) - max;
    int dy = rng.nextInt(2 * max + 1) - max;
    float brightness = 0.8f + 0.4f * rng.nextFloat();
    float contrast = 0.8f + 0.4f * rng.nextFloat();
    int plane = size * size;
    for (int c = 0; c < 3; c++) {
      for (int y = 0; y < size; y++) {
        int sy = Math.min(size - 1, Math.max(0, y - dy));
        for (int x = 0; x < size; x++) {
          int sx = Math.min(size - 1, Math.max(0, x - dx));
          int stored = src.get(ValueLayout.JAVA_BYTE, from + c * plane + sy * size + sx) & 0xff;
          float v = stored / 255f;
          v = ((v - 0.5f) * contrast + 0.5f) * brightness;
          out[at + c * plane + y * size + x] =
              (byte) Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
        }
      }
    }
  }

  /** A permutation of {@code [0, n)} drawn from {@code rng} (Fisher-Yates). */
  static int[] permutation(int n, Rng rng) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) {
      p[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** The index of each row's largest value. */
  static int[] argmax(float[] logits, int rows, int cols) {
    int[] out = new int[rows];
    for (int r = 0; r < rows; r++) {
      int best = 0;
      for (int c = 1; c < cols; c++) {
        if (logits[r * cols + c] > logits[r * cols + best]) {
          best = c;
        }
      }
      out[r] = best;
    }
    return out;
  }
}
