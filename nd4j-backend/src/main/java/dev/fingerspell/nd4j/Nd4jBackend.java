package dev.fingerspell.nd4j;

import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Shape;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.cpu.CpuBackend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.cpu.nativecpu.CpuEnvironment;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The optional CPU fallback: convolutions through ND4J, which runs them with oneDNN, on the same
 * host arrays as the pure-Java backend; every other op is the pure-Java one. Chosen by name ({@code
 * --device nd4j}, {@code runtime.device=nd4j}), never by default: its priority is below the
 * pure-Java backend's.
 *
 * <p>Only convolutions come here because only they were measured faster in ND4J on some shapes
 * (docs/engine.md, "ND4J"): its batch norm, max pool and GEMM were 1–4× slower than ours. A
 * convolution's backward is one {@code conv2d_bp} (oneDNN), which gives the input and the filter
 * gradients together; ND4J's input-only {@code conv2d_input_bp} runs without oneDNN, 10–70× slower.
 * Each call copies its operands into ND4J's off-heap arrays and the result back: ND4J cannot
 * compute on a Java array.
 */
public class Nd4jBackend extends CpuBackend {
  private static final int DATA_FORMAT_NCHW = 0;
  private static final int WEIGHTS_OIHW = 1;

  /** For {@link java.util.ServiceLoader}; ND4J itself loads on first use, not here. */
  public Nd4jBackend() {}

  @Override
  public String name() {
    return "nd4j";
  }

  @Override
  public int priority() {
    return -10; // only when asked for by name
  }

  @Override
  public boolean isAvailable() {
    return Native.FAILURE == null;
  }

  @Override
  public String unavailableReason() {
    return Native.FAILURE == null ? "" : Native.FAILURE;
  }

  @Override
  public String describe() {
    if (Native.FAILURE != null) {
      return "";
    }
    CpuEnvironment env = (CpuEnvironment) Nd4j.getEnvironment();
    return "ND4J 1.0.0-M2.1 with oneDNN for convolutions, "
        + env.maxThreads()
        + " threads; the pure-Java kernels for the rest";
  }

  /** Loads ND4J's native library once, on the first question, and keeps why it failed. */
  private static final class Native {
    static final String FAILURE = load();

    private static String load() {
      try {
        if (!(Nd4j.getEnvironment() instanceof CpuEnvironment env)) {
          return "ND4J loaded a backend other than nd4j-native";
        }
        env.allowHelpers(true); // oneDNN: without it ND4J's convolutions are 10-35x slower
        env.setMaxThreads(Integer.getInteger("fingerspell.cpu.threads", env.maxThreads()));
        return null;
      } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ND4J's own
        return "ND4J's native library did not load ("
            + firstLine(e)
            + "): it needs Linux x86-64 with glibc, and nd4j-native's linux-x86_64-onednn jar on"
            + " the class path";
      }
    }

    private static String firstLine(Throwable e) {
      Throwable root = e;
      while (root.getCause() != null) {
        root = root.getCause();
      }
      String m = String.valueOf(root.getMessage());
      int nl = m.indexOf('\n');
      return root.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl));
    }
  }

  // ---- convolution ---------------------------------------------------------------------------

  @Override
  public void conv2dForward(ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor y) {
    try (INDArray xi = in(x);
        INDArray wi = in(w);
        INDArray bi = bias == null ? null : in(bias);
        INDArray yi = out(y)) {
      DynamicCustomOp.DynamicCustomOpsBuilder op =
          DynamicCustomOp.builder("conv2d").addIntegerArguments(convArgs(g));
      op = bi == null ? op.addInputs(xi, wi) : op.addInputs(xi, wi, bi);
      Nd4j.exec(op.addOutputs(yi).build());
      back(yi, y);
    }
  }

  /** The unfused ops: ND4J's convolution, then our residual add and ReLU on its output. */
  @Override
  public void conv2dBiasActivation(
      ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor residual, boolean relu, Tensor y) {
    conv2dForward(g, x, w, bias, y);
    if (residual != null) {
      long[] strides = Shape.strides(y.shape());
      addBroadcast(y, strides, residual, strides, y);
    }
    if (relu) {
      relu(y, y);
    }
  }

  @Override
  public void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor w, Tensor dx) {
    // conv2d_bp wants the input for the filter gradient it always computes; zeros serve, as the
    // input gradient does not depend on it
    Tensor x = dx.newZeros(dx.shape());
    conv2dBackward(g, x, dy, w, dx, null, null);
  }

  @Override
  public void conv2dBackwardFilter(ConvGeometry g, Tensor x, Tensor dy, Tensor dw, Tensor dbias) {
    Tensor w = dw.newZeros(dw.shape()); // the input gradient it also computes is thrown away
    conv2dBackward(g, x, dy, w, null, dw, dbias);
  }

  /** One {@code conv2d_bp}: the input, filter and bias gradients in one pass. */
  @Override
  public void conv2dBackward(
      ConvGeometry g, Tensor x, Tensor dy, Tensor w, Tensor dx, Tensor dw, Tensor dbias) {
    try (INDArray xi = in(x);
        INDArray wi = in(w);
        INDArray dyi = in(dy);
        INDArray dxi = Nd4j.createUninitialized(DataType.FLOAT, longs(x.shape()));
        INDArray dwi = Nd4j.createUninitialized(DataType.FLOAT, longs(w.shape()));
        // a bias input makes it compute the bias gradient; its values are not read
        INDArray bi = dbias == null ? null : Nd4j.zeros(DataType.FLOAT, g.outChannels());
        INDArray dbi = dbias == null ? null : out(dbias)) {
      DynamicCustomOp.DynamicCustomOpsBuilder op =
          DynamicCustomOp.builder("conv2d_bp").addIntegerArguments(convArgs(g));
      op =
          bi == null
              ? op.addInputs(xi, wi, dyi).addOutputs(dxi, dwi)
              : op.addInputs(xi, wi, bi, dyi).addOutputs(dxi, dwi, dbi);
      Nd4j.exec(op.build());
      if (dx != null) {
        back(dxi, dx);
      }
      if (dw != null) {
        back(dwi, dw);
      }
      if (dbias != null) {
        back(dbi, dbias);
      }
    }
  }

  /** ND4J's integer arguments of conv2d and conv2d_bp, for NCHW data and OIHW weights as ours. */
  private static int[] convArgs(ConvGeometry g) {
    return new int[] {
      g.kernelH(),
      g.kernelW(),
      g.strideH(),
      g.strideW(),
      g.padH(),
      g.padW(),
      1, // dilation
      1,
      0, // explicit padding, not "same"
      DATA_FORMAT_NCHW,
      WEIGHTS_OIHW
    };
  }

  // ---- copies between our arrays and ND4J's ---------------------------------------------------

  /** A new ND4J array holding a copy of {@code t}. */
  private static INDArray in(Tensor t) {
    INDArray a = Nd4j.createUninitialized(DataType.FLOAT, longs(t.shape()));
    MemorySegment.copy(
        hostArray(t), (int) t.offset(), segment(a), ValueLayout.JAVA_FLOAT, 0, (int) t.numel());
    return a;
  }

  /** A new ND4J array shaped like {@code t}, for a result. */
  private static INDArray out(Tensor t) {
    return Nd4j.createUninitialized(DataType.FLOAT, longs(t.shape()));
  }

  /** Copies ND4J's result into {@code t}. */
  private static void back(INDArray a, Tensor t) {
    MemorySegment.copy(
        segment(a), ValueLayout.JAVA_FLOAT, 0, hostArray(t), (int) t.offset(), (int) t.numel());
  }

  /** The native memory of a fresh, contiguous ND4J array. */
  @SuppressWarnings("restricted") // ND4J's address, as long as the array it came from
  private static MemorySegment segment(INDArray a) {
    return MemorySegment.ofAddress(a.data().address() + a.offset() * Float.BYTES)
        .reinterpret(a.length() * Float.BYTES);
  }

  private static long[] longs(int[] shape) {
    long[] l = new long[shape.length];
    for (int i = 0; i < shape.length; i++) {
      l[i] = shape[i];
    }
    return l;
  }
}
