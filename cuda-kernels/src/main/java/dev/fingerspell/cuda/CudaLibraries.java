package dev.fingerspell.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Finds and opens NVIDIA's libraries by soname, and says exactly what it looked for when it cannot
 * — the commonest complaint of every Java GPU stack is an error that does not.
 *
 * <p>Where it looks, in order: the directories of {@code FINGERSPELL_CUDA_LIBS} (a {@code :}-list),
 * the CUDA toolkit's {@code /usr/local/cuda/lib64}, the system's library directories, and the
 * {@code nvidia/*}{@code /lib} folders of Python's site-packages (where pip's PyTorch puts cuDNN
 * and cuBLAS); last, the system loader's own search ({@code LD_LIBRARY_PATH}, ld.so.cache).
 */
@SuppressWarnings("restricted") // native libraries and calls are this class's purpose
public final class CudaLibraries {
  /** The libraries, each with the sonames it accepts, newest first. */
  public enum Library {
    /** The driver API: comes with the NVIDIA driver, not the toolkit. */
    DRIVER("the NVIDIA driver", "cuInit", "libcuda.so.1"),
    /** cuDNN 9. */
    CUDNN("cuDNN 9", "cudnnGetVersion", "libcudnn.so.9"),
    /** cuBLAS of CUDA 13, else 12. */
    CUBLAS("cuBLAS", "cublasCreate_v2", "libcublas.so.13", "libcublas.so.12");

    private final String what;
    private final String entryPoint;
    private final List<String> sonames;

    Library(String what, String entryPoint, String... sonames) {
      this.what = what;
      this.entryPoint = entryPoint;
      this.sonames = List.of(sonames);
    }

    /** A function every version has: a file that loads without it is some other library. */
    public String entryPoint() {
      return entryPoint;
    }

    /** What it is, for messages. */
    public String what() {
      return what;
    }

    /** The sonames tried, in order. */
    public List<String> sonames() {
      return sonames;
    }
  }

  /** An opened library: its symbols and where it came from. */
  public record Opened(Library library, String from, SymbolLookup symbols) {}

  /** A library that could not be opened; the message is one line saying what was tried. */
  public static final class NotFound extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NotFound(String message) {
      super(message);
    }
  }

  private CudaLibraries() {}

  /** The directories searched before the system loader's own search. */
  public static List<Path> searchDirs() {
    return searchDirs(System.getenv("FINGERSPELL_CUDA_LIBS"), pythonSitePackages());
  }

  /** {@link #searchDirs()} for a given {@code FINGERSPELL_CUDA_LIBS} value and site-packages. */
  static List<Path> searchDirs(String envList, List<Path> sitePackages) {
    Set<Path> dirs = new LinkedHashSet<>();
    if (envList != null) {
      for (String d : envList.split(":")) {
        if (!d.isBlank()) {
          dirs.add(Path.of(d.trim()));
        }
      }
    }
    dirs.add(Path.of("/usr/local/cuda/lib64"));
    dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
    dirs.add(Path.of("/usr/lib64"));
    for (Path site : sitePackages) {
      Path nvidia = site.resolve("nvidia");
      if (Files.isDirectory(nvidia)) {
        try (DirectoryStream<Path> parts = Files.newDirectoryStream(nvidia)) {
          for (Path part : parts) {
            if (Files.isDirectory(part.resolve("lib"))) {
              dirs.add(part.resolve("lib"));
            }
          }
        } catch (IOException e) {
          // an unreadable folder is one place fewer to look
        }
      }
    }
    return List.copyOf(dirs);
  }

  /** Python's site-packages folders that exist here (pip puts cuDNN and cuBLAS under them). */
  static List<Path> pythonSitePackages() {
    List<Path> found = new ArrayList<>();
    for (String root :
        List.of("/usr/local/lib", "/usr/lib", System.getProperty("user.home") + "/.local/lib")) {
      Path dir = Path.of(root);
      if (!Files.isDirectory(dir)) {
        continue;
      }
      try (DirectoryStream<Path> pythons = Files.newDirectoryStream(dir, "python3*")) {
        for (Path p : pythons) {
          for (String kind : List.of("site-packages", "dist-packages")) {
            if (Files.isDirectory(p.resolve(kind))) {
              found.add(p.resolve(kind));
            }
          }
        }
      } catch (IOException e) {
        // as above
      }
    }
    return found;
  }

  /** Opens {@code library} from {@link #searchDirs()}, else through the system loader. */
  public static Opened open(Library library, Arena arena) {
    return open(library, searchDirs(), arena);
  }

  /**
   * Opens {@code library}, trying each directory, then the system loader; else {@link NotFound}.
   */
  static Opened open(Library library, List<Path> dirs, Arena arena) {
    List<String> failures = new ArrayList<>();
    for (Path dir : dirs) {
      for (String soname : library.sonames()) {
        Path file = dir.resolve(soname);
        if (Files.exists(file)) {
          try {
            SymbolLookup symbols = SymbolLookup.libraryLookup(file, arena);
            if (symbols.find(library.entryPoint()).isPresent()) {
              return new Opened(library, file.toString(), symbols);
            }
            failures.add(file + " loads but has no " + library.entryPoint());
          } catch (IllegalArgumentException e) {
            failures.add(file + " is there but does not load (" + firstLine(e) + ")");
          }
        }
      }
    }
    for (String soname : library.sonames()) {
      try {
        SymbolLookup symbols = SymbolLookup.libraryLookup(soname, arena);
        if (symbols.find(library.entryPoint()).isPresent()) {
          return new Opened(library, soname + " (system loader)", symbols);
        }
        failures.add(soname + " from the system loader has no " + library.entryPoint());
      } catch (IllegalArgumentException e) {
        // not on LD_LIBRARY_PATH or in ld.so.cache either
      }
    }
    throw new NotFound(
        library.what()
            + ": "
            + String.join(" or ", library.sonames())
            + " not found"
            + (failures.isEmpty() ? "" : "; " + String.join("; ", failures))
            + ". Looked in "
            + dirs.stream().map(Path::toString).reduce((a, b) -> a + ", " + b).orElse("nothing")
            + " and the system loader's path; name the folder in FINGERSPELL_CUDA_LIBS.");
  }

  private static String firstLine(Exception e) {
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    return m.lines().findFirst().orElse(m);
  }
}
