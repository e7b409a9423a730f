package dev.fingerspell.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Batch normalisation over {@code [N, C, HW]}, one channel per task. Statistics accumulate in
 * double so that float32 results stay within rounding of a float64 reference.
 */
final class CpuNorm {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  private CpuNorm() {}

  // Plane reductions run in four float vectors (each lane sums len/64 values) and are added into
  // the channel's double total per plane: float rounding stays far inside the 1e-4 contract and
  // the loop is not one long chain of dependent double adds.

  /** The sum of {@code a[off .. off+len)}. */
  static double sum(float[] a, int off, int len) {
    FloatVector s0 = FloatVector.zero(S);
    FloatVector s1 = s0;
    FloatVector s2 = s0;
    FloatVector s3 = s0;
    int i = 0;
    for (; i + 4 * L <= len; i += 4 * L) {
      s0 = s0.add(FloatVector.fromArray(S, a, off + i));
      s1 = s1.add(FloatVector.fromArray(S, a, off + i + L));
      s2 = s2.add(FloatVector.fromArray(S, a, off + i + 2 * L));
      s3 = s3.add(FloatVector.fromArray(S, a, off + i + 3 * L));
    }
    double s = VectorMath.sumLanes(s0.add(s1).add(s2.add(s3)));
    for (; i < len; i++) {
      s += a[off + i];
    }
    return s;
  }

  /** {@code Σ (a − mean)²} over {@code a[off .. off+len)}. */
  private static double squaredDeviations(float[] a, int off, int len, float mean) {
    FloatVector m = FloatVector.broadcast(S, mean);
    FloatVector s0 = FloatVector.zero(S);
    FloatVector s1 = s0;
    int i = 0;
    for (; i + 2 * L <= len; i += 2 * L) {
      FloatVector d0 = FloatVector.fromArray(S, a, off + i).sub(m);
      FloatVector d1 = FloatVector.fromArray(S, a, off + i + L).sub(m);
      s0 = d0.fma(d0, s0);
      s1 = d1.fma(d1, s1);
    }
    double s = VectorMath.sumLanes(s0.add(s1));
    for (; i < len; i++) {
      double d = a[off + i] - mean;
      s += d * d;
    }
    return s;
  }

  /** {@code Σ g · (x − mean)}. */
  private static double dotDeviations(float[] g, int go, float[] x, int xo, int len, float mean) {
    FloatVector m = FloatVector.broadcast(S, mean);
    FloatVector s0 = FloatVector.zero(S);
    FloatVector s1 = s0;
    int i = 0;
    for (; i + 2 * L <= len; i += 2 * L) {
      s0 = FloatVector.fromArray(S, x, xo + i).sub(m).fma(FloatVector.fromArray(S, g, go + i), s0);
      s1 =
          FloatVector.fromArray(S, x, xo + i + L)
              .sub(m)
              .fma(FloatVector.fromArray(S, g, go + i + L), s1);
    }
    double s = VectorMath.sumLanes(s0.add(s1));
    for (; i < len; i++) {
      s += (double) g[go + i] * (x[xo + i] - mean);
    }
    return s;
  }

  /** {@code out = x·a + g·b + c} ({@code g} may be null), over {@code len} values. */
  private static void affine(
      float[] x,
      int xo,
      float a,
      float[] g,
      int go,
      float b,
      float c,
      float[] out,
      int oo,
      int len) {
    FloatVector av = FloatVector.broadcast(S, a);
    FloatVector bv = FloatVector.broadcast(S, b);
    FloatVector cv = FloatVector.broadcast(S, c);
    int i = 0;
    for (; i + L <= len; i += L) {
      FloatVector v = FloatVector.fromArray(S, x, xo + i).fma(av, cv);
      if (g != null) {
        v = FloatVector.fromArray(S, g, go + i).fma(bv, v);
      }
      v.intoArray(out, oo + i);
    }
    for (; i < len; i++) {
      out[oo + i] = x[xo + i] * a + (g == null ? 0f : g[go + i] * b) + c;
    }
  }

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
              sum += sum(x, xo + (i * c + ch) * hw, hw);
            }
            double mean = sum / count;
            double sq = 0;
            for (int i = 0; i < n; i++) {
              sq += squaredDeviations(x, xo + (i * c + ch) * hw, hw, (float) mean);
            }
            double var = sq / count;
            double invStd = 1.0 / Math.sqrt(var + eps);
            saveMean[smo + ch] = (float) mean;
            saveInvStd[sio + ch] = (float) invStd;
            double scale = w[wo + ch] * invStd;
            double shift = b[bo + ch] - mean * scale;
            for (int i = 0; i < n; i++) {
              int off = (i * c + ch) * hw;
              affine(x, xo + off, (float) scale, null, 0, 0f, (float) shift, y, yo + off, hw);
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
            affine(x, xo + off, scale, null, 0, 0f, shift, y, yo + off, hw);
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
              sumDy += sum(dy, dyo + off, hw);
              sumDyXhat += dotDeviations(dy, dyo + off, x, xo + off, hw, (float) mean);
            }
            sumDyXhat *= invStd;
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
            // dx = k·(dy − meanDy − x̂·meanDyXhat), x̂ = (x − mean)·invStd, as a·dy + b·x + c.
            double bx = -k * invStd * meanDyXhat;
            float shift = (float) (-k * meanDy - bx * mean);
            for (int i = 0; i < n; i++) {
              int off = (i * c + ch) * hw;
              affine(x, xo + off, (float) bx, dy, dyo + off, (float) k, shift, dx, dxo + off, hw);
            }
          }
        });
  }
}
