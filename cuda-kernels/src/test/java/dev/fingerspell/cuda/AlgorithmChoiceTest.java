package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
}
