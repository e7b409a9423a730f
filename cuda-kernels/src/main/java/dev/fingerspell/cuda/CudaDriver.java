package dev.fingerspell.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * The driver-API layer on JCuda: one GPU's primary context (the one cuDNN and cuBLAS use too), our
 * kernels' module loaded from the kept fatbin, device memory, copies and launches. Kernel arguments
 * are given as they are declared: {@link CUdeviceptr} for pointers, {@link Integer}, {@link Long}
 * and {@link Float} for scalars.
 *
 * <p>Written against JCuda 12.6.0 and compiled here; it has not run yet (no GPU was lent). {@link
 * #open} fails with the probe's one-line message when no GPU answers.
 */
public final class CudaDriver {
  private static final String FATBIN = "/dev/fingerspell/cuda/fingerspell.fatbin";

  private final CUcontext context = new CUcontext();
  private final CUmodule module = new CUmodule();
  private final Map<String, CUfunction> functions = new ConcurrentHashMap<>();

  private CudaDriver(int device) {
    JCudaDriver.setExceptionsEnabled(true);
    cuInit(0);
    CUdevice dev = new CUdevice();
    cuDeviceGet(dev, device);
    cuDevicePrimaryCtxRetain(context, dev);
    cuCtxSetCurrent(context);
    cuModuleLoadData(module, fatbin());
  }

  /** GPU {@code device} with our kernels loaded; else {@link CudaLibraries.NotFound} saying why. */
  public static CudaDriver open(int device) {
    CudaProbe probe = CudaProbe.run();
    if (probe.devices() <= device) {
      throw new CudaLibraries.NotFound(
          "no CUDA GPU " + device + ": " + String.join("; ", probe.lines()));
    }
    return new CudaDriver(device);
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

  /** {@code count} floats of device memory. */
  public CUdeviceptr allocFloats(long count) {
    cuCtxSetCurrent(context);
    CUdeviceptr p = new CUdeviceptr();
    cuMemAlloc(p, Math.max(1, count) * Sizeof.FLOAT);
    return p;
  }

  /** A device copy of {@code data}. */
  public CUdeviceptr upload(float[] data) {
    CUdeviceptr p = allocFloats(data.length);
    cuMemcpyHtoD(p, Pointer.to(data), (long) data.length * Sizeof.FLOAT);
    return p;
  }

  /** {@code count} floats from the device. */
  public float[] download(CUdeviceptr p, int count) {
    float[] out = new float[count];
    cuCtxSynchronize();
    cuMemcpyDtoH(Pointer.to(out), p, (long) count * Sizeof.FLOAT);
    return out;
  }

  /** Frees device memory. */
  public void free(CUdeviceptr p) {
    cuMemFree(p);
  }

  /** Launches {@code kernel} over {@code blocks × threads} with the given arguments, in order. */
  public void launch(String kernel, int blocks, int threads, Object... args) {
    cuCtxSetCurrent(context);
    CUfunction f =
        functions.computeIfAbsent(
            kernel,
            name -> {
              CUfunction fn = new CUfunction();
              cuModuleGetFunction(fn, module, name);
              return fn;
            });
    Pointer[] params = new Pointer[args.length];
    for (int i = 0; i < args.length; i++) {
      params[i] =
          switch (args[i]) {
            case CUdeviceptr p -> Pointer.to(p);
            case Integer v -> Pointer.to(new int[] {v});
            case Long v -> Pointer.to(new long[] {v});
            case Float v -> Pointer.to(new float[] {v});
            default ->
                throw new IllegalArgumentException(
                    kernel + ": argument " + i + " is a " + args[i].getClass().getSimpleName());
          };
    }
    cuLaunchKernel(f, blocks, 1, 1, threads, 1, 1, 0, null, Pointer.to(params), null);
  }
}
