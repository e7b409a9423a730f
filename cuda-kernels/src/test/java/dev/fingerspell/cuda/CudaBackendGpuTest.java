package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Ops;
import org.junit.jupiter.api.BeforeEach;

/**
 * Every op of the CUDA backend, forward and backward, against the CPU backend on the same values:
 * each is run through {@link Ops} on both devices, and the outputs and the gradients of {@code
 * sum(out * r)} for a random {@code r} are compared. Skipped (each test reported as such) where no
 * GPU answers.
 */
class CudaBackendGpuTest extends CudaOpsChecks {
  @BeforeEach
  void requireGpu() {
    assumeTrue(Backends.isAvailable(Device.Type.CUDA), "no CUDA GPU here");
  }
}
