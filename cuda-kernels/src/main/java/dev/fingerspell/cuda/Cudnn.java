package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * cuDNN 9 through {@code java.lang.foreign}: the legacy-API calls the CUDA backend makes
 * (descriptors, convolution forward and backward with algorithm choice, fused bias + activation,
 * batch norm). Handles and descriptors are opaque pointers, held as {@link MemorySegment}s; device
 * memory is passed as raw addresses. Every call's status is checked and a failure names the call
 * with cuDNN's own words for the status.
 *
 * <p>Descriptor calls run on the host and need no GPU; {@link #createHandle} and the compute calls
 * do.
 */
@SuppressWarnings("restricted") // reads the C strings cuDNN returns
final class Cudnn {
  // Enum values from cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h (cuDNN 9).
  static final int DATA_FLOAT = 0;
  static final int TENSOR_NCHW = 0;
  static final int CROSS_CORRELATION = 1;
  static final int DEFAULT_MATH = 0;
  static final int FMA_MATH = 3;
  static final int ACTIVATION_RELU = 1;
  static final int PROPAGATE_NAN = 1;
  static final int BATCHNORM_SPATIAL = 1;

  /**
   * The eps passed to the batch norm backward, which reads the inverse std the forward saved (eps
   * included) and so never uses it; PyTorch's default, as cuDNN asks for the forward's value.
   */
  static final double BN_BACKWARD_EPSILON = 1e-5;

  static final int STATUS_SUCCESS = 0;

  /** One row of an algorithm query (cudnnConvolution*AlgoPerf_t): all three kinds share it. */
  record Perf(int algo, int status, long memory) {}

  // cudnnConvolutionFwdAlgoPerf_t: algo, status, time (float), pad, memory (size_t),
  // determinism, mathType, reserved[3] -> 48 bytes.
  private static final long PERF_BYTES = 48;

  private static final MemorySegment ONE;
  private static final MemorySegment ZERO;

  static {
    MemorySegment constants = Arena.global().allocate(8, 4);
    constants.set(JAVA_FLOAT, 0, 1f);
    constants.set(JAVA_FLOAT, 4, 0f);
    ONE = constants.asSlice(0, 4);
    ZERO = constants.asSlice(4, 4);
  }

  private final MethodHandle getVersion;
  private final MethodHandle getErrorString;
  private final MethodHandle create;
  private final MethodHandle setStream;
  private final MethodHandle createTensor;
  private final MethodHandle setTensor4d;
  private final MethodHandle createFilter;
  private final MethodHandle setFilter4d;
  private final MethodHandle createConvolution;
  private final MethodHandle setConvolution2d;
  private final MethodHandle setConvolutionMathType;
  private final MethodHandle convolutionOutputDim;
  private final MethodHandle createActivation;
  private final MethodHandle setActivation;
  private final Map<Pass, MethodHandle> passes = new EnumMap<>(Pass.class);
  private final Map<Pass, MethodHandle> algorithmQueries = new EnumMap<>(Pass.class);
  private final Map<Pass, MethodHandle> workspaceQueries = new EnumMap<>(Pass.class);
  private final MethodHandle biasActivationForward;
  private final MethodHandle backwardBias;
  private final MethodHandle bnForwardTraining;
  private final MethodHandle bnForwardInference;
  private final MethodHandle bnBackward;

  Cudnn(CudaLibraries.Opened lib) {
    getVersion = Native.function(lib, "cudnnGetVersion", FunctionDescriptor.of(JAVA_LONG));
    getErrorString =
        Native.function(lib, "cudnnGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    create = bind(lib, "cudnnCreate", "*handle");
    setStream = bind(lib, "cudnnSetStream", "handle stream");
    createTensor = bind(lib, "cudnnCreateTensorDescriptor", "*desc");
    setTensor4d =
        bind(lib, "cudnnSetTensor4dDescriptor", "desc format:int type:int n:int c:int h:int w:int");
    createFilter = bind(lib, "cudnnCreateFilterDescriptor", "*desc");
    setFilter4d =
        bind(lib, "cudnnSetFilter4dDescriptor", "desc type:int format:int k:int c:int h:int w:int");
    createConvolution = bind(lib, "cudnnCreateConvolutionDescriptor", "*desc");
    setConvolution2d =
        bind(
            lib,
            "cudnnSetConvolution2dDescriptor",
            "desc padH:int padW:int u:int v:int dilationH:int dilationW:int mode:int type:int");
    setConvolutionMathType = bind(lib, "cudnnSetConvolutionMathType", "desc mathType:int");
    convolutionOutputDim =
        bind(lib, "cudnnGetConvolution2dForwardOutputDim", "conv xDesc wDesc *n *c *h *w");
    createActivation = bind(lib, "cudnnCreateActivationDescriptor", "*desc");
    setActivation =
        bind(lib, "cudnnSetActivationDescriptor", "desc mode:int nanOpt:int coef:double");
    String query = "handle aDesc bDesc conv outDesc requested:int *returned *perfResults";
    String workspaceQuery = "handle aDesc bDesc conv outDesc algo:int *bytes";
    String pass =
        "handle *alpha aDesc a bDesc b conv algo:int workspace bytes:long *beta outDesc out";
    for (Pass p : Pass.values()) {
      passes.put(p, bind(lib, p.call(), pass));
      algorithmQueries.put(p, bind(lib, p.algorithmQuery(), query));
      workspaceQueries.put(p, bind(lib, p.workspaceQuery(), workspaceQuery));
    }
    biasActivationForward =
        bind(
            lib,
            "cudnnConvolutionBiasActivationForward",
            "handle *alpha1 xDesc x wDesc w conv algo:int workspace bytes:long *alpha2 zDesc z"
                + " biasDesc bias activation yDesc y");
    backwardBias =
        bind(lib, "cudnnConvolutionBackwardBias", "handle *alpha dyDesc dy *beta dbDesc db");
    bnForwardTraining =
        bind(
            lib,
            "cudnnBatchNormalizationForwardTraining",
            "handle mode:int *alpha *beta xDesc x yDesc y bnDesc scale bias factor:double"
                + " runningMean runningVar eps:double saveMean saveInvVar");
    bnForwardInference =
        bind(
            lib,
            "cudnnBatchNormalizationForwardInference",
            "handle mode:int *alpha *beta xDesc x yDesc y bnDesc scale bias mean var eps:double");
    bnBackward =
        bind(
            lib,
            "cudnnBatchNormalizationBackward",
            "handle mode:int *alphaData *betaData *alphaParam *betaParam xDesc x dyDesc dy dxDesc"
                + " dx bnDesc scale dScale dBias eps:double saveMean saveInvVar");
  }

  private static MethodHandle bind(CudaLibraries.Opened lib, String name, String parameters) {
    return Native.function(lib, name, Native.prototype(parameters));
  }

  /** cuDNN's version as major.minor.patch. */
  String version() {
    return version(getVersion);
  }

  /** The version of an opened cuDNN, without binding the rest (the probe asks this). */
  static String version(CudaLibraries.Opened lib) {
    return version(Native.function(lib, "cudnnGetVersion", FunctionDescriptor.of(JAVA_LONG)));
  }

  /**
   * The CUDA runtime version this cuDNN was built for, as CUDA numbers it (12060 for 12.6): a
   * driver older than its major version cannot run it.
   */
  static long cudartVersion(CudaLibraries.Opened lib) {
    return (long)
        Native.value(
            Native.function(lib, "cudnnGetCudartVersion", FunctionDescriptor.of(JAVA_LONG)));
  }

  private static String version(MethodHandle getVersion) {
    long v = (long) Native.value(getVersion);
    return v / 10000 + "." + v % 10000 / 100 + "." + v % 100;
  }

  /** cuDNN's name for a status code. */
  String errorString(int status) {
    MemorySegment s = (MemorySegment) Native.value(getErrorString, status);
    return s.equals(MemorySegment.NULL) ? "status " + status : s.reinterpret(256).getString(0);
  }

  private void check(int status, String call) {
    if (status != STATUS_SUCCESS) {
      throw new CudaException(
          "cuDNN " + call + " failed: " + errorString(status) + " (" + status + ")", status);
    }
  }

  /** Calls a status-returning function whose first argument receives a new opaque pointer. */
  private MemorySegment created(MethodHandle fn, String call) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(ADDRESS);
      check(Native.status(fn, out), call);
      return out.get(ADDRESS, 0);
    }
  }

  // ---- handle and descriptors (host only but for the handle) ---------------------------------

  /** A cuDNN handle on the current context whose calls queue on {@code stream} (needs a GPU). */
  MemorySegment createHandle(long stream) {
    MemorySegment handle = created(create, "cudnnCreate");
    setStream(handle, stream);
    return handle;
  }

  /** Puts a handle's calls on {@code stream}, a {@code cudaStream_t}. */
  void setStream(MemorySegment handle, long stream) {
    check(Native.status(setStream, handle, Native.pointer(stream)), "cudnnSetStream");
  }

  /** An NCHW float tensor descriptor. */
  MemorySegment tensor(int n, int c, int h, int w) {
    MemorySegment d = created(createTensor, "cudnnCreateTensorDescriptor");
    check(
        Native.status(setTensor4d, d, TENSOR_NCHW, DATA_FLOAT, n, c, h, w),
        "cudnnSetTensor4dDescriptor(" + n + "," + c + "," + h + "," + w + ")");
    return d;
  }

  /** A KCRS float filter descriptor. */
  MemorySegment filter(int k, int c, int h, int w) {
    MemorySegment d = created(createFilter, "cudnnCreateFilterDescriptor");
    check(
        Native.status(setFilter4d, d, DATA_FLOAT, TENSOR_NCHW, k, c, h, w),
        "cudnnSetFilter4dDescriptor(" + k + "," + c + "," + h + "," + w + ")");
    return d;
  }

  /** A cross-correlation (what deep learning calls convolution) with float accumulation. */
  MemorySegment convolution(int padH, int padW, int strideH, int strideW, int mathType) {
    MemorySegment d = created(createConvolution, "cudnnCreateConvolutionDescriptor");
    check(
        Native.status(
            setConvolution2d, d, padH, padW, strideH, strideW, 1, 1, CROSS_CORRELATION, DATA_FLOAT),
        "cudnnSetConvolution2dDescriptor");
    check(Native.status(setConvolutionMathType, d, mathType), "cudnnSetConvolutionMathType");
    return d;
  }

  /** The output shape cuDNN computes for a convolution, as {n, c, h, w}. */
  int[] convolutionOutput(MemorySegment conv, MemorySegment x, MemorySegment w) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment out = arena.allocate(JAVA_INT, 4);
      check(
          Native.status(
              convolutionOutputDim,
              conv,
              x,
              w,
              out.asSlice(0, 4),
              out.asSlice(4, 4),
              out.asSlice(8, 4),
              out.asSlice(12, 4)),
          "cudnnGetConvolution2dForwardOutputDim");
      return out.toArray(JAVA_INT);
    }
  }

  /** A ReLU (or identity) activation that lets NaN through, as PyTorch's does. */
  MemorySegment activation(int mode) {
    MemorySegment d = created(createActivation, "cudnnCreateActivationDescriptor");
    check(
        Native.status(setActivation, d, mode, PROPAGATE_NAN, 0.0), "cudnnSetActivationDescriptor");
    return d;
  }

  // ---- algorithm choice ------------------------------------------------------------------------

  private List<Perf> perfs(MethodHandle fn, String call, Object... descriptors) {
    int requested = 8;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment count = arena.allocate(JAVA_INT);
      MemorySegment results = arena.allocate(PERF_BYTES * requested, 8);
      Object[] args = new Object[descriptors.length + 3];
      System.arraycopy(descriptors, 0, args, 0, descriptors.length);
      args[descriptors.length] = requested;
      args[descriptors.length + 1] = count;
      args[descriptors.length + 2] = results;
      check(Native.status(fn, args), call);
      List<Perf> out = new ArrayList<>();
      for (int i = 0; i < count.get(JAVA_INT, 0); i++) {
        long o = i * PERF_BYTES;
        out.add(
            new Perf(
                results.get(JAVA_INT, o),
                results.get(JAVA_INT, o + 4),
                results.get(JAVA_LONG, o + 16)));
      }
      return out;
    }
  }

  private long workspace(MethodHandle fn, String call, Object... args) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment size = arena.allocate(JAVA_LONG);
      Object[] all = java.util.Arrays.copyOf(args, args.length + 1);
      all[args.length] = size;
      check(Native.status(fn, all), call);
      return size.get(JAVA_LONG, 0);
    }
  }

  /**
   * cuDNN's heuristic ranking of algorithms for a pass, best first; the operands' descriptors in
   * the order of {@link #convolution}: (a, b, conv, out).
   */
  List<Perf> algorithms(
      Pass pass,
      MemorySegment handle,
      MemorySegment a,
      MemorySegment b,
      MemorySegment conv,
      MemorySegment out) {
    return perfs(algorithmQueries.get(pass), pass.algorithmQuery(), handle, a, b, conv, out);
  }

  /** The workspace an algorithm needs for a pass, operands as for {@link #algorithms}. */
  long workspaceBytes(
      Pass pass,
      MemorySegment handle,
      MemorySegment a,
      MemorySegment b,
      MemorySegment conv,
      MemorySegment out,
      int algo) {
    return workspace(
        workspaceQueries.get(pass), pass.workspaceQuery(), handle, a, b, conv, out, algo);
  }

  // ---- compute (device addresses) --------------------------------------------------------------

  /**
   * The forward, backward-data and backward-filter calls: {@code out = op(a, b)}, overwritten. Each
   * has its call, its algorithm query and its workspace query, named alike in cuDNN.
   */
  enum Pass {
    FORWARD("Forward"),
    BACKWARD_DATA("BackwardData"),
    BACKWARD_FILTER("BackwardFilter");

    private final String name;

    Pass(String name) {
      this.name = name;
    }

    String call() {
      return "cudnnConvolution" + name;
    }

    String algorithmQuery() {
      return "cudnnGetConvolution" + name + "Algorithm_v7";
    }

    String workspaceQuery() {
      return "cudnnGetConvolution" + name + "WorkspaceSize";
    }
  }

  /**
   * One convolution pass: forward takes (x, w) into y, backward-data (w, dy) into dx,
   * backward-filter (x, dy) into dw, each with the descriptors of its operands, in that order.
   */
  void convolution(
      Pass pass,
      MemorySegment handle,
      MemorySegment aDesc,
      long a,
      MemorySegment bDesc,
      long b,
      MemorySegment conv,
      int algo,
      long workspace,
      long workspaceBytes,
      MemorySegment outDesc,
      long out) {
    check(
        Native.status(
            passes.get(pass),
            handle,
            ONE,
            aDesc,
            Native.pointer(a),
            bDesc,
            Native.pointer(b),
            conv,
            algo,
            Native.pointer(workspace),
            workspaceBytes,
            ZERO,
            outDesc,
            Native.pointer(out)),
        pass.call());
  }

  /**
   * y = act(conv(x, w) + z + bias) with z the residual (or y itself, weighted 0, when there is
   * none). Returns the status so that the caller can fall back when cuDNN does not support a case.
   */
  int convolutionBiasActivationForward(
      MemorySegment handle,
      MemorySegment xDesc,
      long x,
      MemorySegment wDesc,
      long w,
      MemorySegment conv,
      int algo,
      long workspace,
      long workspaceBytes,
      long z,
      boolean hasResidual,
      MemorySegment biasDesc,
      long bias,
      MemorySegment activation,
      MemorySegment yDesc,
      long y) {
    return Native.status(
        biasActivationForward,
        handle,
        ONE,
        xDesc,
        Native.pointer(x),
        wDesc,
        Native.pointer(w),
        conv,
        algo,
        Native.pointer(workspace),
        workspaceBytes,
        hasResidual ? ONE : ZERO,
        yDesc,
        Native.pointer(z),
        biasDesc,
        Native.pointer(bias),
        activation,
        yDesc,
        Native.pointer(y));
  }

  /** dbias = sum of dy over n, h, w, overwriting dbias. */
  void convolutionBackwardBias(
      MemorySegment handle, MemorySegment dyDesc, long dy, MemorySegment biasDesc, long dbias) {
    check(
        Native.status(
            backwardBias,
            handle,
            ONE,
            dyDesc,
            Native.pointer(dy),
            ZERO,
            biasDesc,
            Native.pointer(dbias)),
        "cudnnConvolutionBackwardBias");
  }

  /** Training-mode batch norm (spatial), updating the running statistics when given. */
  void batchNormForwardTraining(
      MemorySegment handle,
      MemorySegment xDesc,
      long x,
      long y,
      MemorySegment bnDesc,
      long scale,
      long bias,
      double momentum,
      long runningMean,
      long runningVar,
      double eps,
      long saveMean,
      long saveInvStd) {
    check(
        Native.status(
            bnForwardTraining,
            handle,
            BATCHNORM_SPATIAL,
            ONE,
            ZERO,
            xDesc,
            Native.pointer(x),
            xDesc,
            Native.pointer(y),
            bnDesc,
            Native.pointer(scale),
            Native.pointer(bias),
            momentum,
            Native.pointer(runningMean),
            Native.pointer(runningVar),
            eps,
            Native.pointer(saveMean),
            Native.pointer(saveInvStd)),
        "cudnnBatchNormalizationForwardTraining");
  }

  /** Evaluation-mode batch norm with the running statistics. */
  void batchNormForwardInference(
      MemorySegment handle,
      MemorySegment xDesc,
      long x,
      long y,
      MemorySegment bnDesc,
      long scale,
      long bias,
      long mean,
      long var,
      double eps) {
    check(
        Native.status(
            bnForwardInference,
            handle,
            BATCHNORM_SPATIAL,
            ONE,
            ZERO,
            xDesc,
            Native.pointer(x),
            xDesc,
            Native.pointer(y),
            bnDesc,
            Native.pointer(scale),
            Native.pointer(bias),
            Native.pointer(mean),
            Native.pointer(var),
            eps),
        "cudnnBatchNormalizationForwardInference");
  }

  /** Backward of training-mode batch norm from the saved batch statistics; overwrites outputs. */
  void batchNormBackward(
      MemorySegment handle,
      MemorySegment xDesc,
      long x,
      long dy,
      long dx,
      MemorySegment bnDesc,
      long scale,
      long dScale,
      long dBias,
      double eps,
      long saveMean,
      long saveInvStd) {
    check(
        Native.status(
            bnBackward,
            handle,
            BATCHNORM_SPATIAL,
            ONE,
            ZERO,
            ONE,
            ZERO,
            xDesc,
            Native.pointer(x),
            xDesc,
            Native.pointer(dy),
            xDesc,
            Native.pointer(dx),
            bnDesc,
            Native.pointer(scale),
            Native.pointer(dScale),
            Native.pointer(dBias),
            eps,
            Native.pointer(saveMean),
            Native.pointer(saveInvStd)),
        "cudnnBatchNormalizationBackward");
  }
}
