package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.ConvGeometry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The cuDNN and cuBLAS bindings against the real libraries, on the host: every function the backend
 * calls resolves with the signature it is declared with, descriptors build, and cuDNN computes the
 * same output shape as {@link ConvGeometry} for every ResNet18 convolution. Needs the libraries
 * (FINGERSPELL_CUDA_LIBS, pip's nvidia folders, ...) but no GPU: CI fetches cuDNN with {@code
 * cuda-kernels/host-libs/fetch.py}; skipped where it is absent.
 */
class CudnnHostTest {
  private static Cudnn cudnn;
  private static Cublas cublas;

  @BeforeAll
  static void open() {
    try {
      cudnn = new Cudnn(CudaLibraries.open(CudaLibraries.Library.CUDNN, Arena.global()));
    } catch (CudaLibraries.NotFound e) {
      cudnn = null;
    }
    try {
      cublas = new Cublas(CudaLibraries.open(CudaLibraries.Library.CUBLAS, Arena.global()));
    } catch (CudaLibraries.NotFound e) {
      cublas = null; // CI fetches cuDNN only (host-libs/fetch.py); cuBLAS is 390 MB more
    }
  }

  @BeforeEach
  void requireCudnn() {
    assumeTrue(cudnn != null, "cuDNN 9 is not here (cuda-kernels/host-libs/fetch.py gets it)");
  }

  @Test
  void versionsAndErrorStrings() {
    assertTrue(cudnn.version().startsWith("9."), cudnn.version());
    if (cublas != null) {
      assertTrue(cublas.version().matches("1[23]\\.\\d+\\.\\d+"), cublas.version());
    }
    long builtFor =
        Cudnn.cudartVersion(CudaLibraries.open(CudaLibraries.Library.CUDNN, Arena.global()));
    assertTrue(builtFor >= 12000 && builtFor < 14000, "built for CUDA " + builtFor);
    assertEquals("CUDNN_STATUS_SUCCESS", cudnn.errorString(0));
    assertTrue(
        cudnn.errorString(2000).startsWith("CUDNN_STATUS_BAD_PARAM"), cudnn.errorString(2000));
  }

  /** Every convolution of ResNet18 at batch 32: cuDNN's output shape is ours. */
  @Test
  void convolutionShapesAgreeWithConvGeometry() {
    int[][] convs = { // in, out, size, kernel, stride, pad
      {3, 64, 224, 7, 2, 3},
      {64, 64, 56, 3, 1, 1},
      {64, 128, 56, 3, 2, 1},
      {64, 128, 56, 1, 2, 0},
      {128, 128, 28, 3, 1, 1},
      {128, 256, 28, 3, 2, 1},
      {256, 512, 14, 1, 2, 0},
      {512, 512, 7, 3, 1, 1}
    };
    for (int mathType : new int[] {Cudnn.FMA_MATH, Cudnn.DEFAULT_MATH}) {
      for (int[] c : convs) {
        ConvGeometry g =
            new ConvGeometry(32, c[0], c[2], c[2], c[1], c[3], c[3], c[4], c[4], c[5], c[5]);
        MemorySegment x = cudnn.tensor(g.batch(), g.inChannels(), g.inHeight(), g.inWidth());
        MemorySegment w = cudnn.filter(g.outChannels(), g.inChannels(), g.kernelH(), g.kernelW());
        MemorySegment conv =
            cudnn.convolution(g.padH(), g.padW(), g.strideH(), g.strideW(), mathType);
        assertArrayEquals(g.outShape(), cudnn.convolutionOutput(conv, x, w), g.toString());
      }
    }
  }

  @Test
  void aBadDescriptorIsOneLineNamingTheCall() {
    CudaException e = assertThrows(CudaException.class, () -> cudnn.tensor(0, 3, 4, 4));
    assertTrue(
        e.getMessage()
            .startsWith("cuDNN cudnnSetTensor4dDescriptor(0,3,4,4) failed: CUDNN_STATUS_BAD_PARAM"),
        e.getMessage());
  }

  @Test
  void reluActivationDescriptorBuilds() {
    MemorySegment relu = cudnn.activation(Cudnn.ACTIVATION_RELU);
    assertTrue(relu.address() != 0);
  }

  /** Without a GPU the handle cannot be made; the failure says so in cuDNN's words. */
  @Test
  void handleWithoutAGpuFailsWithCudnnsWords() {
    assumeTrue(CudaProbe.run().devices() == 0, "a GPU answers here");
    CudaException e = assertThrows(CudaException.class, () -> cudnn.createHandle(0));
    assertTrue(
        e.getMessage().startsWith("cuDNN cudnnCreate failed: CUDNN_STATUS_"), e.getMessage());
    if (cublas != null) {
      assertThrows(CudaException.class, () -> cublas.createHandle(false, 0));
    }
  }

  /**
   * Every compute binding takes the arguments its wrapper passes (FFM checks the count and types
   * only when called): each is called with a null handle, which cuDNN and cuBLAS refuse with a
   * status, so the call reaches the library and comes back as a CudaException. Without a GPU only.
   */
  @Test
  void everyComputeBindingReachesTheLibrary() {
    // A null handle is refused with a status by the cuDNN CI fetches (9.5); on a GPU machine's
    // cuDNN 9.19 it crashed the JVM inside libcudnn_cnn. Where a GPU answers, CudaBackendGpuTest
    // calls every binding with a real handle instead.
    assumeTrue(CudaProbe.run().devices() == 0, "a GPU answers here: the GPU tests call them all");
    MemorySegment none = MemorySegment.NULL;
    MemorySegment x = cudnn.tensor(2, 3, 8, 8);
    MemorySegment w = cudnn.filter(4, 3, 3, 3);
    MemorySegment y = cudnn.tensor(2, 4, 8, 8);
    MemorySegment conv = cudnn.convolution(1, 1, 1, 1, Cudnn.FMA_MATH);
    MemorySegment bias = cudnn.tensor(1, 4, 1, 1);
    List<Executable> calls = new ArrayList<>();
    for (Cudnn.Pass p : Cudnn.Pass.values()) {
      calls.add(() -> cudnn.algorithms(p, none, x, w, conv, y));
      calls.add(() -> cudnn.workspaceBytes(p, none, x, w, conv, y, 0));
      calls.add(() -> cudnn.convolution(p, none, x, 0, w, 0, conv, 0, 0, 0, y, 0));
    }
    calls.add(() -> cudnn.setStream(none, 0));
    calls.add(() -> cudnn.convolutionBackwardBias(none, y, 0, bias, 0));
    calls.add(
        () -> cudnn.batchNormForwardTraining(none, x, 0, 0, bias, 0, 0, 0.1, 0, 0, 1e-5, 0, 0));
    calls.add(() -> cudnn.batchNormForwardInference(none, x, 0, 0, bias, 0, 0, 0, 0, 1e-5));
    calls.add(() -> cudnn.batchNormBackward(none, x, 0, 0, 0, bias, 0, 0, 0, 1e-5, 0, 0));
    if (cublas != null) {
      calls.add(() -> cublas.setStream(none, 0));
      calls.add(() -> cublas.gemmRowMajor(none, false, true, 2, 3, 4, 1f, 0, 0, 0f, 0));
    }
    for (Executable call : calls) {
      assertThrows(CudaException.class, call);
    }
    int fused =
        cudnn.convolutionBiasActivationForward(
            none,
            x,
            0,
            w,
            0,
            conv,
            0,
            0,
            0,
            0,
            false,
            bias,
            0,
            cudnn.activation(Cudnn.ACTIVATION_RELU),
            y,
            0);
    assertTrue(fused != Cudnn.STATUS_SUCCESS, "fused call with no handle: " + fused);
  }
}
