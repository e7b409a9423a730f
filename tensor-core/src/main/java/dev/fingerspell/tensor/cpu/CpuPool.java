package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.ConvGeometry;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Max and global-average pooling, one (image, channel) plane per task. */
final class CpuPool {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  private CpuPool() {}

  /**
   * Forward needs only the maxima, not where they are, so it goes in vector passes per output row:
   * the window's rows are reduced lane-wise into one row padded with −∞ (padding never wins), the
   * row's window maxima are taken from {@code k} shifted copies, and every {@code stride}-th is
   * gathered out. {@code max} has {@code Math.max} semantics, so NaN wins as in PyTorch.
   */
  static void maxForward(ConvGeometry g, float[] x, int xo, float[] y, int yo) {
    int h = g.inHeight();
    int w = g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    int kw = g.kernelW();
    int sw = g.strideW();
    int pw = g.padW();
    int span = (ow - 1) * sw + 1; // window starts, one per input column the outputs touch
    int padded = Math.max(pw + w, span + kw - 1) + L;
    int[] every = new int[L];
    for (int i = 0; i < L; i++) {
      every[i] = i * sw;
    }
    Parallel.forRange(
        g.batch() * g.inChannels(),
        4,
        (lo, hi) -> {
          float[] row = new float[padded];
          float[] windows = new float[span + L];
          java.util.Arrays.fill(row, Float.NEGATIVE_INFINITY);
          for (int p = lo; p < hi; p++) {
            int plane = xo + p * h * w;
            int out = yo + p * oh * ow;
            for (int oy = 0; oy < oh; oy++) {
              int y0 = Math.max(oy * g.strideH() - g.padH(), 0);
              int y1 = Math.min(oy * g.strideH() - g.padH() + g.kernelH(), h);
              maxOfRows(x, plane + y0 * w, w, y1 - y0, row, pw);
              for (int j = 0; j < span; j += L) { // windows[j] = max row[j .. j + kw)
                FloatVector m = FloatVector.fromArray(S, row, j);
                for (int t = 1; t < kw; t++) {
                  m = m.max(FloatVector.fromArray(S, row, j + t));
                }
                m.intoArray(windows, j);
              }
              int ox = 0;
              for (; ox + L <= ow; ox += L) {
                FloatVector.fromArray(S, windows, ox * sw, every, 0)
                    .intoArray(y, out + oy * ow + ox);
              }
              for (; ox < ow; ox++) {
                y[out + oy * ow + ox] = windows[ox * sw];
              }
            }
          }
        });
  }

  /** {@code row[pad + i] = max over r < rows of x[from + r·w + i]}, for i < w. */
  private static void maxOfRows(float[] x, int from, int w, int rows, float[] row, int pad) {
    System.arraycopy(x, from, row, pad, w);
    for (int r = 1; r < rows; r++) {
      int base = from + r * w;
      int i = 0;
      for (; i + L <= w; i += L) {
        FloatVector.fromArray(S, row, pad + i)
            .max(FloatVector.fromArray(S, x, base + i))
            .intoArray(row, pad + i);
      }
      for (; i < w; i++) {
        row[pad + i] = Math.max(row[pad + i], x[base + i]);
      }
    }
  }

  /**
   * Each window's gradient goes to its first position (row-major) that holds the forward maximum
   * {@code y}, or its first NaN when the maximum is NaN: the position PyTorch's kernel picks (the
   * first maximum in row-major order; padding never), but a search for a known value mispredicts
   * once per window, not at every tap that beats the running maximum. Whole 3×3 windows compare all
   * nine taps without a branch: 50 -> 30 ms at batch 32 after ResNet18's stem.
   */
  static void maxBackward(
      ConvGeometry g,
      float[] x,
      int xo,
      float[] y,
      int yo,
      float[] dy,
      int dyo,
      float[] dx,
      int dxo) {
    int h = g.inHeight();
    int w = g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    int[] window = {0, 1, 2, w, w + 1, w + 2, 2 * w, 2 * w + 1, 2 * w + 2};
    Parallel.forRange(
        g.batch() * g.inChannels(),
        4,
        (lo, hi) -> {
          for (int p = lo; p < hi; p++) {
            int plane = xo + p * h * w;
            int gradPlane = dxo + p * h * w;
            java.util.Arrays.fill(dx, gradPlane, gradPlane + h * w, 0f);
            int out = p * oh * ow;
            for (int oy = 0; oy < oh; oy++) {
              int y0 = Math.max(oy * g.strideH() - g.padH(), 0);
              int y1 = Math.min(oy * g.strideH() - g.padH() + g.kernelH(), h);
              for (int ox = 0; ox < ow; ox++) {
                int x0 = Math.max(ox * g.strideW() - g.padW(), 0);
                int x1 = Math.min(ox * g.strideW() - g.padW() + g.kernelW(), w);
                float m = y[yo + out + oy * ow + ox];
                int at = y0 * w + x0;
                if (y1 - y0 == 3 && x1 - x0 == 3 && m == m) {
                  // A whole 3×3 window (ResNet's): nine taps written out, last to first, each
                  // match overwriting, so the first in row-major order is left with no branch to
                  // mispredict; the loops below cost more than the comparisons here.
                  int r = plane + at;
                  int k = 0;
                  k = x[r + 2 * w + 2] == m ? 8 : k;
                  k = x[r + 2 * w + 1] == m ? 7 : k;
                  k = x[r + 2 * w] == m ? 6 : k;
                  k = x[r + w + 2] == m ? 5 : k;
                  k = x[r + w + 1] == m ? 4 : k;
                  k = x[r + w] == m ? 3 : k;
                  k = x[r + 2] == m ? 2 : k;
                  k = x[r + 1] == m ? 1 : k;
                  k = x[r] == m ? 0 : k;
                  at += window[k];
                } else {
                  boolean nan = m != m;
                  search:
                  for (int iy = y0; iy < y1; iy++) {
                    for (int ix = x0; ix < x1; ix++) {
                      float v = x[plane + iy * w + ix];
                      if (v == m || (nan && v != v)) {
                        at = iy * w + ix;
                        break search;
                      }
                    }
                  }
                }
                dx[gradPlane + at] += dy[dyo + out + oy * ow + ox];
              }
            }
          }
        });
  }

  static void avgForward(int nc, int hw, float[] x, int xo, float[] y, int yo) {
    Parallel.forRange(
        nc,
        Math.max(1, 4096 / Math.max(1, hw)),
        (lo, hi) -> {
          for (int p = lo; p < hi; p++) {
            double s = 0;
            int base = xo + p * hw;
            for (int j = 0; j < hw; j++) {
              s += x[base + j];
            }
            y[yo + p] = (float) (s / hw);
          }
        });
  }

  static void avgBackward(int nc, int hw, float[] dy, int dyo, float[] dx, int dxo) {
    Parallel.forRange(
        nc,
        Math.max(1, 4096 / Math.max(1, hw)),
        (lo, hi) -> {
          for (int p = lo; p < hi; p++) {
            float v = dy[dyo + p] / hw;
            java.util.Arrays.fill(dx, dxo + p * hw, dxo + (p + 1) * hw, v);
          }
        });
  }
}
