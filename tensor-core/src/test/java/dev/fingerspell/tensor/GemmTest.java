package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The backend's GEMM in every transpose combination, with alpha and beta, against float64. */
class GemmTest {
  @Test
  void allTransposesAlphaBetaAndTails() {
    Backend be = Backends.forDevice(Backends.defaultDevice()); // the GPU in the GPU check
    Rng rng = new Rng(99);
    // Small shapes take the serial path; the last three are large enough to split over the
    // workers, by panels of columns (many columns) and by slivers of rows (few, tall panels).
    // With 16 lanes a panel is 48 columns, and a narrower last panel runs a 1- or 2-vector
    // kernel: whole (n = 16, 64, 80) or with an edge (33, 49).
    int[][] sizes = {
      {1, 1, 1},
      {8, 16, 5},
      {16, 64, 20},
      {16, 80, 20},
      {24, 33, 6},
      {9, 49, 11},
      {4, 32, 8},
      {7, 45, 13},
      {64, 100, 70},
      {130, 3, 200},
      {17, 1000, 40},
      {300, 40, 50},
      {93, 145, 77}
    };
    for (int[] s : sizes) {
      int m = s[0];
      int n = s[1];
      int k = s[2];
      for (int variant = 0; variant < 4; variant++) {
        boolean ta = (variant & 1) != 0;
        boolean tb = (variant & 2) != 0;
        Tensor a = Tensor.randn(rng, ta ? k : m, ta ? m : k);
        Tensor b = Tensor.randn(rng, tb ? n : k, tb ? k : n);
        Tensor c = Tensor.randn(rng, m, n);
        float[] av = a.toFloatArray();
        float[] bv = b.toFloatArray();
        float[] cv = c.toFloatArray();
        float alpha = 0.75f;
        float beta = variant == 3 ? 0f : -0.5f;
        be.gemm(ta, tb, m, n, k, alpha, a, b, beta, c);
        double[] want = new double[m * n];
        for (int i = 0; i < m; i++) {
          for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int p = 0; p < k; p++) {
              double x = ta ? av[p * m + i] : av[i * k + p];
              double y = tb ? bv[j * k + p] : bv[p * n + j];
              acc += x * y;
            }
            want[i * n + j] = alpha * acc + (beta == 0f ? 0 : beta * cv[i * n + j]);
          }
        }
        double err = GradCheck.relError(c.toFloatArray(), want);
        assertTrue(
            err < 1e-5, "gemm " + m + "x" + n + "x" + k + " ta " + ta + " tb " + tb + ": " + err);
      }
    }
  }

  @Test
  void betaZeroDoesNotReadNaN() {
    Backend be = Backends.forDevice(Backends.defaultDevice()); // the GPU in the GPU check
    Tensor c = Tensor.full(Float.NaN, 2, 2);
    be.gemm(false, false, 2, 2, 1, 1f, Tensor.ones(2, 1), Tensor.ones(1, 2), 0f, c);
    for (float v : c.toFloatArray()) {
      assertTrue(v == 1f);
    }
  }
}
