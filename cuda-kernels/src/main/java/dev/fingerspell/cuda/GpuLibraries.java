package dev.fingerspell.cuda;

import dev.fingerspell.tensor.ConvGeometry;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * cuDNN and cuBLAS for one GPU: a handle each, a shared workspace, and the descriptors and
 * algorithm choices of every convolution and batch norm shape seen so far (made once per shape: a
 * network has few). The handles are not safe for concurrent use, so every call holds this object's
 * lock.
 */
final class GpuLibraries implements Libraries {
  /** Workspace cuDNN may use for one convolution: algorithms asking more are passed over. */
  private static final long WORKSPACE_LIMIT = 1L << 30;

  /**
   * Whether the frozen network's conv + bias (+ residual) + ReLU is one cuDNN call; {@code
   * -Dfingerspell.cuda.fused=false} runs the convolution and our epilogue kernel instead (the GPU
   * check measures both).
   */
  private static final boolean FUSED =
      Boolean.parseBoolean(System.getProperty("fingerspell.cuda.fused", "true"));

  private final DeviceApi device;
  private final CudaAllocator allocator;
  final Cudnn cudnn;
  final Cublas cublas;
  private final boolean tf32;
  private final MemorySegment cudnnHandle;
  private final MemorySegment cublasHandle;
  private final MemorySegment relu;
  private final Map<ConvGeometry, ConvPlan> convPlans = new ConcurrentHashMap<>();
  private final Map<List<Integer>, MemorySegment[]> normDescriptors = new ConcurrentHashMap<>();
  private final List<String> declined = new CopyOnWriteArrayList<>();
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

  /** The libraries on {@code device}, their calls queued on {@code stream} with our kernels. */
  GpuLibraries(
      DeviceApi device,
      long stream,
      CudaAllocator allocator,
      Cudnn cudnn,
      Cublas cublas,
      boolean tf32) {
    this.device = device;
    this.allocator = allocator;
    this.cudnn = cudnn;
    this.cublas = cublas;
    this.tf32 = tf32;
    cudnnHandle = cudnn.createHandle(stream);
    cublasHandle = cublas.createHandle(tf32, stream);
    relu = cudnn.activation(Cudnn.ACTIVATION_RELU);
  }

  @Override
  public String describe() {
    return "cuDNN "
        + cudnn.version()
        + ", cuBLAS "
        + cublas.version()
        + (tf32 ? ", TF32 on" : ", TF32 off")
        + (FUSED ? "" : ", conv + bias + ReLU unfused");
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
  private void chooseAlgorithm(ConvPlan p, Cudnn.Pass pass) {
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
        device.free(workspace); // waits for the queued work that may still use it
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

  // ---- the calls ------------------------------------------------------------------------------

  @Override
  public synchronized void convolution(Cudnn.Pass pass, ConvGeometry g, long a, long b, long out) {
    ConvPlan p = plan(g);
    chooseAlgorithm(p, pass);
    int k = pass.ordinal();
    MemorySegment[] d = operands(p, pass);
    cudnn.convolution(
        pass,
        cudnnHandle,
        d[0],
        a,
        d[1],
        b,
        p.conv,
        p.algo[k],
        workspace(p.workspaceBytes[k]),
        p.workspaceBytes[k],
        d[2],
        out);
  }

  @Override
  public synchronized boolean convolutionBiasRelu(
      ConvGeometry g, long x, long w, long bias, long residual, long y) {
    ConvPlan p = plan(g);
    if (p.fusedUnsupported || !FUSED) {
      return false;
    }
    chooseAlgorithm(p, Cudnn.Pass.FORWARD);
    long bytes = p.workspaceBytes[0];
    int status =
        cudnn.convolutionBiasActivationForward(
            cudnnHandle,
            p.x,
            x,
            p.w,
            w,
            p.conv,
            p.algo[0],
            workspace(bytes),
            bytes,
            residual != 0 ? residual : y,
            residual != 0,
            p.bias,
            bias,
            relu,
            p.y,
            y);
    if (status == Cudnn.STATUS_SUCCESS) {
      return true;
    }
    // cuDNN declines some shapes (NOT_SUPPORTED) and some algorithm choices: this shape takes the
    // unfused path from now on, and the status is kept for the GPU check's log.
    p.fusedUnsupported = true;
    declined.add(g + ": " + cudnn.errorString(status));
    return false;
  }

  @Override
  public List<String> declined() {
    return List.copyOf(declined);
  }

  @Override
  public List<String> plans() {
    List<String> lines = new java.util.ArrayList<>();
    convPlans.forEach(
        (g, p) -> {
          StringBuilder line = new StringBuilder(g.toString());
          for (Cudnn.Pass pass : Cudnn.Pass.values()) {
            int k = pass.ordinal();
            if (p.algo[k] >= 0) {
              line.append(
                  String.format(
                      " %s algo %d (%.1f MiB)", pass, p.algo[k], p.workspaceBytes[k] / 1048576.0));
            }
          }
          lines.add(line.append(p.fusedUnsupported ? " unfused" : "").toString());
        });
    return lines;
  }

  @Override
  public synchronized void convolutionBiasBackward(ConvGeometry g, long dy, long dbias) {
    ConvPlan p = plan(g);
    cudnn.convolutionBackwardBias(cudnnHandle, p.y, dy, p.bias, dbias);
  }

  /**
   * The epsilon cuDNN's batch norm gets: the layer's own, as a double. cuDNN 8 and 9 accept any eps
   * of at least {@code CUDNN_BN_MIN_EPSILON}, which is 0; cuDNN 7's was 1e-5, and a check against
   * that refused PyTorch's default, since 1e-5f as a double is 9.99999974e-6.
   */
  static double epsilon(float eps) {
    if (!(eps >= 0)) {
      throw new IllegalArgumentException("batch norm eps " + eps + " must be 0 or more");
    }
    return eps;
  }

  @Override
  public synchronized void batchNormForwardTraining(
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
      long saveInvStd) {
    MemorySegment[] d = normDescriptors(n, c, hw);
    cudnn.batchNormForwardTraining(
        cudnnHandle,
        d[0],
        x,
        y,
        d[1],
        weight,
        bias,
        momentum,
        runningMean,
        runningVar,
        epsilon(eps),
        saveMean,
        saveInvStd);
  }

  @Override
  public synchronized void batchNormForwardInference(
      int n,
      int c,
      int hw,
      long x,
      long y,
      long weight,
      long bias,
      long mean,
      long var,
      float eps) {
    MemorySegment[] d = normDescriptors(n, c, hw);
    cudnn.batchNormForwardInference(
        cudnnHandle, d[0], x, y, d[1], weight, bias, mean, var, epsilon(eps));
  }

  @Override
  public synchronized void batchNormBackward(
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
      long saveInvStd) {
    MemorySegment[] d = normDescriptors(n, c, hw);
    cudnn.batchNormBackward(
        cudnnHandle,
        d[0],
        x,
        dy,
        dx,
        d[1],
        weight,
        dweight,
        dbias,
        Cudnn.BN_BACKWARD_EPSILON, // unused: the saved inverse std already holds eps
        saveMean,
        saveInvStd);
  }

  @Override
  public synchronized void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      long a,
      long b,
      float beta,
      long c) {
    cublas.gemmRowMajor(cublasHandle, transA, transB, m, n, k, alpha, a, b, beta, c);
  }
}
