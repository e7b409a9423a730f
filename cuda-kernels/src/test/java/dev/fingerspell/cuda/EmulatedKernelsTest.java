package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Rng;
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

  /**
   * The convolution epilogue kernel (bias per channel, residual, ReLU; where cuDNN's fused call
   * declines a shape) against the same arithmetic on the host.
   */
  @Test
  void convolutionEpilogueAddsBiasAndResidualThenRectifies() {
    ConvGeometry g = new ConvGeometry(2, 3, 5, 4, 3, 1, 1, 1, 1, 0, 0);
    Rng rng = new Rng(24);
    float[] y = random(rng, 2 * 3 * 20);
    float[] bias = random(rng, 3);
    float[] residual = random(rng, 2 * 3 * 20);
    for (boolean relu : new boolean[] {true, false}) {
      for (boolean withResidual : new boolean[] {true, false}) {
        Tensor out = Tensor.of(GPU, y, 2, 3, 5, 4);
        CudaBackend.epilogue(
            g,
            Tensor.of(GPU, bias, 3),
            withResidual ? Tensor.of(GPU, residual, 2, 3, 5, 4) : null,
            relu,
            out);
        float[] want = new float[y.length];
        for (int i = 0; i < y.length; i++) {
          float v = y[i] + bias[i / 20 % 3] + (withResidual ? residual[i] : 0f);
          want[i] = relu ? Math.max(v, 0f) : v;
        }
        assertArrayEquals(want, out.toFloatArray(), "relu " + relu + " residual " + withResidual);
      }
    }
  }
}
