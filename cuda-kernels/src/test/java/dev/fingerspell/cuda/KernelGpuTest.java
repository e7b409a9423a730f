package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Our kernels on a GPU against the CPU backend's ops; skipped (not failed) where no GPU answers.
 */
class KernelGpuTest {
  private static CudaDriver gpu;

  @BeforeAll
  static void open() {
    if (CudaProbe.run().devices() > 0) {
      gpu = CudaDriver.open(0);
    }
  }

  /** Per test, so that each is reported as skipped. */
  @BeforeEach
  void requireGpu() {
    assumeTrue(gpu != null, "no CUDA GPU here");
  }

  @Test
  void axpbyAndReluBackwardMatchTheCpu() {
    Rng rng = new Rng(5);
    int n = 10_007;
    float[] x = Tensor.randn(rng, n).toFloatArray();
    float[] y = Tensor.randn(rng, n).toFloatArray();
    CUdeviceptr dx = gpu.upload(x);
    CUdeviceptr dy = gpu.upload(y);
    gpu.launch("axpby_f32", 64, 256, 0.5f, dx, -2f, dy, (long) n);
    float[] want = new float[n];
    for (int i = 0; i < n; i++) {
      want[i] = 0.5f * x[i] + -2f * y[i];
    }
    assertArrayEquals(want, gpu.download(dy, n), 1e-6f);
    CUdeviceptr dg = gpu.allocFloats(n);
    gpu.launch("relu_backward_f32", 64, 256, dx, dy, dg, (long) n);
    float[] got = gpu.download(dg, n);
    float[] yNow = gpu.download(dy, n);
    for (int i = 0; i < n; i++) {
      want[i] = x[i] > 0 ? yNow[i] : 0f;
    }
    assertArrayEquals(want, got, 0f);
    gpu.free(dx);
    gpu.free(dy);
    gpu.free(dg);
  }

  @Test
  void logSoftmaxRowsMatchesTheCpu() {
    int rows = 64;
    int cols = 29;
    Tensor x = Tensor.randn(new Rng(6), rows, cols);
    CUdeviceptr dx = gpu.upload(x.toFloatArray());
    CUdeviceptr dy = gpu.allocFloats((long) rows * cols);
    gpu.launch("softmax_rows_f32", rows, 32, dx, dy, cols, 1);
    assertArrayEquals(Ops.logSoftmax(x).toFloatArray(), gpu.download(dy, rows * cols), 1e-5f);
    gpu.free(dx);
    gpu.free(dy);
  }
}
