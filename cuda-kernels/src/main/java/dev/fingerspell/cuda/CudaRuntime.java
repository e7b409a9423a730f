package dev.fingerspell.cuda;

import dev.fingerspell.tensor.ConvGeometry;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One GPU as the backend uses it: the driver with our kernels, the caching allocator, cuDNN and
 * cuBLAS with a handle each, a shared workspace, and the descriptors and algorithm choices of every
 * convolution and batch norm shape seen so far (made once per shape: a network has few).
 *
 * <p>cuDNN and cuBLAS handles are not safe for concurrent use, so their calls hold this runtime's
 * lock; our kernels need none.
 */
final class CudaRuntime {
  /** Workspace cuDNN may use for one convolution: algorithms asking more are passed over. */
  private static final long WORKSPACE_LIMIT = 1L << 30;

  final DeviceApi device;
  final CudaAllocator allocator;
  final Cudnn cudnn;
  final Cublas cublas;
  final boolean tf32;
  private final MemorySegment cudnnHandle;
  private final MemorySegment cublasHandle;
  private final MemorySegment relu;
  private final Map<ConvGeometry, ConvPlan> convPlans = new ConcurrentHashMap<>();
  private final Map<List<Integer>, MemorySegment[]> normDescriptors = new ConcurrentHashMap<>();
  private DevicePointer workspace;
  private long workspaceBytes;

  /** A convolution shape's descriptors and chosen algorithms (found on first use). */
  static final class ConvPlan {
    final MemorySegment x;
    final MemorySegment w;
    final MemorySegment y;
    final MemorySegment conv;
    final MemorySegment bias;

    /** Per {@link Cudnn.Pass}: the chosen algorithm (-1 until chosen) and its workspace. */
    final int[] algo = {-1, -1, -1};

    final long[] workspaceBytes = new long[3];
    boolean fusedUnsupported;

    ConvPlan(Cudnn cudnn, ConvGeometry g, int mathType) {
      x = cudnn.tensor(g.batch(), g.inChannels(), g.inHeight(), g.inWidth());
      w = cudnn.filter(g.outChannels(), g.inChannels(), g.kernelH(), g.kernelW());
      y = cudnn.tensor(g.batch(), g.outChannels(), g.outHeight(), g.outWidth());
      conv = cudnn.convolution(g.padH(), g.padW(), g.strideH(), g.strideW(), mathType);
      bias = cudnn.tensor(1, g.outChannels(), 1, 1);
      int[] out = cudnn.convolutionOutput(conv, x, w);
      if (out[2] != g.outHeight() || out[3] != g.outWidth()) {
        throw new IllegalStateException(
            "cuDNN computes output " + java.util.Arrays.toString(out) + " for " + g);
      }
    }
  }

  /** A pass's operand descriptors in {@link Cudnn#convolution}'s order: {a, b, out}. */
  static MemorySegment[] operands(ConvPlan p, Cudnn.Pass pass) {
    return switch (pass) {
      case FORWARD -> new MemorySegment[] {p.x, p.w, p.y};
      case BACKWARD_DATA -> new MemorySegment[] {p.w, p.y, p.x};
      case BACKWARD_FILTER -> new MemorySegment[] {p.x, p.y, p.w};
    };
  }

  /** Chooses a pass's algorithm for a shape on first use; call with the lock held. */
  void chooseAlgorithm(ConvPlan p, Cudnn.Pass pass) {
    int k = pass.ordinal();
    if (p.algo[k] >= 0) {
      return;
    }
    MemorySegment[] d = operands(p, pass);
    long[] c = choose(cudnn.algorithms(pass, cudnnHandle, d[0], d[1], p.conv, d[2]), pass.name());
    p.workspaceBytes[k] =
        Math.max(
            c[1], cudnn.workspaceBytes(pass, cudnnHandle, d[0], d[1], p.conv, d[2], (int) c[0]));
    p.algo[k] = (int) c[0];
  }

  /** GPU {@code ordinal} with cuDNN and cuBLAS. */
  static CudaRuntime open(
      int ordinal, CudaLibraries.Opened cudnnLib, CudaLibraries.Opened cublasLib) {
    CudaDriver driver = CudaDriver.open(ordinal);
    boolean tf32 = Boolean.getBoolean("fingerspell.cuda.tf32");
    return new CudaRuntime(driver, new Cudnn(cudnnLib), new Cublas(cublasLib), tf32);
  }

  /** A runtime on {@code device}; cuDNN and cuBLAS may be null (the host emulator has neither). */
  CudaRuntime(DeviceApi device, Cudnn cudnn, Cublas cublas, boolean tf32) {
    this.device = device;
    long[] memory = device.memoryInfo();
    long softLimit =
        Long.getLong(
            "fingerspell.cuda.softLimitBytes", (long) (Math.min(memory[0], memory[1]) * 0.8));
    allocator = new CudaAllocator(device, softLimit);
    this.tf32 = tf32;
    this.cudnn = cudnn;
    this.cublas = cublas;
    cudnnHandle = cudnn == null ? null : cudnn.createHandle();
    cublasHandle = cublas == null ? null : cublas.createHandle(tf32);
    relu = cudnn == null ? null : cudnn.activation(Cudnn.ACTIVATION_RELU);
  }

  /** Fails for the calls that need cuDNN or cuBLAS where they are absent (the host emulator). */
  void requireLibraries(String op) {
    if (cudnn == null || cublas == null) {
      throw new UnsupportedOperationException(
          op + " needs cuDNN and cuBLAS, which " + device.name() + " does not have");
    }
  }

  /** One line for `fingerspell backends` and logs. */
  String describe() {
    return "cuda:"
        + device.ordinal()
        + " "
        + device.name()
        + (cudnn == null ? "" : ", cuDNN " + cudnn.version())
        + (cublas == null ? "" : ", cuBLAS " + cublas.version())
        + (tf32 ? ", TF32 on" : ", TF32 off");
  }

  MemorySegment cudnnHandle() {
    return cudnnHandle;
  }

  MemorySegment cublasHandle() {
    return cublasHandle;
  }

  MemorySegment reluActivation() {
    return relu;
  }

  /** The descriptors of a convolution shape, made on first use. */
  ConvPlan plan(ConvGeometry g) {
    return convPlans.computeIfAbsent(
        g, k -> new ConvPlan(cudnn, k, tf32 ? Cudnn.DEFAULT_MATH : Cudnn.FMA_MATH));
  }

  /** {x [n, c, hw, 1], per-channel [1, c, 1, 1]} descriptors for batch norm. */
  MemorySegment[] normDescriptors(int n, int c, int hw) {
    return normDescriptors.computeIfAbsent(
        List.of(n, c, hw),
        k -> new MemorySegment[] {cudnn.tensor(n, c, hw, 1), cudnn.tensor(1, c, 1, 1)});
  }

  /**
   * The first of cuDNN's ranked algorithms that succeeded in its query and fits the workspace
   * limit: {algo, bytes}.
   */
  static long[] choose(List<Cudnn.Perf> ranked, String what) {
    for (Cudnn.Perf p : ranked) {
      if (p.status() == Cudnn.STATUS_SUCCESS && p.memory() <= WORKSPACE_LIMIT) {
        return new long[] {p.algo(), p.memory()};
      }
    }
    throw new CudaException("cuDNN offers no " + what + " algorithm for this shape", -1);
  }

  /** The shared workspace, grown to at least {@code bytes}; call with the lock held. */
  long workspace(long bytes) {
    if (bytes > workspaceBytes) {
      if (workspace != null) {
        device.synchronize(); // the old one may still be in use by queued work
        device.free(workspace);
        workspace = null;
        workspaceBytes = 0;
      }
      DevicePointer p = device.tryAlloc(bytes);
      if (p == null) {
        allocator.collectGarbage();
        allocator.emptyCache();
        p = device.tryAlloc(bytes);
      }
      if (p == null) {
        throw new CudaException(
            "out of GPU memory for a " + bytes / 1048576 + " MiB cuDNN workspace", 2);
      }
      workspace = p;
      workspaceBytes = bytes;
    }
    return workspace == null ? 0 : workspace.address();
  }
}
