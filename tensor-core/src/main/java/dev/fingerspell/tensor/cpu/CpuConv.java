package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.ConvGeometry;

/**
 * Convolution on the CPU as im2col + GEMM over groups of images (one image when its output is
 * large, several side by side in one column matrix when it is small). With at least as many groups
 * as workers, each worker takes whole groups and runs its products serially; with fewer (batch 1
 * latency), groups run in turn and each product is split over the workers instead.
 *
 * <p>Layouts, per image: {@code x [C, H, W]}, {@code w [OC, C*KH*KW]}, the column matrix {@code col
 * [C*KH*KW, OH*OW]} (one row per kernel tap), {@code y [OC, OH*OW]}; so {@code y = w × col}.
 */
final class CpuConv {
  private CpuConv() {}

  /**
   * Per-thread scratch arrays, reused across calls: a column matrix is megabytes (7 MB for one
   * 56×56 image of a 3×3 64-channel layer), and allocating one per image costs more than it
   * computes. Every user overwrites the whole prefix it asks for, so nothing is cleared.
   */
  private static final ThreadLocal<float[][]> SCRATCH =
      ThreadLocal.withInitial(() -> new float[3][]);

  private static float[] scratch(int slot, int size) {
    float[][] s = SCRATCH.get();
    if (s[slot] == null || s[slot].length < size) {
      s[slot] = new float[size];
    }
    return s[slot];
  }

  /**
   * {@code count} images' {@code [OC, OHW]} planes, stored image after image, rewritten channel
   * after channel ({@code [OC, count·OHW]}): the layout a group's product reads. Returns {@code
   * dst}.
   */
  private static float[] groupMajor(
      float[] src, int srcOff, int count, int oc, int ohw, float[] dst) {
    for (int i = 0; i < count; i++) {
      for (int o = 0; o < oc; o++) {
        System.arraycopy(src, srcOff + (i * oc + o) * ohw, dst, (o * count + i) * ohw, ohw);
      }
    }
    return dst;
  }

  /** The inverse of {@link #groupMajor}: a group's {@code [OC, count·OHW]} back to images. */
  private static void imageMajor(float[] src, int count, int oc, int ohw, float[] dst, int dstOff) {
    for (int i = 0; i < count; i++) {
      for (int o = 0; o < oc; o++) {
        System.arraycopy(src, (o * count + i) * ohw, dst, dstOff + (i * oc + o) * ohw, ohw);
      }
    }
  }

  private static boolean isPointwise(ConvGeometry g) {
    return g.kernelH() == 1
        && g.kernelW() == 1
        && g.strideH() == 1
        && g.strideW() == 1
        && g.padH() == 0
        && g.padW() == 0;
  }

  /**
   * How many images share one column matrix: enough that a product has at least 256 columns, so the
   * late, spatially small layers (7×7, 2×2) still feed the GEMM wide panels.
   */
  static int groupSize(ConvGeometry g) {
    int ohw = g.outHeight() * g.outWidth();
    return Math.max(1, Math.min(g.batch(), (256 + ohw - 1) / ohw));
  }

  /**
   * Runs {@code body} over groups of images: whole groups per worker when there are enough, else
   * one group at a time with the products split over the workers ({@code parallelInside}).
   */
  private interface GroupBody {
    void run(int first, int count, boolean parallelInside);
  }

  private static void forGroups(ConvGeometry g, GroupBody body) {
    int size = groupSize(g);
    int groups = (g.batch() + size - 1) / size;
    if (groups >= Parallel.threads()) {
      Parallel.forRange(
          groups,
          1,
          (lo, hi) -> {
            for (int k = lo; k < hi; k++) {
              body.run(k * size, Math.min(size, g.batch() - k * size), false);
            }
          });
    } else {
      for (int k = 0; k < groups; k++) {
        body.run(k * size, Math.min(size, g.batch() - k * size), true);
      }
    }
  }

  static void forward(
      ConvGeometry g,
      float[] x,
      int xOff,
      float[] w,
      int wOff,
      float[] bias,
      int biasOff,
      float[] y,
      int yOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = oc * ohw;
    forGroups(
        g,
        (first, count, parallelInside) -> {
          if (count == 1) {
            float[] src = x; // a pointwise convolution's image is its own column matrix
            int srcOff = xOff + first * inImage;
            if (!isPointwise(g)) {
              src = scratch(0, ckk * ohw);
              srcOff = 0;
              if (parallelInside) {
                im2colParallel(g, x, xOff + first * inImage, src, 0, ohw);
              } else {
                im2col(g, x, xOff + first * inImage, src, 0, ohw);
              }
            }
            CpuGemm.gemm(
                false,
                false,
                oc,
                ohw,
                ckk,
                1f,
                w,
                wOff,
                src,
                srcOff,
                0f,
                y,
                yOff + first * outImage,
                parallelInside);
          } else {
            int cols = count * ohw;
            float[] col = scratch(0, ckk * cols);
            for (int i = 0; i < count; i++) {
              im2col(g, x, xOff + (first + i) * inImage, col, i * ohw, cols);
            }
            float[] out = scratch(1, oc * cols);
            CpuGemm.gemm(
                false, false, oc, cols, ckk, 1f, w, wOff, col, 0, 0f, out, 0, parallelInside);
            imageMajor(out, count, oc, ohw, y, yOff + first * outImage);
          }
          if (bias != null) {
            for (int i = first; i < first + count; i++) {
              for (int o = 0; o < oc; o++) {
                float bv = bias[biasOff + o];
                int base = yOff + i * outImage + o * ohw;
                for (int k = 0; k < ohw; k++) {
                  y[base + k] += bv;
                }
              }
            }
          }
        });
  }

  static void backwardData(
      ConvGeometry g, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = oc * ohw;
    float[] wt = CpuGemm.transpose(w, wOff, oc, ckk); // [CKK, OC], once
    forGroups(
        g,
        (first, count, parallelInside) -> {
          if (count == 1 && isPointwise(g)) {
            CpuGemm.gemm(
                false,
                false,
                ckk,
                ohw,
                oc,
                1f,
                wt,
                0,
                dy,
                dyOff + first * outImage,
                0f,
                dx,
                dxOff + first * inImage,
                parallelInside);
            return;
          }
          int cols = count * ohw;
          float[] dyG =
              groupMajor(dy, dyOff + first * outImage, count, oc, ohw, scratch(1, oc * cols));
          float[] col = scratch(0, ckk * cols);
          CpuGemm.gemm(false, false, ckk, cols, oc, 1f, wt, 0, dyG, 0, 0f, col, 0, parallelInside);
          for (int i = 0; i < count; i++) {
            int dxo = dxOff + (first + i) * inImage;
            java.util.Arrays.fill(dx, dxo, dxo + inImage, 0f);
            col2im(g, col, i * ohw, cols, dx, dxo);
          }
        });
  }

  /** {@code dw = sum over images of dy[n] × colᵀ}; per-group partial sums, then reduced. */
  static void backwardFilter(
      ConvGeometry g,
      float[] x,
      int xOff,
      float[] dy,
      int dyOff,
      float[] dw,
      int dwOff,
      float[] dbias,
      int dbiasOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int oc = g.outChannels();
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = oc * ohw;
    int size = groupSize(g);
    int groups = (g.batch() + size - 1) / size;
    int parts = Math.min(groups, Parallel.threads());
    float[][] partial = new float[parts][];
    boolean parallelInside = parts == 1;
    Parallel.forRange(
        parts,
        1,
        (pLo, pHi) -> {
          for (int p = pLo; p < pHi; p++) {
            float[] acc = new float[oc * ckk];
            int from = (int) ((long) groups * p / parts);
            int to = (int) ((long) groups * (p + 1) / parts);
            for (int k = from; k < to; k++) {
              int first = k * size;
              int count = Math.min(size, g.batch() - first);
              int rows = count * ohw;
              float[] colT = scratch(0, rows * ckk);
              for (int i = 0; i < count; i++) {
                im2colTransposed(g, x, xOff + (first + i) * inImage, colT, i * ohw * ckk);
              }
              float[] dyG =
                  groupMajor(dy, dyOff + first * outImage, count, oc, ohw, scratch(1, oc * rows));
              CpuGemm.gemm(
                  false, false, oc, ckk, rows, 1f, dyG, 0, colT, 0, 1f, acc, 0, parallelInside);
            }
            partial[p] = acc;
          }
        });
    for (int i = 0; i < oc * ckk; i++) {
      float s = 0f;
      for (float[] part : partial) {
        s += part[i];
      }
      dw[dwOff + i] = s;
    }
    if (dbias != null) {
      for (int c = 0; c < oc; c++) {
        double s = 0;
        for (int n = 0; n < g.batch(); n++) {
          int base = dyOff + n * outImage + c * ohw;
          for (int i = 0; i < ohw; i++) {
            s += dy[base + i];
          }
        }
        dbias[dbiasOff + c] = (float) s;
      }
    }
  }

  /**
   * One image's column matrix {@code [C*KH*KW, OH*OW]}, written at column {@code colOff} of a
   * matrix whose rows are {@code ld} long; taps that fall in the padding are 0.
   */
  static void im2col(ConvGeometry g, float[] x, int xOff, float[] col, int colOff, int ld) {
    im2colRows(g, x, xOff, col, colOff, ld, 0, g.inChannels() * g.kernelH() * g.kernelW());
  }

  /** {@link #im2col} with its rows (kernel taps) split over the workers, for one large image. */
  static void im2colParallel(ConvGeometry g, float[] x, int xOff, float[] col, int colOff, int ld) {
    Parallel.forRange(
        g.inChannels() * g.kernelH() * g.kernelW(),
        4,
        (lo, hi) -> im2colRows(g, x, xOff, col, colOff, ld, lo, hi));
  }

  /** Rows {@code [from, to)} of the column matrix; row {@code (c·KH + kh)·KW + kw} is one tap. */
  private static void im2colRows(
      ConvGeometry g, float[] x, int xOff, float[] col, int colOff, int ld, int from, int to) {
    int h = g.inHeight();
    int w = g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    int kk = g.kernelH() * g.kernelW();
    for (int row = from; row < to; row++) {
      int c = row / kk;
      int kh = row % kk / g.kernelW();
      int kw = row % g.kernelW();
      int plane = xOff + c * h * w;
      int base = row * ld + colOff;
      for (int y = 0; y < oh; y++) {
        int ih = y * g.strideH() - g.padH() + kh;
        int dst = base + y * ow;
        if (ih < 0 || ih >= h) {
          java.util.Arrays.fill(col, dst, dst + ow, 0f);
          continue;
        }
        int src = plane + ih * w;
        for (int xo = 0; xo < ow; xo++) {
          int iw = xo * g.strideW() - g.padW() + kw;
          col[dst + xo] = iw >= 0 && iw < w ? x[src + iw] : 0f;
        }
      }
    }
  }

  /** Adds a column matrix back into an image: the adjoint of {@link #im2col}. */
  static void col2im(ConvGeometry g, float[] col, int colOff, int ld, float[] x, int xOff) {
    int h = g.inHeight();
    int w = g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    int row = 0;
    for (int c = 0; c < g.inChannels(); c++) {
      int plane = xOff + c * h * w;
      for (int kh = 0; kh < g.kernelH(); kh++) {
        for (int kw = 0; kw < g.kernelW(); kw++, row++) {
          int base = row * ld + colOff;
          for (int y = 0; y < oh; y++) {
            int ih = y * g.strideH() - g.padH() + kh;
            if (ih < 0 || ih >= h) {
              continue;
            }
            int src = base + y * ow;
            int dst = plane + ih * w;
            for (int xo = 0; xo < ow; xo++) {
              int iw = xo * g.strideW() - g.padW() + kw;
              if (iw >= 0 && iw < w) {
                x[dst + iw] += col[src + xo];
              }
            }
          }
        }
      }
    }
  }

  /**
   * The transposed column matrix {@code [OH*OW, C*KH*KW]} at {@code dstOff}, for the filter
   * gradient.
   */
  static void im2colTransposed(ConvGeometry g, float[] x, int xOff, float[] colT, int dstOff) {
    int h = g.inHeight();
    int w = g.inWidth();
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int kk = g.kernelH() * g.kernelW();
    int ow = g.outWidth();
    for (int y = 0; y < g.outHeight(); y++) {
      for (int xo = 0; xo < ow; xo++) {
        int dst = dstOff + (y * ow + xo) * ckk;
        for (int kh = 0; kh < g.kernelH(); kh++) {
          int ih = y * g.strideH() - g.padH() + kh;
          for (int kw = 0; kw < g.kernelW(); kw++) {
            int iw = xo * g.strideW() - g.padW() + kw;
            boolean inside = ih >= 0 && ih < h && iw >= 0 && iw < w;
            int tap = kh * g.kernelW() + kw;
            for (int c = 0; c < g.inChannels(); c++) {
              colT[dst + c * kk + tap] = inside ? x[xOff + (c * h + ih) * w + iw] : 0f;
            }
          }
        }
      }
    }
  }
}
