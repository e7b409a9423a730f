package dev.fingerspell.cuda;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Storage;
import dev.fingerspell.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The CUDA backend: convolution and batch norm through cuDNN, matrix products through cuBLAS, the
 * rest in our own kernels ({@code src/main/cuda/fingerspell.cu}), all on one stream per GPU.
 *
 * <p>Found by {@link java.util.ServiceLoader}; it says it is available when the driver answers with
 * a GPU, cuDNN 9 and cuBLAS load, and the GPU takes our kernels. When it is not, {@link
 * #unavailableReason()} says which of those failed and where the libraries were looked for.
 *
 * <p>Float32 throughout; TF32 is off (cuDNN's FMA math, cuBLAS's default math) so that results
 * match the CPU and PyTorch with {@code allow_tf32=False}; {@code -Dfingerspell.cuda.tf32=true}
 * turns it on.
 */
public final class CudaBackend implements Backend {
  private static final int THREADS = 256;
  private static final int MAX_BLOCKS = 65535;

  private final Map<Integer, CudaRuntime> runtimes = new ConcurrentHashMap<>();
  private volatile Boolean available;
  private volatile String unavailable = "";

  @Override
  public String name() {
    return "cuda";
  }

  @Override
  public Device.Type deviceType() {
    return Device.Type.CUDA;
  }

  @Override
  public int priority() {
    return 100;
  }

  @Override
  public boolean isAvailable() {
    Boolean a = available;
    if (a == null) {
      synchronized (this) {
        a = available;
        if (a == null) {
          try {
            runtime(0);
            a = Boolean.TRUE;
          } catch (RuntimeException | LinkageError e) {
            unavailable = e.getMessage() == null ? e.toString() : e.getMessage();
            a = Boolean.FALSE;
          }
          available = a;
        }
      }
    }
    return a;
  }

  @Override
  public String unavailableReason() {
    return isAvailable() ? "" : unavailable;
  }

  @Override
  public String describe() {
    return isAvailable() ? runtime(0).describe() : "";
  }

  /** The runtime of GPU {@code ordinal}, started on first use. */
  CudaRuntime runtime(int ordinal) {
    CudaRuntime rt = runtimes.get(ordinal); // every allocation asks: no lock once started
    return rt != null ? rt : start(ordinal);
  }

  private synchronized CudaRuntime start(int ordinal) {
    CudaRuntime rt = runtimes.get(ordinal);
    String emulator = System.getProperty("fingerspell.cuda.emulator");
    if (rt == null && emulator != null) { // our kernels compiled for the host, for tests
      rt = CudaRuntime.emulated(java.nio.file.Path.of(emulator));
      runtimes.put(ordinal, rt);
    }
    if (rt == null) {
      CudaProbe probe = CudaProbe.run();
      // for tests: a stub driver whose device memory is host memory, the CPU standing in for
      // cuDNN and cuBLAS (StubDriverTest); needs no libraries but the driver
      boolean hostLibraries = Boolean.getBoolean("fingerspell.cuda.hostLibraries");
      if (!(hostLibraries ? probe.devices() > ordinal : probe.complete())) {
        throw new CudaLibraries.NotFound("the CUDA backend cannot run here: " + probe.summary());
      }
      rt =
          hostLibraries
              ? CudaRuntime.withHostLibraries(ordinal, probe)
              : CudaRuntime.open(ordinal, probe);
      runtimes.put(ordinal, rt);
    }
    return rt;
  }

  /** The allocator statistics of GPU {@code ordinal} (tests look for leaks with them). */
  public String memoryStats(int ordinal) {
    return runtime(ordinal).allocator.stats().toString();
  }

  /**
   * Live bytes held by tensors on GPU {@code ordinal}, after taking back what was dropped: collects
   * until two readings agree, since the references of one collection arrive over some milliseconds.
   */
  public long liveBytes(int ordinal) {
    return runtime(ordinal).allocator.collectUntilSettled().liveBytes();
  }

  /** The shapes for which cuDNN's fused convolution failed, with its status (unfused since). */
  public List<String> fusedFallbacks() {
    return runtime(0).libraries.declined();
  }

  /** The algorithms cuDNN was asked to use on GPU 0, a line per convolution shape. */
  public List<String> convolutionPlans() {
    return runtime(0).libraries.plans();
  }

  /**
   * Milliseconds GPU {@code ordinal} spent from the start of {@code work}'s queued work to its end
   * (events around it; waits for the end). Against the wall time of the same work it says whether
   * the GPU or the host sets the pace. Not to be nested.
   */
  public double deviceMillis(int ordinal, Runnable work) {
    return runtime(ordinal).deviceMillis(work);
  }

  /** How many times GPU {@code ordinal}'s allocator reached cuMemAlloc. */
  public long deviceAllocations(int ordinal) {
    return runtime(ordinal).allocator.stats().deviceAllocations();
  }

  /**
   * For tests that measure reuse and leaks: runs {@code pass} (about {@code allocationsPerPass}
   * allocations) a collection period at a time, at most 4 periods, until a whole period reaches
   * cuMemAlloc at most 512 times: the cache then holds what the gaps between collections have
   * needed so far. Returns the periods it took, or 0 if none stayed under 512 (the collector's own
   * collections came at other gaps each time; the cache still never exceeds {@link
   * #collectionPeriod} blocks).
   */
  public int settleAllocator(int ordinal, Runnable pass, int allocationsPerPass) {
    int period = CudaAllocator.COLLECT_EVERY / allocationsPerPass + 1;
    for (int round = 1; round <= 4; round++) {
      long before = deviceAllocations(ordinal);
      for (int i = 0; i < period; i++) {
        pass.run();
      }
      if (deviceAllocations(ordinal) - before <= 512) {
        return round;
      }
    }
    return 0;
  }

  /**
   * The allocations between the collections the allocator asks for when its cache is dry: a bound
   * on the blocks it ever holds for a repeated pass (a block comes from the device only while every
   * block is in use, and all come back at each such collection), whatever the collector does
   * between.
   */
  public int collectionPeriod() {
    return CudaAllocator.COLLECT_EVERY;
  }

  /** How many collections GPU {@code ordinal}'s allocator asked the JVM for (System.gc). */
  public long collectionsAsked(int ordinal) {
    return runtime(ordinal).allocator.stats().collections();
  }

  // ---- helpers --------------------------------------------------------------------------------

  private static CudaStorage storage(Tensor t) {
    return (CudaStorage) t.storage();
  }

  /** The runtime of t's GPU, its context current on this thread (cuDNN and cuBLAS need it). */
  private static CudaRuntime rt(Tensor t) {
    CudaRuntime r = storage(t).runtime;
    r.device.bind();
    return r;
  }

  /** The device address of a tensor's first element, or 0 for null (a kernel's optional input). */
  private static long at(Tensor t) {
    if (t == null) {
      return 0L;
    }
    CudaStorage s = storage(t);
    return s.address + t.offset() * s.dtype().byteSize();
  }

  /** Blocks for {@code n} outputs: none for none (the launch then queues nothing). */
  private static int blocks(long n) {
    return (int) Math.min((n + THREADS - 1) / THREADS, MAX_BLOCKS);
  }

  private static void launch(Tensor on, String kernel, long n, Object... args) {
    rt(on).device.launch(kernel, blocks(n), THREADS, args);
  }

  private static void requireFloat(Tensor t, String op) {
    if (t.dtype() != DType.FLOAT32) {
      throw new IllegalArgumentException(op + " needs a float32 tensor, got " + t);
    }
  }

  /** A scratch float buffer on {@code like}'s GPU, dropped after use. */
  private static Tensor scratch(Tensor like, int numel) {
    return like.newZeros(DType.FLOAT32, numel);
  }

  // ---- memory ---------------------------------------------------------------------------------

  /** A block for {@code numel} elements, its contents left as they were. */
  private CudaStorage uninitialised(Device device, DType dtype, long numel) {
    CudaRuntime runtime = runtime(device.index());
    return runtime.allocator.allocate(runtime, device, dtype, numel);
  }

  @Override
  public Storage allocate(Device device, DType dtype, long numel) {
    CudaStorage s = uninitialised(device, dtype, numel);
    s.runtime.device.zero(s.pointer, 0, s.bytes());
    return s;
  }

  @Override
  public Storage upload(Device device, float[] data) {
    CudaStorage s = uninitialised(device, DType.FLOAT32, data.length);
    s.runtime.transfers.upload(s.pointer, 0, MemorySegment.ofArray(data));
    return s;
  }

  @Override
  public Storage upload(Device device, long[] data) {
    CudaStorage s = uninitialised(device, DType.INT64, data.length);
    s.runtime.transfers.upload(s.pointer, 0, MemorySegment.ofArray(data));
    return s;
  }

  @Override
  public void download(Storage src, long offset, float[] dst, int dstOffset, int count) {
    CudaStorage s = (CudaStorage) src;
    s.runtime.transfers.download(
        MemorySegment.ofArray(dst).asSlice(4L * dstOffset, 4L * count), s.pointer, 4 * offset);
  }

  @Override
  public void download(Storage src, long offset, long[] dst, int dstOffset, int count) {
    CudaStorage s = (CudaStorage) src;
    s.runtime.transfers.download(
        MemorySegment.ofArray(dst).asSlice(8L * dstOffset, 8L * count), s.pointer, 8 * offset);
  }

  @Override
  public void copy(Tensor src, Tensor dst) {
    int size = src.dtype().byteSize();
    rt(dst)
        .device
        .copy(
            storage(dst).pointer,
            dst.offset() * size,
            storage(src).pointer,
            src.offset() * size,
            src.numel() * size);
  }

  @Override
  public void gatherRows(Tensor src, int[] rows, Tensor dst) {
    if (rows.length == 0) {
      return;
    }
    long words = src.numel() / src.size(0) * src.dtype().byteSize() / 4;
    CudaStorage index = uninitialised(dst.device(), DType.FLOAT32, rows.length); // ints
    index.runtime.transfers.upload(index.pointer, 0, MemorySegment.ofArray(rows));
    launch(
        dst,
        "gather_rows_u32",
        rows.length * words,
        at(src),
        index.address,
        at(dst),
        words,
        (long) rows.length);
    java.lang.ref.Reference.reachabilityFence(index); // the launch reads it
  }

  @Override
  public void normalizeImages(MemorySegment bytes, float[] mean, float[] std, Tensor out) {
    Backend.requireImageBytes(bytes, out);
    int c = out.size(1);
    CudaStorage src = uninitialised(out.device(), DType.FLOAT32, (out.numel() + 3) / 4); // bytes
    src.runtime.transfers.upload(src.pointer, 0, bytes);
    float[] meanStd = new float[2 * c];
    System.arraycopy(mean, 0, meanStd, 0, c);
    System.arraycopy(std, 0, meanStd, c, c);
    CudaStorage stats = (CudaStorage) upload(out.device(), meanStd);
    launch(
        out,
        "normalize_u8_f32",
        out.numel(),
        src.address,
        at(out),
        stats.address,
        c,
        (int) (out.numel() / out.size(0) / c),
        out.numel());
    java.lang.ref.Reference.reachabilityFence(src);
    java.lang.ref.Reference.reachabilityFence(stats);
  }

  @Override
  public void synchronize() {
    for (CudaRuntime r : runtimes.values()) {
      r.device.synchronize();
    }
  }

  // ---- element-wise ---------------------------------------------------------------------------

  @Override
  public void fill(Tensor x, float value) {
    requireFloat(x, "fill");
    launch(x, "fill_f32", x.numel(), at(x), value, x.numel());
  }

  @Override
  public void axpby(float alpha, Tensor x, float beta, Tensor y) {
    launch(y, "axpby_f32", y.numel(), alpha, at(x), beta, at(y), y.numel());
  }

  /** Shape and two stride vectors as the kernels' Broadcast struct (rank at most 8). */
  private static long[] broadcast(int[] shape, long[] a, long[] b) {
    if (shape.length > 8) {
      throw new IllegalArgumentException(
          "broadcasting over more than 8 dimensions: " + shape.length);
    }
    long[] s = new long[25];
    s[0] = shape.length;
    for (int d = 0; d < shape.length; d++) {
      s[1 + d] = shape[d];
      s[9 + d] = a[d];
      s[17 + d] = b[d];
    }
    return s;
  }

  @Override
  public void addBroadcast(Tensor a, long[] aStrides, Tensor b, long[] bStrides, Tensor out) {
    launch(
        out,
        "add_broadcast_f32",
        out.numel(),
        at(a),
        at(b),
        at(out),
        broadcast(out.shape(), aStrides, bStrides),
        out.numel());
  }

  @Override
  public void sumToBroadcast(Tensor grad, long[] outStrides, Tensor out) {
    int[] shape = grad.shape();
    long[] gradStrides = new long[shape.length];
    long summed = 1;
    for (int d = shape.length - 1, stride = 1; d >= 0; stride *= shape[d], d--) {
      gradStrides[d] = stride;
      if (outStrides[d] == 0) {
        summed *= shape[d];
      }
    }
    launch(
        out,
        "sum_to_broadcast_f32",
        out.numel(),
        at(grad),
        at(out),
        broadcast(shape, outStrides, gradStrides),
        out.numel(),
        summed);
  }

  @Override
  public void relu(Tensor x, Tensor y) {
    launch(y, "relu_f32", y.numel(), at(x), at(y), y.numel());
  }

  @Override
  public void reluBackward(Tensor y, Tensor dy, Tensor dx) {
    launch(dx, "relu_backward_f32", dx.numel(), at(y), at(dy), at(dx), dx.numel());
  }

  @Override
  public void sum(Tensor x, Tensor out) {
    rt(out).device.launch("sum_f32", 1, 512, at(x), at(out), x.numel());
  }

  // ---- matrix product ------------------------------------------------------------------------

  @Override
  public void gemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      Tensor a,
      Tensor b,
      float beta,
      Tensor c) {
    if (k == 0) { // cuBLAS leaves C alone when k is 0; the contract says C = beta * C
      axpby(0f, c, beta, c);
      return;
    }
    rt(c).libraries.gemm(transA, transB, m, n, k, alpha, at(a), at(b), beta, at(c));
  }

  // ---- convolution ---------------------------------------------------------------------------

  @Override
  public void conv2dForward(ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor y) {
    rt(y).libraries.convolution(Cudnn.Pass.FORWARD, g, at(x), at(w), at(y));
    if (bias != null) {
      epilogue(g, bias, null, false, y);
    }
  }

  /** y = act(y + bias + residual) by our kernel; bias and residual may be null. */
  static void epilogue(ConvGeometry g, Tensor bias, Tensor residual, boolean relu, Tensor y) {
    launch(
        y,
        "bias_residual_act_f32",
        y.numel(),
        at(y),
        at(bias),
        at(residual),
        relu ? 1 : 0,
        g.outChannels(),
        g.outHeight() * g.outWidth(),
        y.numel());
  }

  /**
   * cuDNN's fused convolution + bias (+ residual) + ReLU in one call where it takes the shape, else
   * the convolution and our epilogue kernel.
   */
  @Override
  public void conv2dBiasActivation(
      ConvGeometry g, Tensor x, Tensor w, Tensor bias, Tensor residual, boolean relu, Tensor y) {
    Libraries libs = rt(y).libraries;
    if (relu
        && bias != null
        && libs.convolutionBiasRelu(g, at(x), at(w), at(bias), at(residual), at(y))) {
      return;
    }
    libs.convolution(Cudnn.Pass.FORWARD, g, at(x), at(w), at(y));
    epilogue(g, bias, residual, relu, y);
  }

  @Override
  public void conv2dBackwardData(ConvGeometry g, Tensor dy, Tensor w, Tensor dx) {
    rt(dx).libraries.convolution(Cudnn.Pass.BACKWARD_DATA, g, at(w), at(dy), at(dx));
  }

  @Override
  public void conv2dBackwardFilter(ConvGeometry g, Tensor x, Tensor dy, Tensor dw, Tensor dbias) {
    Libraries libs = rt(dw).libraries;
    libs.convolution(Cudnn.Pass.BACKWARD_FILTER, g, at(x), at(dy), at(dw));
    if (dbias != null) {
      libs.convolutionBiasBackward(g, at(dy), at(dbias));
    }
  }

  // ---- batch normalisation -------------------------------------------------------------------

  @Override
  public void batchNormForwardTraining(
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
      Tensor saveInvStd) {
    rt(y)
        .libraries
        .batchNormForwardTraining(
            n,
            c,
            hw,
            at(x),
            at(y),
            at(weight),
            at(bias),
            momentum,
            at(runningMean),
            at(runningVar),
            eps,
            at(saveMean),
            at(saveInvStd));
  }

  @Override
  public void batchNormForwardInference(
      int n,
      int c,
      int hw,
      Tensor x,
      Tensor weight,
      Tensor bias,
      Tensor mean,
      Tensor var,
      float eps,
      Tensor y) {
    rt(y)
        .libraries
        .batchNormForwardInference(
            n, c, hw, at(x), at(y), at(weight), at(bias), at(mean), at(var), eps);
  }

  @Override
  public void batchNormBackwardTraining(
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
      Tensor dbias) {
    // The library writes all three; unwanted ones go to scratch.
    Tensor dxOut = dx != null ? dx : scratch(x, Math.toIntExact(x.numel()));
    Tensor dwOut = dweight != null ? dweight : scratch(x, c);
    Tensor dbOut = dbias != null ? dbias : scratch(x, c);
    rt(x)
        .libraries
        .batchNormBackward(
            n,
            c,
            hw,
            at(x),
            at(dy),
            at(dxOut),
            at(weight),
            at(dwOut),
            at(dbOut),
            at(saveMean),
            at(saveInvStd));
  }

  @Override
  public void batchNormBackwardInference(
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
      Tensor dbias) {
    rt(x)
        .device
        .launch(
            "batchnorm_backward_inference_f32",
            c,
            THREADS,
            at(x),
            at(dy),
            at(weight),
            at(mean),
            at(var),
            eps,
            at(dx),
            at(dweight),
            at(dbias),
            n,
            c,
            hw);
  }

  // ---- pooling -------------------------------------------------------------------------------

  private static int[] pool(ConvGeometry g) {
    return new int[] {
      g.inHeight(),
      g.inWidth(),
      g.outHeight(),
      g.outWidth(),
      g.kernelH(),
      g.kernelW(),
      g.strideH(),
      g.strideW(),
      g.padH(),
      g.padW()
    };
  }

  @Override
  public void maxPool2dForward(ConvGeometry g, Tensor x, Tensor y) {
    int nc = g.batch() * g.inChannels();
    launch(y, "maxpool2d_forward_f32", y.numel(), at(x), at(y), nc, pool(g));
  }

  @Override
  public void maxPool2dBackward(ConvGeometry g, Tensor x, Tensor y, Tensor dy, Tensor dx) {
    int nc = g.batch() * g.inChannels();
    // One thread per input, each writing its own sum: no zeroing, no atomics.
    launch(dx, "maxpool2d_backward_f32", dx.numel(), at(x), at(y), at(dy), at(dx), nc, pool(g));
  }

  @Override
  public void globalAvgPoolForward(int nc, int hw, Tensor x, Tensor y) {
    rt(y).device.launch("global_avgpool_forward_f32", nc, THREADS, at(x), at(y), hw);
  }

  @Override
  public void globalAvgPoolBackward(int nc, int hw, Tensor dy, Tensor dx) {
    launch(dx, "global_avgpool_backward_f32", (long) nc * hw, at(dy), at(dx), nc, hw);
  }

  // ---- softmax and losses --------------------------------------------------------------------

  private static int rowThreads(int cols) {
    return cols >= 1024 ? 1024 : Math.max(32, Integer.highestOneBit(cols - 1) << 1);
  }

  @Override
  public void softmax(int rows, int cols, Tensor x, Tensor y) {
    rt(y).device.launch("softmax_rows_f32", rows, rowThreads(cols), at(x), at(y), cols, 0);
  }

  @Override
  public void logSoftmax(int rows, int cols, Tensor x, Tensor y) {
    rt(y).device.launch("softmax_rows_f32", rows, rowThreads(cols), at(x), at(y), cols, 1);
  }

  @Override
  public void softmaxBackward(int rows, int cols, Tensor y, Tensor dy, Tensor dx) {
    rt(dx)
        .device
        .launch("softmax_backward_f32", rows, rowThreads(cols), at(y), at(dy), at(dx), cols);
  }

  @Override
  public void logSoftmaxBackward(int rows, int cols, Tensor y, Tensor dy, Tensor dx) {
    rt(dx)
        .device
        .launch("log_softmax_backward_f32", rows, rowThreads(cols), at(y), at(dy), at(dx), cols);
  }

  /**
   * Labels outside [0, cols) would read out of bounds on the device: refused here, as the CPU does.
   */
  private static void checkLabels(Tensor labels, int rows, int cols) {
    long[] l = labels.toLongArray();
    for (int r = 0; r < rows; r++) {
      if (l[r] < 0 || l[r] >= cols) {
        throw new IllegalArgumentException(
            "label " + l[r] + " of row " + r + " is outside [0, " + cols + ")");
      }
    }
  }

  @Override
  public void nllLoss(int rows, int cols, Tensor logp, Tensor labels, float smoothing, Tensor out) {
    checkLabels(labels, rows, cols);
    rt(out)
        .device
        .launch("nll_loss_f32", 1, THREADS, at(logp), at(labels), smoothing, at(out), rows, cols);
  }

  /**
   * No label check: the kernel only compares each column with the label, so a bad one reads nothing
   * out of bounds (it matches no column), and the forward pass has refused it already. Checking
   * again would cost a wait for the device in every training step.
   */
  @Override
  public void nllLossBackward(
      int rows, int cols, Tensor labels, float smoothing, Tensor gradOut, Tensor dlogp) {
    launch(
        dlogp,
        "nll_loss_backward_f32",
        (long) rows * cols,
        at(labels),
        smoothing,
        at(gradOut),
        at(dlogp),
        rows,
        cols);
  }

  // ---- optimizer updates ---------------------------------------------------------------------

  @Override
  public void sgdStep(
      Tensor param,
      Tensor grad,
      Tensor momentumBuf,
      float lr,
      float momentum,
      float dampening,
      float weightDecay,
      boolean nesterov,
      boolean firstStep) {
    launch(
        param,
        "sgd_step_f32",
        param.numel(),
        at(param),
        at(grad),
        at(momentumBuf),
        lr,
        momentum,
        dampening,
        weightDecay,
        nesterov ? 1 : 0,
        firstStep ? 1 : 0,
        param.numel());
  }

  @Override
  public void adamwStep(
      Tensor param,
      Tensor grad,
      Tensor expAvg,
      Tensor expAvgSq,
      float lr,
      float beta1,
      float beta2,
      float eps,
      float weightDecay,
      long step) {
    // The same host-side scalars as the CPU backend, so both round alike.
    float stepSize = (float) (lr / (1.0 - Math.pow(beta1, step)));
    float bc2Sqrt = (float) Math.sqrt(1.0 - Math.pow(beta2, step));
    float decay = 1f - lr * weightDecay;
    launch(
        param,
        "adamw_step_f32",
        param.numel(),
        at(param),
        at(grad),
        at(expAvg),
        at(expAvgSq),
        beta1,
        beta2,
        eps,
        stepSize,
        bc2Sqrt,
        decay,
        param.numel());
  }
}
