package dev.fingerspell.tensor;

/**
 * Float64 reference implementations of every op, written as the plainest loops over the
 * definitions. The tests compare the float32 kernels to these and differentiate these by finite
 * differences.
 */
public final class Reference {
  private Reference() {}

  /** Cross-correlation as PyTorch's conv2d; {@code b} may be null. */
  public static double[] conv2d(
      double[] x, int[] xs, double[] w, int[] ws, double[] b, int stride, int pad) {
    int n = xs[0];
    int c = xs[1];
    int h = xs[2];
    int wd = xs[3];
    int oc = ws[0];
    int kh = ws[2];
    int kw = ws[3];
    int oh = (h + 2 * pad - kh) / stride + 1;
    int ow = (wd + 2 * pad - kw) / stride + 1;
    double[] y = new double[n * oc * oh * ow];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < oc; o++) {
        for (int yy = 0; yy < oh; yy++) {
          for (int xx = 0; xx < ow; xx++) {
            double s = b == null ? 0 : b[o];
            for (int ch = 0; ch < c; ch++) {
              for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                  int iy = yy * stride - pad + ky;
                  int ix = xx * stride - pad + kx;
                  if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
                    s +=
                        x[((i * c + ch) * h + iy) * wd + ix]
                            * w[((o * c + ch) * kh + ky) * kw + kx];
                  }
                }
              }
            }
            y[((i * oc + o) * oh + yy) * ow + xx] = s;
          }
        }
      }
    }
    return y;
  }

  /** Batch norm with batch statistics (biased variance), per channel over N and HW. */
  public static double[] batchNormTrain(
      double[] x, int n, int c, int hw, double[] gamma, double[] beta, double eps) {
    double[] y = new double[x.length];
    for (int ch = 0; ch < c; ch++) {
      double mean = 0;
      for (int i = 0; i < n; i++) {
        for (int j = 0; j < hw; j++) {
          mean += x[(i * c + ch) * hw + j];
        }
      }
      mean /= (double) n * hw;
      double var = 0;
      for (int i = 0; i < n; i++) {
        for (int j = 0; j < hw; j++) {
          double d = x[(i * c + ch) * hw + j] - mean;
          var += d * d;
        }
      }
      var /= (double) n * hw;
      for (int i = 0; i < n; i++) {
        for (int j = 0; j < hw; j++) {
          int k = (i * c + ch) * hw + j;
          y[k] = (x[k] - mean) / Math.sqrt(var + eps) * gamma[ch] + beta[ch];
        }
      }
    }
    return y;
  }

  /** Batch norm with given statistics. */
  public static double[] batchNormEval(
      double[] x,
      int n,
      int c,
      int hw,
      double[] gamma,
      double[] beta,
      double[] mean,
      double[] var,
      double eps) {
    double[] y = new double[x.length];
    for (int i = 0; i < n; i++) {
      for (int ch = 0; ch < c; ch++) {
        for (int j = 0; j < hw; j++) {
          int k = (i * c + ch) * hw + j;
          y[k] = (x[k] - mean[ch]) / Math.sqrt(var[ch] + eps) * gamma[ch] + beta[ch];
        }
      }
    }
    return y;
  }

  /** Max over each window's in-bounds taps. */
  public static double[] maxPool2d(double[] x, int[] xs, int k, int stride, int pad) {
    int nc = xs[0] * xs[1];
    int h = xs[2];
    int w = xs[3];
    int oh = (h + 2 * pad - k) / stride + 1;
    int ow = (w + 2 * pad - k) / stride + 1;
    double[] y = new double[nc * oh * ow];
    for (int p = 0; p < nc; p++) {
      for (int yy = 0; yy < oh; yy++) {
        for (int xx = 0; xx < ow; xx++) {
          double m = Double.NEGATIVE_INFINITY;
          for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
              int iy = yy * stride - pad + ky;
              int ix = xx * stride - pad + kx;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
                m = Math.max(m, x[(p * h + iy) * w + ix]);
              }
            }
          }
          y[(p * oh + yy) * ow + xx] = m;
        }
      }
    }
    return y;
  }

  /** Mean over HW of each (n, c) plane. */
  public static double[] globalAvgPool(double[] x, int nc, int hw) {
    double[] y = new double[nc];
    for (int p = 0; p < nc; p++) {
      for (int j = 0; j < hw; j++) {
        y[p] += x[p * hw + j] / hw;
      }
    }
    return y;
  }

  /** {@code a [m, k] @ b [k, n]}. */
  public static double[] matmul(double[] a, double[] b, int m, int k, int n) {
    double[] c = new double[m * n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int p = 0; p < k; p++) {
          s += a[i * k + p] * b[p * n + j];
        }
        c[i * n + j] = s;
      }
    }
    return c;
  }

  /** {@code x [n, in] @ w[out, in]ᵀ + b}. */
  public static double[] linear(double[] x, double[] w, double[] b, int n, int in, int out) {
    double[] y = new double[n * out];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < out; o++) {
        double s = b == null ? 0 : b[o];
        for (int p = 0; p < in; p++) {
          s += x[i * in + p] * w[o * in + p];
        }
        y[i * out + o] = s;
      }
    }
    return y;
  }

  /** Row-wise log-softmax. */
  public static double[] logSoftmax(double[] x, int rows, int cols) {
    double[] y = new double[x.length];
    for (int r = 0; r < rows; r++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < cols; j++) {
        max = Math.max(max, x[r * cols + j]);
      }
      double s = 0;
      for (int j = 0; j < cols; j++) {
        s += Math.exp(x[r * cols + j] - max);
      }
      for (int j = 0; j < cols; j++) {
        y[r * cols + j] = x[r * cols + j] - max - Math.log(s);
      }
    }
    return y;
  }

  /** Row-wise softmax. */
  public static double[] softmax(double[] x, int rows, int cols) {
    double[] y = logSoftmax(x, rows, cols);
    for (int i = 0; i < y.length; i++) {
      y[i] = Math.exp(y[i]);
    }
    return y;
  }

  /** Mean cross-entropy with label smoothing over all classes. */
  public static double crossEntropy(
      double[] logits, long[] labels, int rows, int cols, double smoothing) {
    double[] lp = logSoftmax(logits, rows, cols);
    double total = 0;
    for (int r = 0; r < rows; r++) {
      double all = 0;
      for (int j = 0; j < cols; j++) {
        all += lp[r * cols + j];
      }
      total += -(1 - smoothing) * lp[r * cols + (int) labels[r]] - smoothing / cols * all;
    }
    return total / rows;
  }

  /** NumPy-broadcast {@code a + b}. */
  public static double[] add(double[] a, int[] as, double[] b, int[] bs) {
    int[] out = Shape.broadcast(as, bs);
    long[] sa = Shape.broadcastStrides(as, out);
    long[] sb = Shape.broadcastStrides(bs, out);
    double[] y = new double[(int) Shape.numel(out)];
    for (int i = 0; i < y.length; i++) {
      int rest = i;
      long ia = 0;
      long ib = 0;
      for (int d = out.length - 1; d >= 0; d--) {
        int idx = rest % out[d];
        rest /= out[d];
        ia += idx * sa[d];
        ib += idx * sb[d];
      }
      y[i] = a[(int) ia] + b[(int) ib];
    }
    return y;
  }
}
