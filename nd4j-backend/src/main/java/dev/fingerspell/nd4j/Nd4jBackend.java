package dev.fingerspell.nd4j;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.cpu.CpuBackend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.MirroringPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
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
 * <p>Only convolutions come here: they are nearly all of the network's time, and ND4J's batch norm,
 * max pool and GEMM were 1–4× slower than ours (bench/results/cpu-nd4j-2026-12-04.md). A
 * convolution's backward is one {@code conv2d_bp} (oneDNN), which gives the input and the filter
 * gradients together; ND4J's input-only {@code conv2d_input_bp} runs without oneDNN, 10–70× slower.
 * Each call copies its operands into ND4J's off-heap arrays and the result back: ND4J cannot
 * compute on a Java array.
 *
 * <p>Where C2 compiles the Vector API to SIMD the pure-Java backend is 2–3× faster than this one;
 * where it does not, the pure-Java convolutions are about 50× slower and this backend is the way
 * out (same file).
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
    try (MemoryWorkspace ws = workspace()) {
      INDArray xi = in(x);
      INDArray wi = in(w);
      INDArray yi = out(y);
      DynamicCustomOp.DynamicCustomOpsBuilder op =
          DynamicCustomOp.builder("conv2d").addIntegerArguments(convArgs(g));
      op = bias == null ? op.addInputs(xi, wi) : op.addInputs(xi, wi, in(bias));
      Nd4j.exec(op.addOutputs(yi).build());
      back(yi, y);
    }
  }

  /** The unfused ops: ND4J's convolution, then our residual add and ReLU on its output. */
  @Override
  public void conv2dBiasActivation(
      ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor residual, boolean relu, Tensor y) {
    Backend.unfusedBiasActivation(this, g, x, w, bias, residual, relu, y);
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
    try (MemoryWorkspace ws = workspace()) {
      INDArray xi = in(x);
      INDArray wi = in(w);
      INDArray dyi = in(dy);
      INDArray dxi = out(x);
      INDArray dwi = out(w);
      DynamicCustomOp.DynamicCustomOpsBuilder op =
          DynamicCustomOp.builder("conv2d_bp").addIntegerArguments(convArgs(g));
      INDArray dbi = null;
      if (dbias == null) {
        op = op.addInputs(xi, wi, dyi).addOutputs(dxi, dwi);
      } else {
        // a bias input makes it compute the bias gradient; its values are not read
        INDArray bi = Nd4j.zeros(DataType.FLOAT, g.outChannels());
        dbi = out(dbias);
        op = op.addInputs(xi, wi, bi, dyi).addOutputs(dxi, dwi, dbi);
      }
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

  /**
   * Each op's ND4J arrays come from one workspace per thread, reused from call to call: fresh
   * off-heap arrays at every call were page-faulted in every time (the 64×64 demo's epoch took 28.1
   * s that way, 16.6 s with the workspace). It grows to the largest op's operands and keeps them
   * for the thread's life.
   */
  private static final WorkspaceConfiguration WORKSPACE =
      WorkspaceConfiguration.builder()
          .initialSize(0)
          .policyAllocation(AllocationPolicy.OVERALLOCATE)
          .overallocationLimit(0.1)
          .policyLearning(LearningPolicy.FIRST_LOOP)
          .policySpill(SpillPolicy.REALLOCATE)
          .policyMirroring(MirroringPolicy.FULL)
          .build();

  private static MemoryWorkspace workspace() {
    return Nd4j.getWorkspaceManager().getAndActivateWorkspace(WORKSPACE, "fingerspell-nd4j");
  }

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
