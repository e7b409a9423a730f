package dev.fingerspell.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Packing B (what the GEMM kernels read, element by element) and sharing its columns out. */
class CpuGemmTest {
  /**
   * A transposed B (stored n × k, a weight gradient's column matrix) packs to {@code dst[panel · NR
   * · k + p · NR + t] = B[j + t][p]}, zero past n: three gathers a panel row, masked in a narrow
   * last panel.
   */
  @ParameterizedTest
  @CsvSource({"48, 16", "48, 37", "96, 64", "100, 33", "30, 15", "147, 200", "5, 1"})
  void transposedBPacksRowsAsPanelColumns(int n, int k) {
    Random r = new Random(n * 1000L + k);
    float[] stored = new float[7 + n * k];
    for (int i = 0; i < stored.length; i++) {
      stored[i] = r.nextFloat() - 0.5f;
    }
    float[] want = new float[CpuGemm.packedBSize(n, k)];
    for (int j = 0; j < n; j += CpuGemm.NR) {
      for (int p = 0; p < k; p++) {
        for (int t = 0; t < CpuGemm.NR; t++) {
          want[j * k + p * CpuGemm.NR + t] = j + t < n ? stored[7 + (j + t) * k + p] : 0f;
        }
      }
    }
    float[] got =
        CpuGemm.packB(
            new CpuGemm.Operand(true, stored, 7), n, k, new float[CpuGemm.packedBSize(n, k)]);
    assertArrayEquals(want, got);
  }

  /**
   * Column runs in whole panels where that evens out the kernel calls: layer3's 16 vectors (5⅓
   * panels) at batch 1 go 9 + 7, each run three calls, not 8 + 8 (three calls and four); layer4's
   * 32 vectors (10⅔ panels) stay 16 + 16, six calls each. With 16-lane vectors (AVX-512).
   */
  @Test
  void columnRunsEvenOutKernelCalls() {
    org.junit.jupiter.api.Assumptions.assumeTrue(CpuGemm.NR == 48, "16-lane vectors");
    assertArrayEquals(new int[] {0, 9, 16}, CpuGemm.columnRuns(16, 2));
    assertArrayEquals(new int[] {0, 16, 32}, CpuGemm.columnRuns(32, 2));
    assertArrayEquals(new int[] {0, 1, 2, 3}, CpuGemm.columnRuns(3, 3));
    assertArrayEquals(new int[] {0, 3, 6, 6}, CpuGemm.columnRuns(6, 3));
  }

  /**
   * Against every split into two or three runs: the runs cover the vectors in order, and none costs
   * more than the best split's largest run (a run's vectors plus two per panel it touches).
   */
  @Test
  void columnRunsAreTheBestSplit() {
    int perPanel = 3; // a panel (NR) is three vectors
    for (int vectors = 1; vectors <= 40; vectors++) {
      for (int parts = 1; parts <= 3; parts++) {
        int[] runs = CpuGemm.columnRuns(vectors, parts);
        assertEquals(parts + 1, runs.length);
        assertEquals(0, runs[0]);
        assertEquals(vectors, runs[parts]);
        int worst = 0;
        for (int p = 0; p < parts; p++) {
          assertEquals(true, runs[p] <= runs[p + 1], "in order");
          worst = Math.max(worst, cost(runs[p], runs[p + 1], perPanel));
        }
        int best = Integer.MAX_VALUE;
        for (int a = 0; a <= vectors; a++) {
          for (int b = parts == 3 ? a : vectors; b <= vectors; b++) {
            int largest =
                parts == 1
                    ? cost(0, vectors, perPanel)
                    : Math.max(
                        cost(0, a, perPanel),
                        Math.max(cost(a, b, perPanel), cost(b, vectors, perPanel)));
            best = Math.min(best, largest);
            if (parts == 1) {
              break;
            }
          }
          if (parts == 1) {
            break;
          }
        }
        assertEquals(best, worst, vectors + " vectors in " + parts + " runs");
      }
    }
  }

  private static int cost(int from, int to, int perPanel) {
    return from == to ? 0 : to - from + 2 * ((to - 1) / perPanel - from / perPanel + 1);
  }
}
