package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The row-major to column-major rewrite of a product: a column-major SGEMM written out in Java,
 * called as {@link Cublas#columnMajor} says, gives the row-major product for every transpose.
 */
class CublasMappingTest {
  /** Column-major C = alpha op(A) op(B) + beta C, as the BLAS reference defines it. */
  private static void sgemmColumnMajor(
      int transA,
      int transB,
      int m,
      int n,
      int k,
      float[] a,
      int lda,
      float[] b,
      int ldb,
      float[] c,
      int ldc) {
    for (int j = 0; j < n; j++) {
      for (int i = 0; i < m; i++) {
        double s = 0;
        for (int p = 0; p < k; p++) {
          float av = transA == Cublas.OP_N ? a[i + p * lda] : a[p + i * lda];
          float bv = transB == Cublas.OP_N ? b[p + j * ldb] : b[j + p * ldb];
          s += (double) av * bv;
        }
        c[i + j * ldc] = (float) s;
      }
    }
  }

  @Test
  void everyTransposeGivesTheRowMajorProduct() {
    Random rng = new Random(3);
    int m = 5;
    int n = 7;
    int k = 4;
    for (boolean transA : new boolean[] {false, true}) {
      for (boolean transB : new boolean[] {false, true}) {
        float[] a = new float[m * k];
        float[] b = new float[k * n];
        for (int i = 0; i < a.length; i++) {
          a[i] = rng.nextFloat() - 0.5f;
        }
        for (int i = 0; i < b.length; i++) {
          b[i] = rng.nextFloat() - 0.5f;
        }
        float[] want = new float[m * n];
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
              float av = transA ? a[p * m + i] : a[i * k + p];
              float bv = transB ? b[j * k + p] : b[p * n + j];
              s += (double) av * bv;
            }
            want[i * n + j] = (float) s;
          }
        }
        Cublas.ColumnMajorCall call = Cublas.columnMajor(transA, transB, m, n, k);
        float[] got = new float[m * n];
        sgemmColumnMajor(
            call.transA(),
            call.transB(),
            call.m(),
            call.n(),
            call.k(),
            b,
            call.lda(),
            a,
            call.ldb(),
            got,
            call.ldc());
        assertArrayEquals(want, got, 1e-6f, "transA " + transA + " transB " + transB);
      }
    }
  }
}
