package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What this machine offers the CUDA backend, asked through {@code java.lang.foreign} alone: the
 * driver's version and GPUs, cuDNN's and cuBLAS's versions, and for whatever is missing, what was
 * looked for and where. {@code java -cp cuda-kernels.jar dev.fingerspell.cuda.CudaProbe} prints it;
 * the GPU check script starts with it.
 *
 * @param lines the report, one line per library and per GPU
 * @param devices the number of GPUs the driver answers with (0 when it does not load)
 * @param complete whether the driver, a GPU, cuDNN and cuBLAS are all there
 * @param summary the report as one line for an error message: what is missing, where it was looked
 *     for (once, not once per library), what else is wrong, and what was found
 * @param cudnn cuDNN as found and loaded for good, for the backend to use (null when missing)
 * @param cublas cuBLAS likewise, a version the driver runs first (null when missing)
 */
@SuppressWarnings("restricted") // native libraries and calls are this class's purpose
public record CudaProbe(
    List<String> lines,
    int devices,
    boolean complete,
    String summary,
    CudaLibraries.Opened cudnn,
    CudaLibraries.Opened cublas) {
  /** Asks the driver, cuDNN and cuBLAS. */
  public static CudaProbe run() {
    List<CudaLibraries.NotFound> missing = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    List<String> found = new ArrayList<>();
    List<String> dependencies = new ArrayList<>(); // what cuDNN opens by soname: report only
    int devices = 0;
    int driverVersion = 0; // CUDA's number for the newest CUDA the driver runs: 13000 for 13.0
    int cudnnCuda = 0; // the CUDA major version cuDNN is built for, once found
    CudaLibraries.Opened cudnn = null;
    CudaLibraries.Opened cublas = null;
    // The libraries stay loaded (the global arena): the backend uses the ones found here, and
    // loading cuDNN, cuBLAS and cuBLASLt again after closing them took ~400 ms each time.
    Arena libraries = Arena.global();
    List<Path> searched = CudaLibraries.searchDirs(); // listed once for every library
    try (Arena arena = Arena.ofConfined()) {
      try {
        CudaLibraries.Opened cuda =
            CudaLibraries.open(CudaLibraries.Library.DRIVER, searched, libraries);
        MemorySegment out = arena.allocate(JAVA_INT);
        check(call(cuda, "cuDriverGetVersion", "*version", out), "cuDriverGetVersion");
        driverVersion = out.get(JAVA_INT, 0);
        found.add("driver: CUDA " + cudaVersion(driverVersion) + " from " + cuda.from());
        int init = call(cuda, "cuInit", "flags:int", 0);
        if (init != 0) {
          problems.add("driver: cuInit failed with CUresult " + init + " (no usable GPU?)");
        } else {
          check(call(cuda, "cuDeviceGetCount", "*count", out), "cuDeviceGetCount");
          devices = out.get(JAVA_INT, 0);
          MemorySegment name = arena.allocate(256);
          for (int d = 0; d < devices; d++) {
            check(
                call(cuda, "cuDeviceGetName", "*name len:int dev:int", name, 256, d),
                "cuDeviceGetName");
            found.add("gpu " + d + ": " + name.getString(0));
          }
          if (devices == 0) {
            problems.add("driver: no GPU");
          }
        }
      } catch (CudaLibraries.NotFound e) {
        missing.add(e);
      }
      try {
        cudnn = CudaLibraries.open(CudaLibraries.Library.CUDNN, searched, libraries);
        String version = Cudnn.version(cudnn);
        int builtFor = (int) Cudnn.cudartVersion(cudnn);
        found.add(
            "cudnn: " + version + " for CUDA " + cudaVersion(builtFor) + " from " + cudnn.from());
        cudnnCuda = builtFor / 1000;
        tooNewForDriver("cuDNN " + version, cudnnCuda, driverVersion).ifPresent(problems::add);
      } catch (CudaLibraries.NotFound e) {
        missing.add(e);
      }
      try {
        cublas =
            CudaLibraries.open(CudaLibraries.Library.CUBLAS, searched, driverVersion, libraries);
        String version = Cublas.version(cublas);
        found.add("cublas: " + version + " from " + cublas.from());
        // cuBLAS's major version is its CUDA's (cuBLAS 13 comes with CUDA 13)
        int major = Integer.parseInt(version.substring(0, version.indexOf('.')));
        tooNewForDriver("cuBLAS " + version, major, driverVersion).ifPresent(problems::add);
      } catch (CudaLibraries.NotFound e) {
        missing.add(e);
      }
      if (cudnnCuda > 0) { // as CudaRuntime does before cuDNN's first call
        for (String dependency :
            CudaLibraries.preloadForCudnn(cudnnCuda, cublas, searched, libraries)) {
          dependencies.add("cudnn needs " + dependency);
        }
      }
    } catch (Throwable t) {
      problems.add("probe failed: " + t);
    }
    // what was found (in the order asked: driver, GPUs, cuDNN, cuBLAS), what is missing, what else
    List<String> lines = new ArrayList<>(found);
    lines.addAll(dependencies);
    missing.forEach(e -> lines.add(e.getMessage()));
    lines.addAll(problems);
    boolean complete = missing.isEmpty() && problems.isEmpty() && devices > 0;
    return new CudaProbe(
        List.copyOf(lines),
        devices,
        complete,
        summary(missing, problems, found, driverVersion),
        cudnn,
        cublas);
  }

  /**
   * How to get the missing cuDNN and cuBLAS without a CUDA toolkit: NVIDIA's pip packages, for the
   * CUDA the driver runs (their names changed with CUDA 13), land where the search looks. Said only
   * where a driver answered: without one, the libraries are not what is in the way.
   */
  static Optional<String> installHint(List<CudaLibraries.NotFound> missing, int driverVersion) {
    if (driverVersion == 0) {
      return Optional.empty();
    }
    List<String> packages = new ArrayList<>();
    boolean cuda13 = driverVersion >= 13000;
    for (CudaLibraries.NotFound e : missing) {
      if (e.library() == CudaLibraries.Library.CUDNN) {
        packages.add(cuda13 ? "nvidia-cudnn-cu13" : "nvidia-cudnn-cu12");
      } else if (e.library() == CudaLibraries.Library.CUBLAS) {
        packages.add(cuda13 ? "nvidia-cublas" : "nvidia-cublas-cu12");
      }
    }
    if (packages.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(
        "pip install "
            + String.join(" ", packages)
            + " puts "
            + (packages.size() == 1 ? "it" : "them")
            + " where this looks (a PyTorch with CUDA has them already).");
  }

  /** CUDA's version number as "13.0". */
  static String cudaVersion(int number) {
    return number / 1000 + "." + number % 1000 / 10;
  }

  /**
   * Why a library built for CUDA {@code cudaMajor} cannot run on a driver that runs CUDA up to
   * {@code driverVersion} (0: unknown, nothing to say). Within a major version a library runs on
   * any driver of that version or newer (CUDA's minor version compatibility), so only the major
   * versions are compared. Found here rather than at the first call, where cuBLAS says only
   * NOT_INITIALIZED.
   */
  static Optional<String> tooNewForDriver(String library, int cudaMajor, int driverVersion) {
    if (driverVersion == 0 || cudaMajor <= driverVersion / 1000) {
      return Optional.empty();
    }
    return Optional.of(
        library
            + " is built for CUDA "
            + cudaMajor
            + " but the driver runs CUDA "
            + cudaVersion(driverVersion)
            + " at most: update the NVIDIA driver, or use a "
            + library.substring(0, library.indexOf(' '))
            + " for CUDA "
            + driverVersion / 1000
            + " (name its folder in FINGERSPELL_CUDA_LIBS)");
  }

  /**
   * One line: "missing cuDNN 9 (libcudnn.so.9) and cuBLAS (libcublas.so.13 or libcublas.so.12).
   * Looked in ...; name the folder in FINGERSPELL_CUDA_LIBS. Found driver: CUDA 13.0 from ...".
   */
  static String summary(
      List<CudaLibraries.NotFound> missing,
      List<String> problems,
      List<String> found,
      int driverVersion) {
    List<String> sentences = new ArrayList<>();
    if (!missing.isEmpty()) {
      List<String> what = new ArrayList<>();
      for (CudaLibraries.NotFound e : missing) {
        CudaLibraries.Library lib = e.library();
        what.add(
            lib == null
                ? e.getMessage()
                : lib.what()
                    + " ("
                    + lib.describeSonames()
                    + (e.rejected().isEmpty() ? "" : "; " + String.join("; ", e.rejected()))
                    + ")");
      }
      String list =
          what.size() == 1
              ? what.get(0)
              : String.join(", ", what.subList(0, what.size() - 1))
                  + " and "
                  + what.get(what.size() - 1);
      sentences.add("missing " + list + ".");
      sentences.add(CudaLibraries.lookedIn(missing.get(0).searched()));
      installHint(missing, driverVersion).ifPresent(sentences::add);
    }
    for (String p : problems) {
      sentences.add(p + ".");
    }
    if (!found.isEmpty()) {
      sentences.add("Found " + String.join(", ", found) + ".");
    }
    return String.join(" ", sentences);
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
