package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/** Finding NVIDIA's libraries, and the one-line message when they are not there. */
// The probe leaves what it found loaded (the backend opens it next), and a loaded library is what
// the system loader then answers for its soname: the tests that need the loader to lack one run
// before the probe's.
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CudaLibrariesTest {
  @Test
  void searchOrderPutsTheUsersFoldersFirstThenPipsNvidiaFolders(@TempDir Path tmp)
      throws IOException {
    Files.createDirectories(tmp.resolve("site/nvidia/cudnn/lib"));
    Files.createDirectories(tmp.resolve("site/nvidia/cublas/lib"));
    Files.createDirectories(tmp.resolve("site/nvidia/empty"));
    List<Path> dirs =
        CudaLibraries.searchDirs(
            "/opt/a: /opt/b:", List.of(Path.of("/opt/conda/lib")), List.of(tmp.resolve("site")));
    assertEquals(Path.of("/opt/a"), dirs.get(0));
    assertEquals(Path.of("/opt/b"), dirs.get(1));
    assertEquals(Path.of("/usr/local/cuda/lib64"), dirs.get(2));
    assertTrue(dirs.contains(tmp.resolve("site/nvidia/cudnn/lib")));
    assertTrue(dirs.contains(tmp.resolve("site/nvidia/cublas/lib")));
    assertFalse(dirs.contains(tmp.resolve("site/nvidia/empty/lib")));
    assertTrue(
        dirs.indexOf(Path.of("/usr/lib64")) < dirs.indexOf(Path.of("/opt/conda/lib"))
            && dirs.indexOf(Path.of("/opt/conda/lib"))
                < dirs.indexOf(tmp.resolve("site/nvidia/cublas/lib")),
        dirs.toString());
  }

  /**
   * PyTorch in a virtual environment (as on the GPU machine, where python3 is
   * /opt/torch/.venv/bin/python3): its pip folders are found from the python3 on PATH, activated or
   * not, and before the system's.
   */
  @Test
  void aVirtualEnvironmentsNvidiaFoldersAreFoundFromThePythonOnPath(@TempDir Path tmp)
      throws IOException {
    Path venv = tmp.resolve("torch/.venv");
    Files.createDirectories(venv.resolve("bin"));
    Path python = Files.createFile(venv.resolve("bin/python3"));
    assumeTrue(python.toFile().setExecutable(true), "cannot mark a file executable here");
    Path cu13 =
        Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/cu13/lib"));
    Path cudnn =
        Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/cudnn/lib"));
    Files.createDirectories(tmp.resolve("tools")); // on PATH, but no python3 in it

    List<Path> roots =
        CudaLibraries.pythonLibRoots(
            Map.of(
                "PATH", tmp.resolve("tools") + ":" + venv.resolve("bin") + "::/usr/bin",
                "VIRTUAL_ENV", "/opt/active",
                "CONDA_PREFIX", "/opt/conda"),
            "/home/someone");
    assertEquals(Path.of("/opt/active/lib"), roots.get(0));
    assertEquals(Path.of("/opt/conda/lib"), roots.get(1));
    assertEquals(venv.resolve("lib"), roots.get(2));
    assertFalse(roots.contains(tmp.resolve("lib")), "a PATH folder without python3 adds nothing");
    assertEquals(Path.of("/home/someone/.local/lib"), roots.get(roots.size() - 1));
    assertTrue(roots.indexOf(venv.resolve("lib")) < roots.indexOf(Path.of("/usr/lib")));

    List<Path> site = CudaLibraries.pythonSitePackages(roots);
    assertEquals(venv.resolve("lib/python3.12/site-packages"), site.get(0));
    List<Path> dirs = CudaLibraries.searchDirs(null, List.of(), site);
    assertTrue(dirs.indexOf(cu13) < dirs.indexOf(cudnn), "nvidia's folders in name order");
    assertTrue(dirs.contains(cu13) && dirs.contains(cudnn), dirs.toString());
  }

  /** A file under the right name that is some other library (here zlib) is named, not taken. */
  @Test
  @Order(1)
  void aWrongLibraryIsNamedInTheMessage(@TempDir Path tmp) throws IOException {
    // The search below is tmp, then the system loader: that must not find a real one.
    assumeTrue(loaderLacks(CudaLibraries.Library.CUDNN), "the system loader finds a real cuDNN");
    Path zlib = Path.of("/usr/lib/x86_64-linux-gnu/libz.so.1");
    assumeTrue(Files.exists(zlib), "no zlib to stand in");
    Files.copy(zlib, tmp.resolve("libcudnn.so.9"));
    try (Arena arena = Arena.ofConfined()) {
      CudaLibraries.NotFound e =
          assertThrows(
              CudaLibraries.NotFound.class,
              () -> CudaLibraries.open(CudaLibraries.Library.CUDNN, List.of(tmp), arena));
      String m = e.getMessage();
      assertTrue(m.startsWith("cuDNN 9: libcudnn.so.9 not found"), m);
      assertTrue(m.contains(tmp.resolve("libcudnn.so.9") + " loads but has no cudnnGetVersion"), m);
      assertTrue(m.contains("FINGERSPELL_CUDA_LIBS"), m);
      assertFalse(m.contains("\n"), "one line");
    }
  }

  /** cuDNN 8 where cuDNN 9 is needed: the message says it saw cuDNN 8, not only "not found". */
  @Test
  @Order(1)
  void otherVersionsOfAMissingLibraryAreNamed(@TempDir Path tmp) throws IOException {
    assumeTrue(loaderLacks(CudaLibraries.Library.CUDNN), "the system loader finds a real cuDNN");
    for (String name :
        List.of("libcudnn.so.8", "libcudnn.so.8.9.7", "libcudnn_ops.so.9", "libcublasLt.so.13")) {
      Files.createFile(tmp.resolve(name));
    }
    Path missing = tmp.resolve("no-such-folder");
    assertEquals(
        List.of(
            "found " + tmp.resolve("libcudnn.so.8") + ", another version",
            "found " + tmp.resolve("libcudnn.so.8.9.7") + ", another version"),
        CudaLibraries.otherVersions(CudaLibraries.Library.CUDNN, List.of(missing, tmp)));
    assertEquals(
        List.of(), CudaLibraries.otherVersions(CudaLibraries.Library.CUBLAS, List.of(tmp)));
    try (Arena arena = Arena.ofConfined()) {
      CudaLibraries.NotFound e =
          assertThrows(
              CudaLibraries.NotFound.class,
              () -> CudaLibraries.open(CudaLibraries.Library.CUDNN, List.of(tmp), arena));
      assertTrue(
          e.getMessage()
              .startsWith(
                  "cuDNN 9: libcudnn.so.9 not found; found "
                      + tmp.resolve("libcudnn.so.8")
                      + ", another version;"),
          e.getMessage());
    }
    for (int i = 0; i < 8; i++) { // 10 to 17: six others besides 12 and 13
      Files.createFile(tmp.resolve("libcublas.so.1" + i));
    }
    List<String> many = CudaLibraries.otherVersions(CudaLibraries.Library.CUBLAS, List.of(tmp));
    assertEquals(5, many.size(), many.toString());
    assertEquals("and 2 more of other versions", many.get(4));
  }

  @Test
  void cublasAcceptsCuda13ThenCuda12() {
    assertEquals(
        List.of("libcublas.so.13", "libcublas.so.12"), CudaLibraries.Library.CUBLAS.sonames());
  }

  /**
   * cuBLAS 13 in the first folder (a CUDA 13 toolkit's) and cuBLAS 12 in the second (pip's): a CUDA
   * 13 driver takes the first folder's newest, a CUDA 12 driver the cuBLAS it can run, and one it
   * cannot run is still tried last, for the probe to say why it does not work.
   */
  @Test
  void cublasIsChosenForTheDriversCuda(@TempDir Path tmp) throws IOException {
    Path toolkit = Files.createDirectories(tmp.resolve("cuda-13/lib64"));
    Path pip = Files.createDirectories(tmp.resolve("site/nvidia/cublas/lib"));
    Path cublas13 = Files.createFile(toolkit.resolve("libcublas.so.13"));
    Path cublas12 = Files.createFile(pip.resolve("libcublas.so.12"));
    Path both12 = Files.createFile(toolkit.resolve("libcublas.so.12"));
    List<Path> dirs = List.of(toolkit, pip);
    CudaLibraries.Library lib = CudaLibraries.Library.CUBLAS;

    assertEquals(List.of(cublas13, both12, cublas12), tryOrder(lib, dirs, 13000));
    assertEquals(List.of(cublas13, both12, cublas12), tryOrder(lib, dirs, 0));
    assertEquals(List.of(both12, cublas12, cublas13), tryOrder(lib, dirs, 12080));
    Files.delete(both12);
    assertEquals(List.of(cublas12, cublas13), tryOrder(lib, dirs, 12080));
    assertEquals(List.of(cublas13), tryOrder(lib, List.of(toolkit), 12080));
    assertEquals(
        List.of(cublas12, cublas13),
        tryOrder(lib, List.of(pip, toolkit), 13000),
        "the user's folder order comes before the newest soname");
    assertTrue(CudaLibraries.Library.DRIVER.runsOn("libcuda.so.1", 12000));
    assertFalse(lib.runsOn("libcublas.so.13", 12090));
    assertTrue(lib.runsOn("libcublas.so.12", 13000));
  }

  /**
   * cuDNN opens cuBLASLt and NVRTC by soname, looking only beside itself and on the loader's path;
   * pip keeps them in other folders, so they are loaded first from the search, the folder of the
   * cuBLAS in use before the others (zlib stands in for a library that loads; a program for one
   * that does not).
   */
  @Test
  @Order(1)
  void cudnnsDependenciesAreLoadedFromTheSearchBesideCublasFirst(@TempDir Path tmp)
      throws IOException {
    Path zlib = Path.of("/usr/lib/x86_64-linux-gnu/libz.so.1");
    assumeTrue(Files.exists(zlib), "no zlib to stand in");
    assumeTrue(loaderLacksFile("libnvrtc.so.12"), "the system loader has a real NVRTC 12");
    assumeTrue(loaderLacksFile("libcublasLt.so.12"), "the system loader has a real cuBLASLt 12");
    Path pip = Files.createDirectories(tmp.resolve("nvidia/cublas/lib"));
    Path other = Files.createDirectories(tmp.resolve("other"));
    Path broken = Files.createDirectories(tmp.resolve("broken"));
    Files.copy(zlib, pip.resolve("libcublasLt.so.12"));
    Files.copy(zlib, other.resolve("libcublasLt.so.12"));
    Files.copy(zlib, other.resolve("libnvrtc.so.12"));
    // a program, not a library: dlopen refuses it (an empty file would too, but the JVM warns
    // about the stack guard of any file without an ELF header it tries)
    Path program = Path.of("/usr/bin/true");
    assumeTrue(Files.exists(program), "no /usr/bin/true to stand in");
    Files.copy(program, broken.resolve("libnvrtc.so.12"));
    assertEquals(
        List.of("libcublasLt.so.12", "libnvrtc.so.12"), CudaLibraries.cudnnDependencies(12));
    try (Arena arena = Arena.ofConfined()) {
      assertEquals(
          List.of(
              "libcublasLt.so.12 from " + other.resolve("libcublasLt.so.12"),
              "libnvrtc.so.12 from " + other.resolve("libnvrtc.so.12")),
          CudaLibraries.preload(
              CudaLibraries.cudnnDependencies(12), List.of(broken, other, pip), arena));
      List<String> said =
          CudaLibraries.preload(List.of("libnvrtc.so.12"), List.of(tmp, broken), arena);
      assertTrue(
          said.get(0).startsWith("libnvrtc.so.12 not found (" + broken.resolve("libnvrtc.so.12")),
          said.toString());
      assertTrue(said.get(0).endsWith(", left to cuDNN"), said.toString());

      CudaLibraries.Opened cublas =
          new CudaLibraries.Opened(
              CudaLibraries.Library.CUBLAS,
              pip.resolve("libcublas.so.12").toString(),
              pip.resolve("libcublas.so.12"),
              null);
      assertEquals(
          "libcublasLt.so.12 from " + pip.resolve("libcublasLt.so.12"),
          CudaLibraries.preloadForCudnn(12, cublas, CudaLibraries.searchDirs(), arena).get(0),
          "the cuBLASLt beside cuBLAS, whatever the search order");
    }
  }

  /** Without a GPU the probe says what is missing instead of failing. */
  @Test
  void probeReportsWhatIsMissing() {
    CudaProbe p = CudaProbe.run();
    assertFalse(p.lines().isEmpty());
    if (systemLacks(CudaLibraries.Library.DRIVER)) {
      assertFalse(p.complete());
      assertEquals(0, p.devices());
      assertTrue(
          p.lines().stream()
              .anyMatch(l -> l.startsWith("the NVIDIA driver: libcuda.so.1 not found")),
          String.join("\n", p.lines()));
      String summary = p.summary();
      assertTrue(summary.startsWith("missing the NVIDIA driver (libcuda.so.1)"), summary);
      assertEquals(
          1, count(summary, "Looked in "), "the folders once, not per library: " + summary);
      assertEquals(1, count(summary, "FINGERSPELL_CUDA_LIBS"), summary);
      assertFalse(summary.contains("\n"), summary);
    }
  }

  /** The message lists what is missing, says once where it looked, and what it did find. */
  @Test
  void theSummaryNamesEachMissingLibraryOnceAndWhatWasFound() {
    List<Path> dirs = List.of(Path.of("/opt/cuda"), Path.of("/usr/lib64"));
    CudaLibraries.NotFound cudnn =
        new CudaLibraries.NotFound(CudaLibraries.Library.CUDNN, List.of(), dirs);
    CudaLibraries.NotFound cublas =
        new CudaLibraries.NotFound(
            CudaLibraries.Library.CUBLAS,
            List.of("/opt/cuda/libcublas.so.13 loads but has no cublasCreate_v2"),
            dirs);
    String summary =
        CudaProbe.summary(
            List.of(cudnn, cublas),
            List.of(),
            List.of("driver: CUDA 13.0 from libcuda.so.1 (system loader)", "gpu 0: NVIDIA H200"),
            13000);
    assertEquals(
        "missing cuDNN 9 (libcudnn.so.9) and cuBLAS (libcublas.so.13 or libcublas.so.12;"
            + " /opt/cuda/libcublas.so.13 loads but has no cublasCreate_v2)."
            + " Looked in /opt/cuda, /usr/lib64 and the system loader's path;"
            + " name the folder in FINGERSPELL_CUDA_LIBS."
            + " pip install nvidia-cudnn-cu13 nvidia-cublas puts them where this looks"
            + " (a PyTorch with CUDA has them already)."
            + " Found driver: CUDA 13.0 from libcuda.so.1 (system loader), gpu 0: NVIDIA H200.",
        summary);
    assertEquals(
        "driver: no GPU. Found driver: CUDA 13.0 from x.",
        CudaProbe.summary(
            List.of(), List.of("driver: no GPU"), List.of("driver: CUDA 13.0 from x"), 13000));
    assertEquals(
        java.util.Optional.of(
            "pip install nvidia-cublas-cu12 puts it where this looks (a PyTorch with CUDA has them"
                + " already)."),
        CudaProbe.installHint(List.of(cublas), 12040));
    assertTrue(CudaProbe.installHint(List.of(cublas), 0).isEmpty(), "no driver: no pip hint");
    assertTrue(cudnn.getMessage().startsWith("cuDNN 9: libcudnn.so.9 not found. Looked in"));
  }

  /** cuBLAS 13 on a driver for CUDA 12.4 is said before any call, with what to do. */
  @Test
  void aLibraryForANewerCudaThanTheDriversIsNamed() {
    assertEquals(
        java.util.Optional.of(
            "cuBLAS 13.1.0 is built for CUDA 13 but the driver runs CUDA 12.4 at most: update the"
                + " NVIDIA driver, or use a cuBLAS for CUDA 12 (name its folder in"
                + " FINGERSPELL_CUDA_LIBS)"),
        CudaProbe.tooNewForDriver("cuBLAS 13.1.0", 13, 12040));
    assertTrue(CudaProbe.tooNewForDriver("cuDNN 9.19.0", 12, 13000).isEmpty(), "older is fine");
    assertTrue(CudaProbe.tooNewForDriver("cuDNN 9.19.0", 13, 13020).isEmpty(), "same major");
    assertTrue(CudaProbe.tooNewForDriver("cuBLAS 13.0.0", 13, 0).isEmpty(), "no driver: no say");
    assertEquals("12.6", CudaProbe.cudaVersion(12060));
  }

  private static int count(String text, String part) {
    return text.split(java.util.regex.Pattern.quote(part), -1).length - 1;
  }

  private static boolean loaderLacks(CudaLibraries.Library lib) {
    try (Arena arena = Arena.ofConfined()) {
      CudaLibraries.open(lib, List.of(), arena);
      return false;
    } catch (CudaLibraries.NotFound e) {
      return true;
    }
  }

  /** The files open tries, in its order (the loader's own between the two halves). */
  private static List<Path> tryOrder(CudaLibraries.Library lib, List<Path> dirs, int driver) {
    List<Path> files = new java.util.ArrayList<>(CudaLibraries.candidates(lib, dirs, driver, true));
    files.addAll(CudaLibraries.candidates(lib, dirs, driver, false));
    return files;
  }

  @SuppressWarnings("restricted") // asks the system loader, as CudaLibraries does
  private static boolean loaderLacksFile(String soname) {
    try (Arena arena = Arena.ofConfined()) {
      java.lang.foreign.SymbolLookup.libraryLookup(soname, arena);
      return false;
    } catch (IllegalArgumentException e) {
      return true;
    }
  }

  private static boolean systemLacks(CudaLibraries.Library lib) {
    try (Arena arena = Arena.ofConfined()) {
      CudaLibraries.open(lib, arena);
      return false;
    } catch (CudaLibraries.NotFound e) {
      return true;
    }
  }
}
