package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link GpuLibraries} with the {@link Cudnn} and {@link Cublas} bindings, on the stub driver with
 * a stub cuDNN and cuBLAS ({@code src/test/emulator/stub_cudnn.cpp}, {@code stub_cublas.cpp}: the
 * calls the backend makes, checked as the libraries check them and computed plainly on the stub's
 * host memory): every op check of {@link CudaOpsChecks}, so that the code between the backend and
 * the real libraries (descriptors, each pass's operand order, the algorithm choice, the workspace,
 * the fused call and its fallback, batch norm's arguments, the row-major GEMM) has run before a GPU
 * sees it. {@link StubDriverTest} runs the same checks with the CPU in place of the libraries. Runs
 * in its own JVM (the surefire execution {@code stub-libraries}).
 */
@SuppressWarnings("restricted") // calls the stubs' test hooks
class StubLibrariesTest extends CudaOpsChecks {
  @BeforeEach
  void requireStubLibraries() {
    assumeTrue(
        Files.exists(StubDriverTest.stub().resolveSibling("libcudnn.so.9")), "no stub cuDNN");
    String described = Backends.forDevice(GPU).describe();
    assertTrue(
        described.contains("cuDNN 9.13.0, cuBLAS 12.9.1"), "the stub libraries: " + described);
  }

  private static GpuLibraries libraries() {
    return (GpuLibraries) ((CudaBackend) Backends.forDevice(GPU)).runtime(GPU.index()).libraries;
  }

  /**
   * Every cuDNN and cuBLAS call was queued on the backend's stream, read and wrote only inside
   * allocations, and reached the library.
   */
  @Test
  void libraryCallsRunOnTheBackendsStreamInsideAllocations() {
    long[] before = StubDriverTest.counters();
    Tensor x = Tensor.of(GPU, random(new Rng(1), 2 * 3 * 9 * 9), 2, 3, 9, 9);
    Tensor w = Tensor.of(GPU, random(new Rng(2), 4 * 3 * 3 * 3), 4, 3, 3, 3);
    Tensor y = Ops.conv2d(x, w, null, 1, 1);
    Ops.matmul(y.reshape(2, 4 * 9 * 9), Tensor.of(GPU, new float[4 * 9 * 9 * 5], 4 * 9 * 9, 5))
        .toFloatArray();
    long[] after = StubDriverTest.counters();
    assertTrue(after[5] >= before[5] + 2, "no convolution or GEMM reached the stub libraries");
    assertEquals(0, after[2], "calls on a stream other than the backend's");
    assertEquals(0, after[4], "device ranges outside any allocation");
  }

  /**
   * cuDNN's heuristics rank an unsupported algorithm first (as they may): the backend takes the
   * next, whose workspace the stub requires at full size.
   */
  @Test
  void theFirstSupportedAlgorithmIsTakenWithItsWorkspace() {
    Tensor x = Tensor.of(GPU, random(new Rng(3), 1 * 5 * 7 * 7), 1, 5, 7, 7);
    Tensor w = Tensor.of(GPU, random(new Rng(4), 6 * 5 * 3 * 3), 6, 5, 3, 3).requiresGrad(true);
    Ops.sum(Ops.conv2d(x, w, null, 2, 1)).backward();
    String shape = new ConvGeometry(1, 5, 7, 7, 6, 3, 3, 2, 2, 1, 1).toString();
    String plan =
        libraries().plans().stream()
            .filter(p -> p.startsWith(shape))
            .findFirst()
            .orElse("no plan for " + shape + " in " + libraries().plans());
    assertTrue(plan.contains("FORWARD algo 1"), plan);
    assertTrue(plan.contains("BACKWARD_FILTER algo 1"), plan);
  }

  /**
   * A shape cuDNN declines for the fused call (NOT_SUPPORTED) is computed unfused, gives the same
   * result, and is named with cuDNN's reason.
   */
  @Test
  void aDeclinedFusedConvolutionFallsBackToTheUnfusedOne() throws Throwable {
    MethodHandle decline =
        java.lang.foreign.Linker.nativeLinker()
            .downcallHandle(
                java.lang.foreign.SymbolLookup.libraryLookup(
                        StubDriverTest.stub().resolveSibling("libcudnn.so.9"),
                        java.lang.foreign.Arena.global())
                    .find("stub_cudnn_decline_fused")
                    .orElseThrow(),
                FunctionDescriptor.ofVoid(JAVA_INT));
    ConvGeometry g = new ConvGeometry(1, 3, 6, 6, 2, 3, 3, 1, 1, 1, 1);
    Rng rng = new Rng(5);
    float[] x = random(rng, 3 * 36);
    float[] w = random(rng, 2 * 3 * 9);
    float[] b = random(rng, 2);
    float[][] outs = new float[2][];
    int i = 0;
    decline.invokeExact(1);
    try {
      for (Device d : new Device[] {Device.CPU, GPU}) {
        Tensor y = Tensor.zeros(d, DType.FLOAT32, g.outShape());
        Backends.forDevice(d)
            .conv2dBiasActivation(
                g,
                Tensor.of(d, x, 1, 3, 6, 6),
                Tensor.of(d, w, 2, 3, 3, 3),
                Tensor.of(d, b, 2),
                null,
                true,
                y);
        outs[i++] = y.toFloatArray();
      }
    } finally {
      decline.invokeExact(0);
    }
    close("declined fused", outs[1], outs[0], 1e-6);
    assertTrue(
        libraries().declined().stream()
            .anyMatch(s -> s.startsWith(g.toString()) && s.contains("CUDNN_STATUS_NOT_SUPPORTED")),
        libraries().declined().toString());
  }
}
