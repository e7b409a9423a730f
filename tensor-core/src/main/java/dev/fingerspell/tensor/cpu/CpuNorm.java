package dev.fingerspell.tensor.cpu;

/**
 * Batch normalisation over {@code [N, C, HW]}, one channel per task. Statistics accumulate in
 * double so that float32 results stay within rounding of a float64 reference.
 */
final class CpuNorm {
  private CpuNorm() {}

  static void forwardTraining(
      int n,
      int c,
      int hw,
      float[] x,
      int xo,
      float[] w,
      int wo,
      float[] b,
      int bo,
      float[] rm,
      int rmo,
      float[] rv,
      int rvo,
      float momentum,
      float eps,
      float[] y,
      int yo,
      float[] saveMean,
      int smo,
      float[] saveInvStd,
      int sio) {
    long count = (long) n * hw;
    Parallel.forRange(
        c,
        1,
        (lo, hi) -> {
          for (int ch = lo; ch < hi; ch++) {
            double sum = 0;
            for (int i = 0; i < n; i++) {
              int base = xo + (i * c + ch) * hw;
              for (int j = 0; j < hw; j++) {
                sum += x[base + j];
              }
            }
            double mean = sum / count;
            double sq = 0;
            for (int i = 0; i < n; i++) {
              int base = xo + (i * c + ch) * hw;
              for (int j = 0; j < hw; j++) {
                double d = x[base + j] - mean;
                sq += d * d;
              }
            }
            double var = sq / count;
            double invStd = 1.0 / Math.sqrt(var + eps);
            saveMean[smo + ch] = (float) mean;
            saveInvStd[sio + ch] = (float) invStd;
            double scale = w[wo + ch] * invStd;
            double shift = b[bo + ch] - mean * scale;
            for (int i = 0; i < n; i++) {
              int off = (i * c + ch) * hw;
              for (int j = 0; j < hw; j++) {
                y[yo + off + j] = (float) (x[xo + off + j] * scale + shift);
              }
            }
            if (rm != null) {
              rm[rmo + ch] = (float) ((1 - momentum) * rm[rmo + ch] + momentum * mean);
            }
            if (rv != null) {
              double unbiased = count > 1 ? sq / (count - 1) : var;
              rv[rvo + ch] = (float) ((1 - momentum) * rv[rvo + ch] + momentum * unbiased);
            }
          }
        });
  }

  static void forwardInference(
      int n,
      int c,
      int hw,
      float[] x,
      int xo,
      float[] w,
      int wo,
      float[] b,
      int bo,
      float[] mean,
      int mo,
      float[] var,
      int vo,
      float eps,
      float[] y,
      int yo) {
    Parallel.forRange(
        n * c,
        Math.max(1, 4096 / Math.max(1, hw)),
        (lo, hi) -> {
          for (int plane = lo; plane < hi; plane++) {
            int ch = plane % c;
            double invStd = 1.0 / Math.sqrt(var[vo + ch] + (double) eps);
            float scale = (float) (w[wo + ch] * invStd);
            float shift = (float) (b[bo + ch] - mean[mo + ch] * (w[wo + ch] * invStd));
            int off = plane * hw;
            for (int j = 0; j < hw; j++) {
              y[yo + off + j] = x[xo + off + j] * scale + shift;
            }
          }
        });
  }

  /**
   * Backward with per-channel {@code mean} and {@code invStd}; {@code batchStats} adds the terms
   * that flow through the batch statistics (training mode).
   */
  static void backward(
      boolean batchStats,
      int n,
      int c,
      int hw,
      float[] x,
      int xo,
      float[] dy,
      int dyo,
      float[] w,
      int wo,
      float[] meanArr,
      int mo,
      float[] invStdArr,
      int io,
      float[] dx,
      int dxo,
      float[] dw,
      int dwo,
      float[] db,
      int dbo) {
    long count = (long) n * hw;
    Parallel.forRange(
        c,
        1,
        (lo, hi) -> {
          for (int ch = lo; ch < hi; ch++) {
            double mean = meanArr[mo + ch];
            double invStd = invStdArr[io + ch];
            double sumDy = 0;
            double sumDyXhat = 0;
            for (int i = 0; i < n; i++) {
              int off = (i * c + ch) * hw;
              for (int j = 0; j < hw; j++) {
                double g = dy[dyo + off + j];
                sumDy += g;
                sumDyXhat += g * (x[xo + off + j] - mean) * invStd;
              }
            }
            if (db != null) {
              db[dbo + ch] = (float) sumDy;
            }
            if (dw != null) {
              dw[dwo + ch] = (float) sumDyXhat;
            }
            if (dx == null) {
              continue;
            }
            double k = w[wo + ch] * invStd;
            double meanDy = batchStats ? sumDy / count : 0;
            double meanDyXhat = batchStats ? sumDyXhat / count : 0;
            for (int i = 0; i < n; i++) {
              int off = (i * c + ch) * hw;
              for (int j = 0; j < hw; j++) {
                double xhat = (x[xo + off + j] - mean) * invStd;
                dx[dxo + off + j] = (float) (k * (dy[dyo + off + j] - meanDy - xhat * meanDyXhat));
              }
            }
          }
        });
  }
}
