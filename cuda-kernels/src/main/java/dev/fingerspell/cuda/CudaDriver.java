package dev.fingerspell.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;

/**
 * The driver-API layer on JCuda: one GPU's primary context (the one cuDNN and cuBLAS use too), our
 * kernels' module loaded from the kept fatbin, device memory, copies and launches.
 *
 * <p>Everything runs on the legacy default stream, so kernels, cuDNN, cuBLAS and copies are ordered
 * one after another; a copy to the host therefore waits for the work that produced its data, and a
 * block freed and handed out again is never written while an earlier kernel still reads it. Kernel
 * arguments as {@link DeviceApi} describes them.
 */
public final class CudaDriver implements DeviceApi {
  private static final String FATBIN = "/dev/fingerspell/cuda/fingerspell.fatbin";

  private final int ordinal;
  private final String name;
  private final CUcontext context = new CUcontext();
  private final CUmodule module = new CUmodule();
  private final Map<String, CUfunction> functions = new ConcurrentHashMap<>();

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
    check(cuModuleLoadData(module, fatbin()), "cuModuleLoadData(fingerspell.fatbin)");
  }

  /**
   * GPU {@code ordinal} with our kernels loaded; else {@link CudaLibraries.NotFound} saying why, in
   * the words of {@code probe} (run once by the caller).
   */
  public static CudaDriver open(int ordinal, CudaProbe probe) {
    if (probe.devices() <= ordinal) {
      throw new CudaLibraries.NotFound(
          "no CUDA GPU " + ordinal + ": " + String.join("; ", probe.lines()));
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

  @Override
  public int ordinal() {
    return ordinal;
  }

  @Override
  public String name() {
    return name;
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
    bind();
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
    check(cuMemsetD8(p.withByteOffset(offset), (byte) 0, bytes), "cuMemsetD8");
  }

  private void copyToDevice(DevicePointer dst, long offset, Pointer src, long bytes) {
    bind();
    check(cuMemcpyHtoD(dst.withByteOffset(offset), src, bytes), "cuMemcpyHtoD");
  }

  @Override
  public void upload(DevicePointer dst, long offset, float[] src) {
    copyToDevice(dst, offset, Pointer.to(src), 4L * src.length);
  }

  @Override
  public void upload(DevicePointer dst, long offset, long[] src) {
    copyToDevice(dst, offset, Pointer.to(src), 8L * src.length);
  }

  @Override
  public void upload(DevicePointer dst, long offset, int[] src) {
    copyToDevice(dst, offset, Pointer.to(src), 4L * src.length);
  }

  @Override
  public void upload(DevicePointer dst, long offset, byte[] src) {
    copyToDevice(dst, offset, Pointer.to(src), src.length);
  }

  private void copyToHost(Pointer dst, DevicePointer src, long offset, long bytes) {
    bind();
    check(cuMemcpyDtoH(dst, src.withByteOffset(offset), bytes), "cuMemcpyDtoH");
  }

  @Override
  public void download(float[] dst, int dstIndex, DevicePointer src, long offset, int count) {
    copyToHost(Pointer.to(dst).withByteOffset(4L * dstIndex), src, offset, 4L * count);
  }

  @Override
  public void download(long[] dst, int dstIndex, DevicePointer src, long offset, int count) {
    copyToHost(Pointer.to(dst).withByteOffset(8L * dstIndex), src, offset, 8L * count);
  }

  @Override
  public void copy(
      DevicePointer dst, long dstOffset, DevicePointer src, long srcOffset, long bytes) {
    bind();
    check(
        cuMemcpyDtoD(dst.withByteOffset(dstOffset), src.withByteOffset(srcOffset), bytes),
        "cuMemcpyDtoD");
  }

  @Override
  public void synchronize() {
    bind();
    check(cuCtxSynchronize(), "cuCtxSynchronize");
  }

  @Override
  public void launch(String kernel, int blocks, int threads, Object... args) {
    bind();
    CUfunction f =
        functions.computeIfAbsent(
            kernel,
            n -> {
              CUfunction fn = new CUfunction();
              check(cuModuleGetFunction(fn, module, n), "cuModuleGetFunction(" + n + ")");
              return fn;
            });
    Pointer[] params = new Pointer[args.length];
    for (int i = 0; i < args.length; i++) {
      params[i] =
          switch (args[i]) {
            case Long v -> Pointer.to(new long[] {v});
            case Integer v -> Pointer.to(new int[] {v});
            case Float v -> Pointer.to(new float[] {v});
            case long[] struct -> Pointer.to(struct);
            case int[] struct -> Pointer.to(struct);
            default ->
                throw new IllegalArgumentException(
                    kernel + ": argument " + i + " is a " + args[i].getClass().getSimpleName());
          };
    }
    check(
        cuLaunchKernel(f, blocks, 1, 1, threads, 1, 1, 0, null, Pointer.to(params), null),
        "cuLaunchKernel(" + kernel + ")");
  }
}
