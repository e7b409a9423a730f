package dev.fingerspell.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemHostRegister;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * The driver-API layer on JCuda: one GPU's primary context (the one cuDNN and cuBLAS use too), our
 * kernels' module loaded from the kept fatbin, device memory, copies and launches.
 *
 * <p>Everything runs on one stream of ours, cuDNN and cuBLAS included, so kernels, library calls
 * and copies run one after another in the order queued: a copy to the host waits for the work that
 * produced its data, and a block freed and handed out again is never written while an earlier
 * kernel still reads it. Nothing here waits for the device but {@link #synchronize}, {@link
 * Event#await} and {@link #free}. Kernel arguments as {@link DeviceApi} describes them.
 */
public final class CudaDriver implements DeviceApi {
  private static final String FATBIN = "/dev/fingerspell/cuda/fingerspell.fatbin";

  private final int ordinal;
  private final String name;
  private final CUcontext context = new CUcontext();
  private final CUmodule module = new CUmodule();
  private final Stream stream = new Stream();
  volatile String unpinned; // why the driver would not page-lock host memory, if it would not
  private final Map<String, CUfunction> functions = new ConcurrentHashMap<>();

  /** A CUDA stream that tells its address, for cuDNN and cuBLAS to be put on it. */
  private static final class Stream extends CUstream {
    long address() {
      return getNativePointer();
    }
  }

  /** A host address as JCuda's pointer; the memory is pinned, so async copies may use it. */
  private static final class HostPointer extends Pointer {
    HostPointer(MemorySegment memory) {
      super(memory.address());
    }
  }

  /** The GPU whose context is current on each thread. */
  private static final ThreadLocal<CudaDriver> CURRENT = new ThreadLocal<>();

  private CudaDriver(int ordinal) {
    this.ordinal = ordinal;
    check(cuInit(0), "cuInit");
    CUdevice dev = new CUdevice();
    check(cuDeviceGet(dev, ordinal), "cuDeviceGet");
    byte[] nameBytes = new byte[256];
    check(cuDeviceGetName(nameBytes, nameBytes.length, dev), "cuDeviceGetName");
    int len = 0;
    while (len < nameBytes.length && nameBytes[len] != 0) {
      len++;
    }
    name = new String(nameBytes, 0, len, java.nio.charset.StandardCharsets.UTF_8);
    check(cuDevicePrimaryCtxRetain(context, dev), "cuDevicePrimaryCtxRetain");
    bind();
    // a blocking stream: work another library queues on the legacy default stream stays ordered
    check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT), "cuStreamCreate");
    check(cuModuleLoadData(module, fatbin()), "cuModuleLoadData(fingerspell.fatbin)");
  }

  /**
   * GPU {@code ordinal} with our kernels loaded; else {@link CudaLibraries.NotFound} saying why, in
   * the words of {@code probe} (run once by the caller).
   */
  public static CudaDriver open(int ordinal, CudaProbe probe) {
    int devices = probe.devices();
    if (devices <= ordinal) {
      throw new CudaLibraries.NotFound(
          "no GPU cuda:"
              + ordinal
              + " here: the driver has "
              + devices
              + (devices == 0
                  ? ""
                  : devices == 1 ? " (cuda:0)" : " (cuda:0 to cuda:" + (devices - 1) + ")")
              + ". "
              + probe.summary());
    }
    return new CudaDriver(ordinal);
  }

  private static byte[] fatbin() {
    try (InputStream in = CudaDriver.class.getResourceAsStream(FATBIN)) {
      if (in == null) {
        throw new IllegalStateException(FATBIN + " is missing from the class path");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Throws with the driver's name for {@code result} unless it is CUDA_SUCCESS. */
  static void check(int result, String call) {
    if (result != CUresult.CUDA_SUCCESS) {
      throw new CudaException(
          "CUDA " + call + " failed: " + CUresult.stringFor(result) + " (" + result + ")", result);
    }
  }

  /** The stream everything runs on, as the {@code cudaStream_t} cuDNN and cuBLAS take. */
  long streamAddress() {
    return stream.address();
  }

  @Override
  public int ordinal() {
    return ordinal;
  }

  @Override
  public String name() {
    String why = unpinned;
    return why == null ? name : name + " (copies not pinned: " + why + ")";
  }

  @Override
  public void bind() {
    if (CURRENT.get() != this) { // a thread may use several GPUs: switch when it changes
      check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
      CURRENT.set(this);
    }
  }

  @Override
  public DevicePointer tryAlloc(long bytes) {
    bind();
    DevicePointer p = new DevicePointer();
    int r = cuMemAlloc(p, Math.max(1, bytes));
    if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
      return null;
    }
    check(r, "cuMemAlloc(" + bytes + " bytes)");
    return p;
  }

  @Override
  public void free(DevicePointer p) {
    synchronize(); // as DeviceMemory says: queued work may still use the block
    check(cuMemFree(p), "cuMemFree");
  }

  @Override
  public long[] memoryInfo() {
    bind();
    long[] free = new long[1];
    long[] total = new long[1];
    check(cuMemGetInfo(free, total), "cuMemGetInfo");
    return new long[] {free[0], total[0]};
  }

  @Override
  public void zero(DevicePointer p, long offset, long bytes) {
    bind();
    check(cuMemsetD8Async(p.withByteOffset(offset), (byte) 0, bytes, stream), "cuMemsetD8Async");
  }

  /**
   * Host memory page-locked by the driver, as a segment to copy into with FFM: allocated by it
   * ({@code cuMemAllocHost}, what PyTorch's pinned memory is), else Java's memory registered with
   * it ({@code cuMemHostRegister}: a sandbox's driver proxy, such as gVisor's, may support one and
   * not the other). Where the driver refuses both, the memory stays pageable: async copies from it
   * are still correct, only slower, and {@link #name} says so.
   */
  @Override
  @SuppressWarnings("restricted") // the driver's allocation, as long as it says
  public MemorySegment allocatePinned(long bytes) {
    bind();
    HostAllocation allocated = new HostAllocation();
    int r = cuMemAllocHost(allocated, bytes);
    if (r == CUresult.CUDA_SUCCESS) {
      return MemorySegment.ofAddress(allocated.address()).reinterpret(bytes);
    }
    MemorySegment java = Arena.global().allocate(bytes, 4096);
    int registered = cuMemHostRegister(new HostPointer(java), bytes, 0);
    if (registered != CUresult.CUDA_SUCCESS) {
      unpinned =
          "cuMemAllocHost "
              + CUresult.stringFor(r)
              + ", cuMemHostRegister "
              + CUresult.stringFor(registered);
    }
    return java;
  }

  /** Where cuMemAllocHost puts the address of the memory it allocated. */
  private static final class HostAllocation extends Pointer {
    long address() {
      return getNativePointer();
    }
  }

  @Override
  public void copyToDevice(DevicePointer dst, long offset, MemorySegment src) {
    bind();
    check(
        cuMemcpyHtoDAsync(dst.withByteOffset(offset), new HostPointer(src), src.byteSize(), stream),
        "cuMemcpyHtoDAsync");
  }

  @Override
  public void copyToHost(MemorySegment dst, DevicePointer src, long offset) {
    bind();
    check(
        cuMemcpyDtoHAsync(new HostPointer(dst), src.withByteOffset(offset), dst.byteSize(), stream),
        "cuMemcpyDtoHAsync");
  }

  @Override
  public Event newEvent(boolean timed) {
    bind();
    CUevent event = new CUevent();
    int flags = timed ? CUevent_flags.CU_EVENT_DEFAULT : CUevent_flags.CU_EVENT_DISABLE_TIMING;
    check(cuEventCreate(event, flags), "cuEventCreate");
    return new DriverEvent(event);
  }

  /** A CUDA event on this driver's stream. */
  private final class DriverEvent implements Event {
    final CUevent event;

    DriverEvent(CUevent event) {
      this.event = event;
    }

    @Override
    public void record() {
      bind();
      check(cuEventRecord(event, stream), "cuEventRecord");
    }

    @Override
    public void await() {
      bind();
      check(cuEventSynchronize(event), "cuEventSynchronize");
    }

    @Override
    public float millisSince(Event start) {
      float[] ms = new float[1];
      check(cuEventElapsedTime(ms, ((DriverEvent) start).event, event), "cuEventElapsedTime");
      return ms[0];
    }
  }

  @Override
  public void copy(
      DevicePointer dst, long dstOffset, DevicePointer src, long srcOffset, long bytes) {
    bind();
    check(
        cuMemcpyDtoDAsync(
            dst.withByteOffset(dstOffset), src.withByteOffset(srcOffset), bytes, stream),
        "cuMemcpyDtoDAsync");
  }

  @Override
  public void synchronize() {
    bind();
    check(cuStreamSynchronize(stream), "cuStreamSynchronize");
  }

  @Override
  public void launch(String kernel, int blocks, int threads, Object... args) {
    if (blocks == 0) {
      return; // the driver refuses an empty grid (CUDA_ERROR_INVALID_VALUE); there is no work
    }
    bind();
    CUfunction f =
        functions.computeIfAbsent(
            kernel,
            n -> {
              CUfunction fn = new CUfunction();
              check(cuModuleGetFunction(fn, module, n), "cuModuleGetFunction(" + n + ")");
              return fn;
            });
    Pointer params = LaunchArguments.CURRENT.get().write(kernel, args);
    check(
        cuLaunchKernel(f, blocks, 1, 1, threads, 1, 1, 0, stream, params, null),
        "cuLaunchKernel(" + kernel + ")");
  }

  /**
   * A thread's kernel arguments in native memory, written in place at each launch: the driver
   * copies them when the launch is queued, so the next launch may overwrite them. JCuda converts a
   * Java array behind each argument on every call; of a direct buffer it only reads the address,
   * which took a launch from 2.0-2.7 µs to 1.2-1.7 µs of host time (stub driver, 200,000 launches).
   */
  private static final class LaunchArguments {
    static final ThreadLocal<LaunchArguments> CURRENT =
        ThreadLocal.withInitial(LaunchArguments::new);

    /** Most arguments a kernel takes (adamw_step_f32 takes 11), and bytes for the largest. */
    static final int SLOTS = 16;

    static final int SLOT_BYTES = 256; // a Broadcast struct is 200

    final ByteBuffer values =
        ByteBuffer.allocateDirect(SLOTS * SLOT_BYTES).order(ByteOrder.nativeOrder());

    /** For each argument count, the kernelParams array: pointers to the first slots. */
    final Pointer[] params = new Pointer[SLOTS + 1];

    LaunchArguments() {
      Pointer[] slots = new Pointer[SLOTS];
      for (int i = 0; i < SLOTS; i++) {
        slots[i] = Pointer.to(values.slice(i * SLOT_BYTES, SLOT_BYTES));
      }
      for (int n = 0; n <= SLOTS; n++) {
        params[n] = Pointer.to(java.util.Arrays.copyOf(slots, n));
      }
    }

    /** Writes {@code args} into the slots and returns the kernelParams pointer for them. */
    Pointer write(String kernel, Object[] args) {
      if (args.length > SLOTS) {
        throw new IllegalArgumentException(kernel + ": more than " + SLOTS + " arguments");
      }
      for (int i = 0; i < args.length; i++) {
        int at = i * SLOT_BYTES;
        switch (args[i]) {
          case Long v -> values.putLong(at, v);
          case Integer v -> values.putInt(at, v);
          case Float v -> values.putFloat(at, v);
          case long[] struct -> {
            fits(kernel, i, 8L * struct.length);
            for (int k = 0; k < struct.length; k++) {
              values.putLong(at + 8 * k, struct[k]);
            }
          }
          case int[] struct -> {
            fits(kernel, i, 4L * struct.length);
            for (int k = 0; k < struct.length; k++) {
              values.putInt(at + 4 * k, struct[k]);
            }
          }
          default ->
              throw new IllegalArgumentException(
                  kernel + ": argument " + i + " is a " + args[i].getClass().getSimpleName());
        }
      }
      return params[args.length];
    }

    private static void fits(String kernel, int i, long bytes) {
      if (bytes > SLOT_BYTES) {
        throw new IllegalArgumentException(
            kernel + ": argument " + i + " is " + bytes + " bytes, over " + SLOT_BYTES);
      }
    }
  }
}
