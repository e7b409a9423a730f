package dev.fingerspell.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Packing B: what the GEMM kernels read, element by element. */
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
}
