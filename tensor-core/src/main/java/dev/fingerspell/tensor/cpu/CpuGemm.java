package dev.fingerspell.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision matrix product on row-major arrays: {@code C = alpha * op(A) op(B) + beta * C}.
 * Transposed operands are first copied into row-major form, then a register-tiled kernel computes 4
 * rows × 2 vectors of C at a time: each step loads two vectors of a row of B, broadcasts four
 * values of A and issues eight fused multiply-adds. Column panels are the outer loop so that one
 * panel of B stays in cache while all rows of A stream past it.
 */
final class CpuGemm {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  private CpuGemm() {}

  /**
   * The product. {@code parallel} splits the work over the backend's workers; kernels that already
   * run one product per worker pass false.
   */
  static void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      float[] a,
      int aOff,
      float[] b,
      int bOff,
      float beta,
      float[] c,
      int cOff,
      boolean parallel) {
    scale(c, cOff, m * n, beta);
    if (m == 0 || n == 0 || k == 0 || alpha == 0f) {
      return;
    }
    float[] am = a;
    int amOff = aOff;
    if (transA) { // stored k x m
      am = transpose(a, aOff, k, m);
      amOff = 0;
    }
    float[] bm = b;
    int bmOff = bOff;
    if (transB) { // stored n x k
      bm = transpose(b, bOff, n, k);
      bmOff = 0;
    }
    final float[] fa = am;
    final int fao = amOff;
    final float[] fb = bm;
    final int fbo = bmOff;
    if (!parallel || (long) m * n * k < 32_768) {
      block(fa, fao, fb, fbo, c, cOff, n, k, alpha, 0, m, 0, n);
      return;
    }
    int threads = Parallel.threads();
    if (m >= 16 * threads) {
      int rowBlocks = (m + 3) / 4;
      Parallel.forRange(
          rowBlocks,
          1,
          (lo, hi) ->
              block(fa, fao, fb, fbo, c, cOff, n, k, alpha, lo * 4, Math.min(m, hi * 4), 0, n));
    } else {
      int panel = 2 * L;
      int panels = (n + panel - 1) / panel;
      Parallel.forRange(
          panels,
          1,
          (lo, hi) ->
              block(
                  fa,
                  fao,
                  fb,
                  fbo,
                  c,
                  cOff,
                  n,
                  k,
                  alpha,
                  0,
                  m,
                  lo * panel,
                  Math.min(n, hi * panel)));
    }
  }

  /** {@code c[off .. off+count) *= beta}, or zeroed when beta is 0 (so NaNs do not survive). */
  private static void scale(float[] c, int off, int count, float beta) {
    if (beta == 1f) {
      return;
    }
    if (beta == 0f) {
      java.util.Arrays.fill(c, off, off + count, 0f);
      return;
    }
    for (int i = off; i < off + count; i++) {
      c[i] *= beta;
    }
  }

  /** A row-major copy of the {@code rows x cols} matrix's transpose. */
  static float[] transpose(float[] src, int off, int rows, int cols) {
    float[] t = new float[rows * cols];
    final int tile = 32;
    for (int i0 = 0; i0 < rows; i0 += tile) {
      int i1 = Math.min(rows, i0 + tile);
      for (int j0 = 0; j0 < cols; j0 += tile) {
        int j1 = Math.min(cols, j0 + tile);
        for (int i = i0; i < i1; i++) {
          int s = off + i * cols;
          for (int j = j0; j < j1; j++) {
            t[j * rows + i] = src[s + j];
          }
        }
      }
    }
    return t;
  }

  /** Rows {@code [i0, i1)} × columns {@code [j0, j1)} of C += alpha * A B. */
  private static void block(
      float[] a,
      int aOff,
      float[] b,
      int bOff,
      float[] c,
      int cOff,
      int n,
      int k,
      float alpha,
      int i0,
      int i1,
      int j0,
      int j1) {
    int j = j0;
    for (; j + 2 * L <= j1; j += 2 * L) {
      int i = i0;
      for (; i + 4 <= i1; i += 4) {
        kernel4x2(a, aOff, b, bOff, c, cOff, n, k, alpha, i, j);
      }
      for (; i < i1; i++) {
        kernel1xV(a, aOff, b, bOff, c, cOff, n, k, alpha, i, j);
        kernel1xV(a, aOff, b, bOff, c, cOff, n, k, alpha, i, j + L);
      }
    }
    for (; j + L <= j1; j += L) {
      for (int i = i0; i < i1; i++) {
        kernel1xV(a, aOff, b, bOff, c, cOff, n, k, alpha, i, j);
      }
    }
    if (j < j1) { // fewer than L columns left: masked vectors
      VectorMask<Float> mask = S.indexInRange(0, j1 - j);
      int i = i0;
      for (; i + 4 <= i1; i += 4) {
        kernel4xMasked(a, aOff, b, bOff, c, cOff, n, k, alpha, i, j, mask);
      }
      for (; i < i1; i++) {
        kernel1xMasked(a, aOff, b, bOff, c, cOff, n, k, alpha, i, j, mask);
      }
    }
  }

  private static void kernel4xMasked(
      float[] a,
      int aOff,
      float[] b,
      int bOff,
      float[] c,
      int cOff,
      int n,
      int k,
      float alpha,
      int i,
      int j,
      VectorMask<Float> mask) {
    FloatVector c0 = FloatVector.zero(S);
    FloatVector c1 = FloatVector.zero(S);
    FloatVector c2 = FloatVector.zero(S);
    FloatVector c3 = FloatVector.zero(S);
    int a0 = aOff + i * k;
    int bp = bOff + j;
    for (int p = 0; p < k; p++, bp += n) {
      FloatVector bv = FloatVector.fromArray(S, b, bp, mask);
      c0 = FloatVector.broadcast(S, a[a0 + p]).fma(bv, c0);
      c1 = FloatVector.broadcast(S, a[a0 + k + p]).fma(bv, c1);
      c2 = FloatVector.broadcast(S, a[a0 + 2 * k + p]).fma(bv, c2);
      c3 = FloatVector.broadcast(S, a[a0 + 3 * k + p]).fma(bv, c3);
    }
    int ci = cOff + i * n + j;
    storeMasked(c, ci, c0, alpha, mask);
    storeMasked(c, ci + n, c1, alpha, mask);
    storeMasked(c, ci + 2 * n, c2, alpha, mask);
    storeMasked(c, ci + 3 * n, c3, alpha, mask);
  }

  private static void kernel1xMasked(
      float[] a,
      int aOff,
      float[] b,
      int bOff,
      float[] c,
      int cOff,
      int n,
      int k,
      float alpha,
      int i,
      int j,
      VectorMask<Float> mask) {
    FloatVector acc = FloatVector.zero(S);
    int ai = aOff + i * k;
    int bp = bOff + j;
    for (int p = 0; p < k; p++, bp += n) {
      acc = FloatVector.broadcast(S, a[ai + p]).fma(FloatVector.fromArray(S, b, bp, mask), acc);
    }
    storeMasked(c, cOff + i * n + j, acc, alpha, mask);
  }

  private static void storeMasked(
      float[] c, int at, FloatVector acc, float alpha, VectorMask<Float> m) {
    FloatVector.fromArray(S, c, at, m).add(acc.mul(alpha)).intoArray(c, at, m);
  }

  private static void kernel4x2(
      float[] a,
      int aOff,
      float[] b,
      int bOff,
      float[] c,
      int cOff,
      int n,
      int k,
      float alpha,
      int i,
      int j) {
    FloatVector c00 = FloatVector.zero(S);
    FloatVector c01 = FloatVector.zero(S);
    FloatVector c10 = FloatVector.zero(S);
    FloatVector c11 = FloatVector.zero(S);
    FloatVector c20 = FloatVector.zero(S);
    FloatVector c21 = FloatVector.zero(S);
    FloatVector c30 = FloatVector.zero(S);
    FloatVector c31 = FloatVector.zero(S);
    int a0 = aOff + i * k;
    int a1 = a0 + k;
    int a2 = a1 + k;
    int a3 = a2 + k;
    int bp = bOff + j;
    for (int p = 0; p < k; p++, bp += n) {
      FloatVector b0 = FloatVector.fromArray(S, b, bp);
      FloatVector b1 = FloatVector.fromArray(S, b, bp + L);
      FloatVector v = FloatVector.broadcast(S, a[a0 + p]);
      c00 = v.fma(b0, c00);
      c01 = v.fma(b1, c01);
      v = FloatVector.broadcast(S, a[a1 + p]);
      c10 = v.fma(b0, c10);
      c11 = v.fma(b1, c11);
      v = FloatVector.broadcast(S, a[a2 + p]);
      c20 = v.fma(b0, c20);
      c21 = v.fma(b1, c21);
      v = FloatVector.broadcast(S, a[a3 + p]);
      c30 = v.fma(b0, c30);
      c31 = v.fma(b1, c31);
    }
    int ci = cOff + i * n + j;
    store(c, ci, c00, alpha);
    store(c, ci + L, c01, alpha);
    store(c, ci + n, c10, alpha);
    store(c, ci + n + L, c11, alpha);
    store(c, ci + 2 * n, c20, alpha);
    store(c, ci + 2 * n + L, c21, alpha);
    store(c, ci + 3 * n, c30, alpha);
    store(c, ci + 3 * n + L, c31, alpha);
  }

  private static void kernel1xV(
      float[] a,
      int aOff,
      float[] b,
      int bOff,
      float[] c,
      int cOff,
      int n,
      int k,
      float alpha,
      int i,
      int j) {
    FloatVector acc = FloatVector.zero(S);
    int ai = aOff + i * k;
    int bp = bOff + j;
    for (int p = 0; p < k; p++, bp += n) {
      acc = FloatVector.broadcast(S, a[ai + p]).fma(FloatVector.fromArray(S, b, bp), acc);
    }
    store(c, cOff + i * n + j, acc, alpha);
  }

  private static void store(float[] c, int at, FloatVector acc, float alpha) {
    FloatVector.fromArray(S, c, at).add(acc.mul(alpha)).intoArray(c, at);
  }
}
