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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding NVIDIA's libraries, and the one-line message when they are not there. */
class CudaLibrariesTest {
  @Test
  void searchOrderPutsTheUsersFoldersFirstThenPipsNvidiaFolders(@TempDir Path tmp)
      throws IOException {
    Files.createDirectories(tmp.resolve("site/nvidia/cudnn/lib"));
    Files.createDirectories(tmp.resolve("site/nvidia/cublas/lib"));
    Files.createDirectories(tmp.resolve("site/nvidia/empty"));
    List<Path> dirs = CudaLibraries.searchDirs("/opt/a: /opt/b:", List.of(tmp.resolve("site")));
    assertEquals(Path.of("/opt/a"), dirs.get(0));
    assertEquals(Path.of("/opt/b"), dirs.get(1));
    assertEquals(Path.of("/usr/local/cuda/lib64"), dirs.get(2));
    assertTrue(dirs.contains(tmp.resolve("site/nvidia/cudnn/lib")));
    assertTrue(dirs.contains(tmp.resolve("site/nvidia/cublas/lib")));
    assertFalse(dirs.contains(tmp.resolve("site/nvidia/empty/lib")));
  }

  /** A file under the right name that is some other library (here zlib) is named, not taken. */
  @Test
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

  @Test
  void cublasAcceptsCuda13ThenCuda12() {
    assertEquals(
        List.of("libcublas.so.13", "libcublas.so.12"), CudaLibraries.Library.CUBLAS.sonames());
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
    }
  }

  private static boolean loaderLacks(CudaLibraries.Library lib) {
    try (Arena arena = Arena.ofConfined()) {
      CudaLibraries.open(lib, List.of(), arena);
      return false;
    } catch (CudaLibraries.NotFound e) {
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
