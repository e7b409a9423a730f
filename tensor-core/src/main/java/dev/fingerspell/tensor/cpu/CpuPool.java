package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.ConvGeometry;

/** Max and global-average pooling, one (image, channel) plane per task. */
final class CpuPool {
  private CpuPool() {}

  /**
   * The flat index (within the plane) of the window's maximum; padded taps are skipped, so padding
   * never wins, and the first maximum in row-major order wins ties, as in PyTorch.
   */
  private static int argmax(ConvGeometry g, float[] x, int plane, int oy, int ox) {
    int h = g.inHeight();
    int w = g.inWidth();
    int y0 = oy * g.strideH() - g.padH();
    int x0 = ox * g.strideW() - g.padW();
    int y1 = Math.min(y0 + g.kernelH(), h);
    int x1 = Math.min(x0 + g.kernelW(), w);
    y0 = Math.max(y0, 0);
    x0 = Math.max(x0, 0);
    int best = y0 * w + x0;
    float max = Float.NEGATIVE_INFINITY;
    for (int iy = y0; iy < y1; iy++) {
      for (int ix = x0; ix < x1; ix++) {
        float v = x[plane + iy * w + ix];
        if (v > max || Float.isNaN(v)) {
          max = v;
          best = iy * w + ix;
          if (Float.isNaN(v)) {
            return best;
          }
        }
      }
    }
    return best;
  }

  static void maxForward(ConvGeometry g, float[] x, int xo, float[] y, int yo) {
    int inPlane = g.inHeight() * g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    Parallel.forRange(
        g.batch() * g.inChannels(),
        4,
        (lo, hi) -> {
          for (int p = lo; p < hi; p++) {
            int plane = xo + p * inPlane;
            int out = yo + p * oh * ow;
            for (int oy = 0; oy < oh; oy++) {
              for (int ox = 0; ox < ow; ox++) {
                y[out + oy * ow + ox] = x[plane + argmax(g, x, plane, oy, ox)];
              }
            }
          }
        });
  }

  static void maxBackward(
      ConvGeometry g, float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo) {
    int inPlane = g.inHeight() * g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    Parallel.forRange(
        g.batch() * g.inChannels(),
        4,
        (lo, hi) -> {
          for (int p = lo; p < hi; p++) {
            int plane = xo + p * inPlane;
            int gradPlane = dxo + p * inPlane;
            java.util.Arrays.fill(dx, gradPlane, gradPlane + inPlane, 0f);
            int out = dyo + p * oh * ow;
            for (int oy = 0; oy < oh; oy++) {
              for (int ox = 0; ox < ow; ox++) {
                dx[gradPlane + argmax(g, x, plane, oy, ox)] += dy[out + oy * ow + ox];
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
