package dev.fingerspell.cuda;

import static dev.fingerspell.cuda.CudaBackendGpuTest.GPU;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend on the host emulator ({@link HostEmulator}: our kernels compiled for the host)
 * against the CPU backend, with no GPU: the backend's Java side (allocation, copies, views, launch
 * arguments) and each kernel's arithmetic, for every op that is ours rather than cuDNN's or
 * cuBLAS's. Runs in its own JVM (the surefire execution {@code emulated-kernels}), where the
 * emulator is the cuda device.
 */
class EmulatedKernelsTest extends CudaOpsChecks {
  @BeforeEach
  void requireEmulator() {
    String library = System.getProperty("fingerspell.cuda.emulator");
    assumeTrue(
        library != null && Files.exists(Path.of(library)), "the host-compiled kernels are absent");
    assertTrue(Backends.forDevice(GPU).describe().contains("host emulator"));
  }

  /** cuDNN's and cuBLAS's ops say plainly that the emulator has neither. */
  @Test
  void libraryOpsAreRefusedByName() {
    Tensor a = Tensor.of(GPU, new float[4], 2, 2);
    UnsupportedOperationException e =
        assertThrows(UnsupportedOperationException.class, () -> Ops.matmul(a, a));
    assertTrue(e.getMessage().startsWith("gemm needs cuDNN and cuBLAS"), e.getMessage());
  }
}
