package dev.fingerspell.tensor.cpu;

import dev.fingerspell.tensor.ConvGeometry;

/**
 * Convolution on the CPU as im2col + GEMM, one image at a time. With at least as many images as
 * workers, each worker takes whole images and runs its products serially; with fewer (batch 1
 * latency), images run in turn and each product is split over the workers instead.
 *
 * <p>Layouts, per image: {@code x [C, H, W]}, {@code w [OC, C*KH*KW]}, the column matrix {@code col
 * [C*KH*KW, OH*OW]} (one row per kernel tap), {@code y [OC, OH*OW]}; so {@code y = w × col}.
 */
final class CpuConv {
  private CpuConv() {}

  private static boolean isPointwise(ConvGeometry g) {
    return g.kernelH() == 1
        && g.kernelW() == 1
        && g.strideH() == 1
        && g.strideW() == 1
        && g.padH() == 0
        && g.padW() == 0;
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
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = g.outChannels() * ohw;
    boolean perImage = g.batch() >= Parallel.threads();
    Parallel.Range images =
        (lo, hi) -> {
          float[] col = isPointwise(g) ? null : new float[ckk * ohw];
          for (int n = lo; n < hi; n++) {
            float[] src = x;
            int srcOff = xOff + n * inImage;
            if (col != null) {
              im2col(g, x, srcOff, col);
              src = col;
              srcOff = 0;
            }
            int yo = yOff + n * outImage;
            CpuGemm.gemm(
                false,
                false,
                g.outChannels(),
                ohw,
                ckk,
                1f,
                w,
                wOff,
                src,
                srcOff,
                0f,
                y,
                yo,
                !perImage);
            if (bias != null) {
              for (int oc = 0; oc < g.outChannels(); oc++) {
                float bv = bias[biasOff + oc];
                int base = yo + oc * ohw;
                for (int i = 0; i < ohw; i++) {
                  y[base + i] += bv;
                }
              }
            }
          }
        };
    if (perImage) {
      Parallel.forRange(g.batch(), 1, images);
    } else {
      images.run(0, g.batch());
    }
  }

  static void backwardData(
      ConvGeometry g, float[] dy, int dyOff, float[] w, int wOff, float[] dx, int dxOff) {
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int ohw = g.outHeight() * g.outWidth();
    int inImage = g.inChannels() * g.inHeight() * g.inWidth();
    int outImage = g.outChannels() * ohw;
    float[] wt = CpuGemm.transpose(w, wOff, g.outChannels(), ckk); // [CKK, OC], once
    boolean perImage = g.batch() >= Parallel.threads();
    Parallel.Range images =
        (lo, hi) -> {
          float[] col = isPointwise(g) ? null : new float[ckk * ohw];
          for (int n = lo; n < hi; n++) {
            int dxo = dxOff + n * inImage;
            int dyo = dyOff + n * outImage;
            if (col == null) {
              CpuGemm.gemm(
                  false,
                  false,
                  ckk,
                  ohw,
                  g.outChannels(),
                  1f,
                  wt,
                  0,
                  dy,
                  dyo,
                  0f,
                  dx,
                  dxo,
                  !perImage);
            } else {
              CpuGemm.gemm(
                  false,
                  false,
                  ckk,
                  ohw,
                  g.outChannels(),
                  1f,
                  wt,
                  0,
                  dy,
                  dyo,
                  0f,
                  col,
                  0,
                  !perImage);
              java.util.Arrays.fill(dx, dxo, dxo + inImage, 0f);
              col2im(g, col, dx, dxo);
            }
          }
        };
    if (perImage) {
      Parallel.forRange(g.batch(), 1, images);
    } else {
      images.run(0, g.batch());
    }
  }

  /** {@code dw = sum over images of dy[n] × colᵀ}; per-worker partial sums, then reduced. */
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
    int parts = Math.min(g.batch(), Parallel.threads());
    float[][] partial = new float[parts][];
    boolean perImage = parts > 1;
    Parallel.forRange(
        parts,
        1,
        (pLo, pHi) -> {
          for (int p = pLo; p < pHi; p++) {
            float[] acc = new float[oc * ckk];
            float[] colT = new float[ohw * ckk];
            int from = (int) ((long) g.batch() * p / parts);
            int to = (int) ((long) g.batch() * (p + 1) / parts);
            for (int n = from; n < to; n++) {
              im2colTransposed(g, x, xOff + n * inImage, colT);
              CpuGemm.gemm(
                  false,
                  false,
                  oc,
                  ckk,
                  ohw,
                  1f,
                  dy,
                  dyOff + n * outImage,
                  colT,
                  0,
                  1f,
                  acc,
                  0,
                  !perImage);
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

  /** One image's column matrix {@code [C*KH*KW, OH*OW]}; taps that fall in the padding are 0. */
  static void im2col(ConvGeometry g, float[] x, int xOff, float[] col) {
    int h = g.inHeight();
    int w = g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    int row = 0;
    for (int c = 0; c < g.inChannels(); c++) {
      int plane = xOff + c * h * w;
      for (int kh = 0; kh < g.kernelH(); kh++) {
        for (int kw = 0; kw < g.kernelW(); kw++, row++) {
          int base = row * oh * ow;
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
    }
  }

  /** Adds a column matrix back into an image: the adjoint of {@link #im2col}. */
  static void col2im(ConvGeometry g, float[] col, float[] x, int xOff) {
    int h = g.inHeight();
    int w = g.inWidth();
    int oh = g.outHeight();
    int ow = g.outWidth();
    int row = 0;
    for (int c = 0; c < g.inChannels(); c++) {
      int plane = xOff + c * h * w;
      for (int kh = 0; kh < g.kernelH(); kh++) {
        for (int kw = 0; kw < g.kernelW(); kw++, row++) {
          int base = row * oh * ow;
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

  /** The transposed column matrix {@code [OH*OW, C*KH*KW]}, for the filter gradient. */
  static void im2colTransposed(ConvGeometry g, float[] x, int xOff, float[] colT) {
    int h = g.inHeight();
    int w = g.inWidth();
    int ckk = g.inChannels() * g.kernelH() * g.kernelW();
    int kk = g.kernelH() * g.kernelW();
    int ow = g.outWidth();
    for (int y = 0; y < g.outHeight(); y++) {
      for (int xo = 0; xo < ow; xo++) {
        int dst = (y * ow + xo) * ckk;
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
