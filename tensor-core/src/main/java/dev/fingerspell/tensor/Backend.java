package dev.fingerspell.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The kernels every op reaches its device through. One implementation per device type is found with
 * {@link java.util.ServiceLoader}; {@code Ops} holds the math of each op (forward and backward side
 * by side) and calls these for the arithmetic.
 *
 * <p>Rules every implementation keeps:
 *
 * <ul>
 *   <li>Tensors passed in are contiguous, row-major, on this backend's device, and already sized; a
 *       kernel writes only into the outputs it is given. Reads go through {@link Tensor#storage()}
 *       and {@link Tensor#offset()}.
 *   <li>Kernels may run asynchronously (a CUDA stream); {@link #synchronize()} waits, and every
 *       copy to the host synchronises first.
 *   <li>Storage never has to be a Java array; the allocator may cache and reuse blocks.
 * </ul>
 */
public interface Backend {

  /** A short name: {@code cpu}, {@code cuda}. */
  String name();

  /** The device type this backend serves. */
  Device.Type deviceType();

  /** Whether this backend can run here (a GPU answers, its libraries load). */
  boolean isAvailable();

  /**
   * Why {@link #isAvailable()} is false, in one line naming what is missing (a driver, a GPU, a
   * library and where it was looked for); empty when available.
   */
  default String unavailableReason() {
    return "";
  }

  /**
   * What it runs on, for {@code fingerspell backends} and logs (a GPU's name, library versions).
   */
  default String describe() {
    return "";
  }

  /** Higher wins when several are available and none was asked for. */
  int priority();

  // ---- memory -------------------------------------------------------------------------------

  /** A zero-filled block of {@code numel} elements. */
  Storage allocate(Device device, DType dtype, long numel);

  /** A block holding a copy of {@code data}. */
  Storage upload(Device device, float[] data);

  /** A block holding a copy of {@code data}. */
  Storage upload(Device device, long[] data);

  /** Copies {@code count} elements starting at {@code offset} to the host. */
  void download(Storage src, long offset, float[] dst, int dstOffset, int count);

  /** Copies {@code count} elements starting at {@code offset} to the host. */
  void download(Storage src, long offset, long[] dst, int dstOffset, int count);

  /** Copies all of {@code src} into {@code dst} (same numel and dtype). */
  void copy(Tensor src, Tensor dst);

  /**
   * {@code dst[i] = src[rows[i]]} along dimension 0 (a mini-batch drawn from data that stays on the
   * device). The default copies row by row.
   */
  default void gatherRows(Tensor src, int[] rows, Tensor dst) {
    for (int i = 0; i < rows.length; i++) {
      copy(src.narrowRows(rows[i], rows[i] + 1), dst.narrowRows(i, i + 1));
    }
  }

  /**
   * {@code out = (bytes / 255 - mean[ch]) / std[ch]} for 8-bit planar images {@code [n, c, hw]}
   * ({@code out}'s shape), in float32 as written. {@code bytes} is read where it lies (a slice of a
   * stored shard, say), so a batch is not first gathered into an array of its own. A GPU backend
   * sends the bytes, a quarter of the floats, and normalises on the device; this default normalises
   * on the host and copies.
   */
  default void normalizeImages(MemorySegment bytes, float[] mean, float[] std, Tensor out) {
    requireImageBytes(bytes, out);
    float[] x = new float[Math.toIntExact(out.numel())];
    normalizeOnHost(bytes, mean, std, out.shape(), x, 0);
    copy(Tensor.of(out.device(), x, out.shape()), out);
  }

  /** What every {@link #normalizeImages} checks first: one byte for each value of {@code out}. */
  static void requireImageBytes(MemorySegment bytes, Tensor out) {
    if (bytes.byteSize() != out.numel()) {
      throw new IllegalArgumentException(
          bytes.byteSize()
              + " bytes for images of shape "
              + java.util.Arrays.toString(out.shape()));
    }
  }

  /**
   * The arithmetic of {@link #normalizeImages} on the host, for the images {@code [n, c, h, w]} in
   * {@code bytes} (sizes checked by the caller), into {@code x} from {@code at}: a plane at a time,
   * so that each plane's scale and shift are two constants.
   */
  static void normalizeOnHost(
      MemorySegment bytes, float[] mean, float[] std, int[] shape, float[] x, int at) {
    int c = shape[1];
    int hw = (int) (Shape.numel(shape) / shape[0] / c);
    for (int plane = 0; plane < shape[0] * c; plane++) {
      int ch = plane % c;
      long from = (long) plane * hw;
      for (int i = 0; i < hw; i++) {
        int v = bytes.get(ValueLayout.JAVA_BYTE, from + i) & 0xff;
        x[at + (int) from + i] = (v / 255f - mean[ch]) / std[ch];
      }
    }
  }

  /** Waits for every kernel queued so far. */
  void synchronize();

  // ---- element-wise ---------------------------------------------------------------------------

  /** {@code x[:] = value}. */
  void fill(Tensor x, float value);

  /** {@code y = alpha * x + beta * y}, element-wise over equal sizes. */
  void axpby(float alpha, Tensor x, float beta, Tensor y);

  /**
   * {@code out = a + b} where {@code a} and {@code b} are read through broadcast strides (0 along
   * stretched dimensions) over {@code out}'s shape.
   */
  void addBroadcast(Tensor a, long[] aStrides, Tensor b, long[] bStrides, Tensor out);

  /**
   * The reverse of broadcasting: {@code out[j] = sum of grad[i]} over every index {@code i} that
   * {@code outStrides} maps to {@code j}; {@code out} is zeroed first.
   */
  void sumToBroadcast(Tensor grad, long[] outStrides, Tensor out);

  /** {@code y = max(x, 0)}. */
  void relu(Tensor x, Tensor y);

  /** {@code dx = y > 0 ? dy : 0}, from the forward output. */
  void reluBackward(Tensor y, Tensor dy, Tensor dx);

  /** {@code out[0] = sum(x)}. */
  void sum(Tensor x, Tensor out);

  // ---- matrix product ------------------------------------------------------------------------

  /**
   * {@code C = alpha * op(A) * op(B) + beta * C} on row-major matrices, {@code op} transposing when
   * asked; {@code C} is {@code m x n}, the inner size {@code k}. With {@code beta == 0}, {@code C}
   * is not read (NaNs in it do not survive).
   */
  void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      Tensor a,
      Tensor b,
      float beta,
      Tensor c);

  // ---- convolution ---------------------------------------------------------------------------

  /** {@code y = conv(x, w) + bias}; {@code bias} may be null. */
  void conv2dForward(ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor y);

  /**
   * Inference only, no gradient: {@code y = act(conv(x, w) + bias + residual)}, with {@code
   * residual} (shaped like y) optional and {@code act} ReLU or the identity. This is a frozen
   * backbone's whole conv → batch norm → (add) → ReLU once batch norm is folded into w and bias.
   *
   * <p>{@code w} and {@code bias} are constants: a backend may keep a prepared copy of them (the
   * CPU packs w for its GEMM) for as long as the tensors live, so they must not be modified after
   * the first call. The default runs the unfused ops.
   */
  default void conv2dBiasActivation(
      ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor residual, boolean relu, Tensor y) {
    unfusedBiasActivation(this, g, x, w, bias, residual, relu, y);
  }

  /**
   * {@link #conv2dBiasActivation} as {@code b}'s separate ops: its {@link #conv2dForward}, then the
   * residual add and ReLU on the output.
   */
  static void unfusedBiasActivation(
      Backend b,
      ConvGeometry g,
      Tensor x,
      Tensor w,
      Tensor bias,
      Tensor residual,
      boolean relu,
      Tensor y) {
    b.conv2dForward(g, x, w, bias, y);
    if (residual != null) {
      long[] strides = Shape.strides(y.shape());
      b.addBroadcast(y, strides, residual, strides, y);
    }
    if (relu) {
      b.relu(y, y);
    }
  }

  /** {@code dx = conv_transpose(dy, w)}, overwriting dx. */
  void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor w, Tensor dx);

  /** {@code dw = dy (*) x}, overwriting dw; {@code dbias} (may be null) gets the sum of dy. */
  void conv2dBackwardFilter(ConvGeometry g, Tensor x, Tensor dy, Tensor dw, Tensor dbias);

  /**
   * Both gradients of a convolution from one {@code dy}: {@code dx} (null when x needs none) as
   * {@link #conv2dBackwardData}, {@code dw} and {@code dbias} (null when not needed) as {@link
   * #conv2dBackwardFilter}. The default makes those two calls; a library that computes both in one
   * pass (ND4J's {@code conv2d_bp}) is called once here.
   */
  default void conv2dBackward(
      ConvGeometry g, Tensor x, Tensor dy, Tensor w, Tensor dx, Tensor dw, Tensor dbias) {
    if (dx != null) {
      conv2dBackwardData(g, dy, w, dx);
    }
    if (dw != null) {
      conv2dBackwardFilter(g, x, dy, dw, dbias);
    }
  }

  // ---- batch normalisation (per channel over N, H, W) -----------------------------------------

  /**
   * Training mode: normalise with the batch mean and biased variance, save the mean and {@code
   * 1/sqrt(var + eps)} for backward, and update the running statistics in place with {@code running
   * = (1 - momentum) * running + momentum * batch}, using the unbiased variance. The running
   * tensors may be null (no tracking).
   */
  void batchNormForwardTraining(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor weight,
      Tensor bias,
      Tensor runningMean,
      Tensor runningVar,
      float momentum,
      float eps,
      Tensor y,
      Tensor saveMean,
      Tensor saveInvStd);

  /** Evaluation mode: normalise with the running statistics. */
  void batchNormForwardInference(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor weight,
      Tensor bias,
      Tensor mean,
      Tensor var,
      float eps,
      Tensor y);

  /**
   * Backward of training mode, differentiating through the batch statistics saved by {@link
   * #batchNormForwardTraining}. Any of {@code dx}, {@code dweight}, {@code dbias} may be null when
   * not wanted.
   */
  void batchNormBackwardTraining(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor dy,
      Tensor weight,
      Tensor saveMean,
      Tensor saveInvStd,
      Tensor dx,
      Tensor dweight,
      Tensor dbias);

  /**
   * Backward of evaluation mode: the statistics are constants, so {@code dx = dy * weight /
   * sqrt(var + eps)}. Any of {@code dx}, {@code dweight}, {@code dbias} may be null.
   */
  void batchNormBackwardInference(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor dy,
      Tensor weight,
      Tensor mean,
      Tensor var,
      float eps,
      Tensor dx,
      Tensor dweight,
      Tensor dbias);

  // ---- pooling -------------------------------------------------------------------------------

  /** Max-pooling; padded positions never win. */
  void maxPool2dForward(ConvGeometry g, Tensor x, Tensor y);

  /**
   * Routes each output gradient to the input position that won the forward max (the first one in
   * row-major order on ties), accumulating where windows overlap; overwrites dx.
   */
  void maxPool2dBackward(ConvGeometry g, Tensor x, Tensor y, Tensor dy, Tensor dx);

  /** {@code y[nc] = mean over hw of x[nc, hw]}. */
  void globalAvgPoolForward(int nc, int hw, Tensor x, Tensor y);

  /** {@code dx[nc, hw] = dy[nc] / hw}. */
  void globalAvgPoolBackward(int nc, int hw, Tensor dy, Tensor dx);

  // ---- softmax and losses (rows of a [rows, cols] matrix) -------------------------------------

  /** Row-wise softmax. */
  void softmax(int rows, int cols, Tensor x, Tensor y);

  /** Row-wise log-softmax. */
  void logSoftmax(int rows, int cols, Tensor x, Tensor y);

  /** {@code dx = y * (dy - sum(dy * y))} per row, y the softmax output. */
  void softmaxBackward(int rows, int cols, Tensor y, Tensor dy, Tensor dx);

  /** {@code dx = dy - exp(y) * sum(dy)} per row, y the log-softmax output. */
  void logSoftmaxBackward(int rows, int cols, Tensor y, Tensor dy, Tensor dx);

  /**
   * Mean negative log-likelihood with label smoothing {@code s}: {@code out[0] = mean over rows of
   * -(1 - s) * logp[r, label[r]] - s / cols * sum(logp[r, :])}.
   */
  void nllLoss(int rows, int cols, Tensor logp, Tensor labels, float smoothing, Tensor out);

  /** The gradient of {@link #nllLoss} scaled by {@code gradOut} (a 1-element tensor). */
  void nllLossBackward(
      int rows, int cols, Tensor labels, float smoothing, Tensor gradOut, Tensor dlogp);

  // ---- optimizer updates (in place) -----------------------------------------------------------

  /**
   * One SGD step as PyTorch's {@code torch.optim.SGD} takes it. {@code momentumBuf} may be null
   * when momentum is 0; {@code firstStep} copies the gradient into it instead of decaying.
   */
  void sgdStep(
      Tensor param,
      Tensor grad,
      Tensor momentumBuf,
      float lr,
      float momentum,
      float dampening,
      float weightDecay,
      boolean nesterov,
      boolean firstStep);

  /** One AdamW step as PyTorch's {@code torch.optim.AdamW} takes it; {@code step} counts from 1. */
  void adamwStep(
      Tensor param,
      Tensor grad,
      Tensor expAvg,
      Tensor expAvgSq,
      float lr,
      float beta1,
      float beta2,
      float eps,
      float weightDecay,
      long step);
}
