package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Which of cuDNN's ranked algorithms the backend takes: the first that works and fits. */
class AlgorithmChoiceTest {
  @Test
  void theFirstRankedThatSucceededAndFitsTheWorkspaceLimit() {
    List<Cudnn.Perf> ranked =
        List.of(
            new Cudnn.Perf(7, 3000, 0), // not supported for this shape
            new Cudnn.Perf(5, Cudnn.STATUS_SUCCESS, 4L << 30), // 4 GiB: too much
            new Cudnn.Perf(1, Cudnn.STATUS_SUCCESS, 1 << 20),
            new Cudnn.Perf(0, Cudnn.STATUS_SUCCESS, 0));
    assertArrayEquals(new long[] {1, 1 << 20}, GpuLibraries.choose(ranked, "FORWARD"));
  }

  @Test
  void noneUsableIsNamed() {
    CudaException e =
        assertThrows(
            CudaException.class,
            () -> GpuLibraries.choose(List.of(new Cudnn.Perf(0, 3000, 0)), "BACKWARD_DATA"));
    assertTrue(e.getMessage().contains("no BACKWARD_DATA algorithm"), e.getMessage());
  }

  /**
   * PyTorch's default eps, 1e-5f, is 9.99999974e-6 as the double cuDNN takes: a check against cuDNN
   * 7's minimum of 1e-5 refused every batch norm of the network; cuDNN 9's minimum is 0.
   */
  @Test
  void batchNormTakesTheLayersEpsilon() {
    assertEquals(1e-5f, (float) GpuLibraries.epsilon(1e-5f));
    assertEquals(0.0, GpuLibraries.epsilon(0f));
    assertThrows(IllegalArgumentException.class, () -> GpuLibraries.epsilon(-1e-3f));
    assertThrows(IllegalArgumentException.class, () -> GpuLibraries.epsilon(Float.NaN));
  }
}
