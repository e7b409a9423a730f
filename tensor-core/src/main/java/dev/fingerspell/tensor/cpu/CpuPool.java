package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.ConvGeometry;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Max and global-average pooling, one (image, channel) plane per task. */
final class CpuPool {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  /** Lane indices 1, 3, 5, ...: the odd lanes of two vectors side by side. */
  private static final FloatVector ODD_LANES = CpuConv.EVEN_LANES.add(1f);

  private CpuPool() {}

  /**
   * Forward needs only the maxima, not where they are, so it goes in vector passes per output row:
   * the window's rows are reduced lane-wise into one row padded with −∞ (padding never wins), the
   * row's window maxima are taken from {@code k} shifted copies, and every {@code stride}-th is
   * gathered out; windows 3 wide at stride 2 (ResNet's) take their three taps straight from the
   * row, two pairs of loads split into even and odd lanes, with no gather. {@code max} has {@code
   * Math.max} semantics, so NaN wins as in PyTorch.
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
    boolean evenOdd = kw == 3 && sw == 2;
    // Long enough for the even-odd loads of a last, part-filled vector of outputs.
    int padded = Math.max(Math.max(pw + w, span + kw - 1), 2 * ow + 2) + 2 * L;
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
              if (evenOdd) {
                windowsEvenOdd(row, ow, y, out + oy * ow);
                continue;
              }
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

  /**
   * {@code y[at + ox] = max(row[2ox], row[2ox + 1], row[2ox + 2])} for ox < ow: a vector of outputs
   * from two pairs of loads, their even and odd lanes, a last part-filled vector stored masked.
   */
  private static void windowsEvenOdd(float[] row, int ow, float[] y, int at) {
    for (int ox = 0; ox < ow; ox += L) {
      int j = 2 * ox;
      FloatVector a = FloatVector.fromArray(S, row, j);
      FloatVector b = FloatVector.fromArray(S, row, j + L);
      FloatVector third =
          CpuConv.EVEN_LANES.selectFrom(
              FloatVector.fromArray(S, row, j + 2), FloatVector.fromArray(S, row, j + 2 + L));
      FloatVector m =
          CpuConv.EVEN_LANES.selectFrom(a, b).max(ODD_LANES.selectFrom(a, b)).max(third);
      if (ox + L <= ow) {
        m.intoArray(y, at + ox);
      } else {
        m.intoArray(y, at + ox, S.indexInRange(ox, ow));
      }
    }
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
   * first maximum in row-major order; padding never). A search for a known value compares every tap
   * and keeps the first match without a branch: after a ReLU about half the inputs are zeros that
   * tie, and branching on each match mispredicted so often that ResNet's pool took 65 ms at batch
   * 32. Windows of 3 taps across at stride 2 (ResNet's) go a vector of windows at a time ({@link
   * #firstMaxima}); the rest, and the edges, one at a time ({@link #firstMaximum}).
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
    int sw = g.strideW();
    int pw = g.padW();
    // Output columns whose windows lie wholly inside the row, where vectors of windows may run.
    int inFrom = (pw + sw - 1) / sw;
    int inTo = g.kernelW() == 3 && sw == 2 ? Math.max(inFrom, (w - 3 + pw) / sw + 1) : inFrom;
    Parallel.forRange(
        g.batch() * g.inChannels(),
        4,
        (lo, hi) -> {
          float[] places = new float[L];
          for (int p = lo; p < hi; p++) {
            int plane = xo + p * h * w;
            int gradPlane = dxo + p * h * w;
            java.util.Arrays.fill(dx, gradPlane, gradPlane + h * w, 0f);
            int out = p * oh * ow;
            for (int oy = 0; oy < oh; oy++) {
              int y0 = Math.max(oy * g.strideH() - g.padH(), 0);
              int y1 = Math.min(oy * g.strideH() - g.padH() + g.kernelH(), h);
              int outRow = out + oy * ow;
              int ox = 0;
              for (; ox < ow; ox++) {
                if (ox >= inFrom && ox + L <= inTo) {
                  int start = plane + y0 * w + ox * sw - pw;
                  if (firstMaxima(x, start, w, y1 - y0, y, yo + outRow + ox, places)) {
                    for (int i = 0; i < L; i++) {
                      dx[gradPlane + start - plane + 2 * i + (int) places[i]] +=
                          dy[dyo + outRow + ox + i];
                    }
                    ox += L - 1;
                    continue;
                  }
                }
                int x0 = Math.max(ox * sw - pw, 0);
                int x1 = Math.min(ox * sw - pw + g.kernelW(), w);
                int at = firstMaximum(x, plane, w, y0, y1, x0, x1, y[yo + outRow + ox]);
                dx[gradPlane + at] += dy[dyo + outRow + ox];
              }
            }
          }
        });
  }

  /**
   * Where in its plane window {@code [y0, y1) × [x0, x1)} first holds {@code m}, or its first NaN
   * when m is NaN. A whole 3×3 window compares all nine taps, last to first, each match
   * overwriting, so no branch depends on the data.
   */
  private static int firstMaximum(
      float[] x, int plane, int w, int y0, int y1, int x0, int x1, float m) {
    int at = y0 * w + x0;
    if (y1 - y0 == 3 && x1 - x0 == 3 && m == m) {
      int r = plane + at;
      int k = 0;
      k = x[r + 2 * w + 2] == m ? 2 * w + 2 : k;
      k = x[r + 2 * w + 1] == m ? 2 * w + 1 : k;
      k = x[r + 2 * w] == m ? 2 * w : k;
      k = x[r + w + 2] == m ? w + 2 : k;
      k = x[r + w + 1] == m ? w + 1 : k;
      k = x[r + w] == m ? w : k;
      k = x[r + 2] == m ? 2 : k;
      k = x[r + 1] == m ? 1 : k;
      k = x[r] == m ? 0 : k;
      return at + k;
    }
    boolean nan = m != m;
    for (int iy = y0; iy < y1; iy++) {
      for (int ix = x0; ix < x1; ix++) {
        float v = x[plane + iy * w + ix];
        if (v == m || (nan && v != v)) {
          return iy * w + ix;
        }
      }
    }
    return at;
  }

  /**
   * L windows of {@code rows} rows and 3 taps across at stride 2, window i's first tap at {@code
   * x[start + 2i]}: {@code places[i]} gets the offset from that tap of the window's first maximum
   * {@code y[at + i]}, {@code r·w + t}. A row's three taps of every window are two pairs of loads
   * split into even and odd lanes; comparisons last to first overwrite the offset where they match,
   * as {@link #firstMaximum} does one window at a time. Returns false, having written nothing,
   * where a maximum is NaN or the loads would pass the array's end.
   */
  private static boolean firstMaxima(
      float[] x, int start, int w, int rows, float[] y, int at, float[] places) {
    FloatVector m = FloatVector.fromArray(S, y, at);
    if (start + (rows - 1) * w + 2 * L + 2 > x.length
        || m.compare(VectorOperators.NE, m).anyTrue()) {
      return false;
    }
    FloatVector place = FloatVector.zero(S);
    for (int r = rows - 1; r >= 0; r--) {
      int row = start + r * w;
      FloatVector a = FloatVector.fromArray(S, x, row);
      FloatVector b = FloatVector.fromArray(S, x, row + L);
      FloatVector third =
          CpuConv.EVEN_LANES.selectFrom(
              FloatVector.fromArray(S, x, row + 2), FloatVector.fromArray(S, x, row + 2 + L));
      place = place.blend(r * w + 2, third.compare(VectorOperators.EQ, m));
      place = place.blend(r * w + 1, ODD_LANES.selectFrom(a, b).compare(VectorOperators.EQ, m));
      place =
          place.blend(r * w, CpuConv.EVEN_LANES.selectFrom(a, b).compare(VectorOperators.EQ, m));
    }
    place.intoArray(places, 0);
    return true;
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
