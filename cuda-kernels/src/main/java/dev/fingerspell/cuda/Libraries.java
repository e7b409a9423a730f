package dev.fingerspell.cuda;

import dev.fingerspell.tensor.ConvGeometry;
import java.util.List;

/**
 * The library half of the CUDA backend: convolution, batch norm and GEMM, on float32 device
 * addresses, each overwriting its outputs. cuDNN and cuBLAS on a GPU ({@link GpuLibraries}); the
 * CPU backend's kernels on the host emulator ({@link HostLibraries}).
 */
interface Libraries {
  /** What they are, for {@code fingerspell backends}. */
  String describe();

  /**
   * One convolution pass: forward (x, w) into y, backward-data (w, dy) into dx, backward-filter (x,
   * dy) into dw.
   */
  void convolution(Cudnn.Pass pass, ConvGeometry g, long a, long b, long out);

  /**
   * {@code y = relu(conv(x, w) + bias + residual)} in one call ({@code residual} 0 for none), or
   * false, having written nothing, where the library declines the shape.
   */
  boolean convolutionBiasRelu(ConvGeometry g, long x, long w, long bias, long residual, long y);

  /** The shapes a fused convolution was declined for, with the library's reason. */
  List<String> declined();

  /** One line per convolution shape seen: the algorithm chosen for each pass and its workspace. */
  default List<String> plans() {
    return List.of();
  }

  /** {@code dbias[c] = sum of dy over n, h, w}. */
  void convolutionBiasBackward(ConvGeometry g, long dy, long dbias);

  /** Training-mode batch norm; the running statistics (0 for none) are updated in place. */
  void batchNormForwardTraining(
      int n,
      int c,
      int hw,
      long x,
      long y,
      long weight,
      long bias,
      float momentum,
      long runningMean,
      long runningVar,
      float eps,
      long saveMean,
      long saveInvStd);

  /** Evaluation-mode batch norm. */
  void batchNormForwardInference(
      int n, int c, int hw, long x, long y, long weight, long bias, long mean, long var, float eps);

  /** Backward of training-mode batch norm from the saved statistics; all three outputs written. */
  void batchNormBackward(
      int n,
      int c,
      int hw,
      long x,
      long dy,
      long dx,
      long weight,
      long dweight,
      long dbias,
      long saveMean,
      long saveInvStd);

  /** Row-major {@code C = alpha op(A) op(B) + beta C}, k > 0. */
  void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      long a,
      long b,
      float beta,
      long c);
}
