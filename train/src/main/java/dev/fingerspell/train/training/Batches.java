package dev.fingerspell.train.training;

import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

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

  /** A {@code [N, 3, S, S]} batch; {@code augment} is null for none. */
  static Tensor of(List<byte[]> images, int storedSize, Preprocess pre, Rng augment) {
    List<byte[]> batch = images;
    if (augment != null) {
      batch = new ArrayList<>(images.size());
      for (byte[] img : images) {
        batch.add(augment(img, storedSize, augment));
      }
    }
    return pre.batchFromRgb(batch, storedSize, storedSize);
  }

  /**
   * A random shift of up to 1/16 of the side (edges repeated) and a brightness and contrast change
   * of up to ±20%: variations a hand photo has anyway, none that changes the sign.
   */
  static byte[] augment(byte[] chw, int size, Rng rng) {
    int max = Math.max(1, size / 16);
    int dx = rng.nextInt(2 * max + 1) - max;
    int dy = rng.nextInt(2 * max + 1) - max;
    float brightness = 0.8f + 0.4f * rng.nextFloat();
    float contrast = 0.8f + 0.4f * rng.nextFloat();
    byte[] out = new byte[chw.length];
    int plane = size * size;
    for (int c = 0; c < 3; c++) {
      for (int y = 0; y < size; y++) {
        int sy = Math.min(size - 1, Math.max(0, y - dy));
        for (int x = 0; x < size; x++) {
          int sx = Math.min(size - 1, Math.max(0, x - dx));
          float v = (chw[c * plane + sy * size + sx] & 0xff) / 255f;
          v = ((v - 0.5f) * contrast + 0.5f) * brightness;
          out[c * plane + y * size + x] = (byte) Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
        }
      }
    }
    return out;
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
