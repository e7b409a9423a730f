package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * What this machine offers the CUDA backend, asked through {@code java.lang.foreign} alone: the
 * driver's version and GPUs, cuDNN's and cuBLAS's versions, and for whatever is missing, what was
 * looked for and where. {@code java -cp cuda-kernels.jar dev.fingerspell.cuda.CudaProbe} prints it;
 * the GPU check script starts with it.
 *
 * @param lines the report, one line per library and per GPU
 * @param devices the number of GPUs the driver answers with (0 when it does not load)
 * @param complete whether the driver, a GPU, cuDNN and cuBLAS are all there
 */
@SuppressWarnings("restricted") // native libraries and calls are this class's purpose
public record CudaProbe(List<String> lines, int devices, boolean complete) {
  /** Asks the driver, cuDNN and cuBLAS. */
  public static CudaProbe run() {
    List<String> lines = new ArrayList<>();
    int devices = 0;
    boolean complete = true;
    try (Arena arena = Arena.ofConfined()) {
      try {
        CudaLibraries.Opened cuda = CudaLibraries.open(CudaLibraries.Library.DRIVER, arena);
        MemorySegment out = arena.allocate(JAVA_INT);
        check(call(cuda, "cuDriverGetVersion", "*version", out), "cuDriverGetVersion");
        int v = out.get(JAVA_INT, 0);
        lines.add("driver: CUDA " + v / 1000 + "." + v % 1000 / 10 + " from " + cuda.from());
        int init = call(cuda, "cuInit", "flags:int", 0);
        if (init != 0) {
          lines.add("driver: cuInit failed with CUresult " + init + " (no usable GPU?)");
          complete = false;
        } else {
          check(call(cuda, "cuDeviceGetCount", "*count", out), "cuDeviceGetCount");
          devices = out.get(JAVA_INT, 0);
          MemorySegment name = arena.allocate(256);
          for (int d = 0; d < devices; d++) {
            check(
                call(cuda, "cuDeviceGetName", "*name len:int dev:int", name, 256, d),
                "cuDeviceGetName");
            lines.add("gpu " + d + ": " + name.getString(0));
          }
          if (devices == 0) {
            lines.add("driver: no GPU");
            complete = false;
          }
        }
      } catch (CudaLibraries.NotFound e) {
        lines.add(e.getMessage());
        complete = false;
      }
      try {
        CudaLibraries.Opened cudnn = CudaLibraries.open(CudaLibraries.Library.CUDNN, arena);
        lines.add("cudnn: " + Cudnn.version(cudnn) + " from " + cudnn.from());
      } catch (CudaLibraries.NotFound e) {
        lines.add(e.getMessage());
        complete = false;
      }
      try {
        CudaLibraries.Opened cublas = CudaLibraries.open(CudaLibraries.Library.CUBLAS, arena);
        lines.add("cublas: " + Cublas.version(cublas) + " from " + cublas.from());
      } catch (CudaLibraries.NotFound e) {
        lines.add(e.getMessage());
        complete = false;
      }
    } catch (Throwable t) {
      lines.add("probe failed: " + t);
      complete = false;
    }
    return new CudaProbe(List.copyOf(lines), devices, complete && devices > 0);
  }

  /** Calls the status-returning {@code name(parameters)} of an opened library. */
  private static int call(
      CudaLibraries.Opened lib, String name, String parameters, Object... args) {
    return Native.status(Native.function(lib, name, Native.prototype(parameters)), args);
  }

  private static void check(int status, String what) {
    if (status != 0) {
      throw new IllegalStateException(what + " returned " + status);
    }
  }

  /** Prints the report; exits 0 when everything is there, else 3. */
  public static void main(String[] args) {
    CudaProbe p = run();
    p.lines().forEach(System.out::println);
    System.exit(p.complete() ? 0 : 3);
  }
}
