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
import java.util.Map;
import java.util.Set;

/**
 * Finds and opens NVIDIA's libraries by soname, and says exactly what it looked for when it cannot
 * — the commonest complaint of every Java GPU stack is an error that does not.
 *
 * <p>Where it looks, in order: the directories of {@code FINGERSPELL_CUDA_LIBS} (a {@code :}-list),
 * the CUDA toolkit's {@code /usr/local/cuda/lib64}, the system's library directories, conda's
 * {@code lib}, and the {@code nvidia/*}{@code /lib} folders of Python's site-packages (where pip's
 * PyTorch puts cuDNN and cuBLAS: the active virtual environment's or conda's, those of each {@code
 * python3} on {@code PATH}, the system's and the user's); last, the system loader's own search
 * ({@code LD_LIBRARY_PATH}, ld.so.cache).
 */
@SuppressWarnings("restricted") // native libraries and calls are this class's purpose
public final class CudaLibraries {
  /** The libraries, each with the sonames it accepts, newest first. */
  public enum Library {
    /** The driver API: comes with the NVIDIA driver, not the toolkit. */
    DRIVER("the NVIDIA driver", "cuInit", false, "libcuda.so.1"),
    /** cuDNN 9 (the same soname for every CUDA it is built for). */
    CUDNN("cuDNN 9", "cudnnGetVersion", false, "libcudnn.so.9"),
    /** cuBLAS of CUDA 13, else 12: the soname's last number is the CUDA it needs. */
    CUBLAS("cuBLAS", "cublasCreate_v2", true, "libcublas.so.13", "libcublas.so.12");

    private final String what;
    private final String entryPoint;
    private final boolean sonameNamesCuda;
    private final List<String> sonames;

    Library(String what, String entryPoint, boolean sonameNamesCuda, String... sonames) {
      this.what = what;
      this.entryPoint = entryPoint;
      this.sonameNamesCuda = sonameNamesCuda;
      this.sonames = List.of(sonames);
    }

    /**
     * Whether a driver that runs CUDA {@code driverVersion} (cuDriverGetVersion's number, 13000 for
     * 13.0; 0 when unknown) can run the library under {@code soname}: cuBLAS 13 cannot run on a
     * CUDA 12 driver, and fails only at {@code cublasCreate}, with nothing said.
     */
    boolean runsOn(String soname, int driverVersion) {
      if (!sonameNamesCuda || driverVersion == 0) {
        return true;
      }
      int cuda = Integer.parseInt(soname.substring(soname.lastIndexOf('.') + 1));
      return cuda <= driverVersion / 1000;
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

    /** "libcublas.so.13 or libcublas.so.12". */
    String describeSonames() {
      return String.join(" or ", sonames);
    }
  }

  /**
   * An opened library: its symbols and where it came from ({@code file} null when the system loader
   * found it).
   */
  public record Opened(Library library, String from, Path file, SymbolLookup symbols) {}

  /** A library that could not be opened; the message is one line saying what was tried. */
  public static final class NotFound extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The library, or null for a message not about one library. */
    private final transient Library library;

    /** What was wrong with files of the right name ("X loads but has no cuInit"). */
    private final transient List<String> rejected;

    /** The folders searched before the system loader. */
    private final transient List<Path> searched;

    NotFound(String message) {
      super(message);
      library = null;
      rejected = List.of();
      searched = List.of();
    }

    NotFound(Library library, List<String> rejected, List<Path> searched) {
      super(
          library.what()
              + ": "
              + library.describeSonames()
              + " not found"
              + (rejected.isEmpty() ? "" : "; " + String.join("; ", rejected))
              + ". "
              + lookedIn(searched));
      this.library = library;
      this.rejected = List.copyOf(rejected);
      this.searched = List.copyOf(searched);
    }

    /** The library that is missing, or null. */
    public Library library() {
      return library;
    }

    /** What was wrong with the files of its name that were there (none when there were none). */
    public List<String> rejected() {
      return rejected;
    }

    /** The folders searched before the system loader's path. */
    public List<Path> searched() {
      return searched;
    }
  }

  /** Where a search looked and what to do, as the end of a message. */
  static String lookedIn(List<Path> dirs) {
    return "Looked in "
        + (dirs.isEmpty()
            ? "nothing"
            : String.join(", ", dirs.stream().map(Path::toString).toList()))
        + " and the system loader's path; name the folder in FINGERSPELL_CUDA_LIBS.";
  }

  private CudaLibraries() {}

  /** The directories searched before the system loader's own search. */
  public static List<Path> searchDirs() {
    Map<String, String> env = System.getenv();
    String conda = env.get("CONDA_PREFIX");
    List<Path> condaLib =
        conda == null || conda.isBlank() ? List.of() : List.of(Path.of(conda, "lib"));
    return searchDirs(
        env.get("FINGERSPELL_CUDA_LIBS"),
        condaLib,
        pythonSitePackages(pythonLibRoots(env, System.getProperty("user.home"))));
  }

  /**
   * {@link #searchDirs()} for a given {@code FINGERSPELL_CUDA_LIBS} value, other library folders
   * (conda's, where its cuDNN and cuBLAS packages put them) and Python site-packages folders.
   */
  static List<Path> searchDirs(String envList, List<Path> libDirs, List<Path> sitePackages) {
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
    dirs.addAll(libDirs);
    for (Path site : sitePackages) {
      for (Path part : entries(site.resolve("nvidia"), "*")) {
        if (Files.isDirectory(part.resolve("lib"))) {
          dirs.add(part.resolve("lib"));
        }
      }
    }
    return List.copyOf(dirs);
  }

  /**
   * The entries of {@code dir} matching {@code glob}, in name order (the file system's own order
   * would make the search differ from machine to machine); none when it is not a readable folder,
   * which is one place fewer to look.
   */
  private static List<Path> entries(Path dir, String glob) {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    List<Path> found = new ArrayList<>();
    try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir, glob)) {
      stream.forEach(found::add);
    } catch (IOException e) {
      return List.of();
    }
    found.sort(null);
    return found;
  }

  /**
   * The {@code lib} folders under which Python keeps its {@code python3.X/site-packages}, most
   * specific first: the active virtual environment's ({@code VIRTUAL_ENV}), conda's ({@code
   * CONDA_PREFIX}), the environment of each {@code python3} on {@code PATH} (PyTorch is most often
   * installed in a virtual environment, which need not be activated to be first on the path), then
   * the system's and the user's.
   */
  static List<Path> pythonLibRoots(Map<String, String> env, String home) {
    Set<Path> roots = new LinkedHashSet<>();
    for (String prefix : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
      String dir = env.get(prefix);
      if (dir != null && !dir.isBlank()) {
        roots.add(Path.of(dir, "lib"));
      }
    }
    String path = env.getOrDefault("PATH", "");
    for (String dir : path.split(":")) {
      // the folder on PATH, not where its python3 link points: a venv's python3 links to the
      // system's interpreter, but its packages are under the venv
      if (!dir.isBlank() && Files.isExecutable(Path.of(dir, "python3"))) {
        roots.add(Path.of(dir).toAbsolutePath().resolveSibling("lib").normalize());
      }
    }
    roots.add(Path.of("/usr/local/lib"));
    roots.add(Path.of("/usr/lib"));
    if (home != null) {
      roots.add(Path.of(home, ".local", "lib"));
    }
    return List.copyOf(roots);
  }

  /** The site-packages folders under {@code roots} (pip puts cuDNN and cuBLAS under them). */
  static List<Path> pythonSitePackages(List<Path> roots) {
    List<Path> found = new ArrayList<>();
    for (Path dir : roots) {
      for (Path python : entries(dir, "python3*")) {
        for (String kind : List.of("site-packages", "dist-packages")) {
          if (Files.isDirectory(python.resolve(kind))) {
            found.add(python.resolve(kind));
          }
        }
      }
    }
    return found;
  }

  /** Opens {@code library} from {@link #searchDirs()}, else through the system loader. */
  public static Opened open(Library library, Arena arena) {
    return open(library, searchDirs(), 0, arena);
  }

  static Opened open(Library library, List<Path> dirs, Arena arena) {
    return open(library, dirs, 0, arena);
  }

  /**
   * Opens the library: what the driver can run first, from the folders (in order) and then through
   * the system loader, and only then what it cannot (for the probe to say why it will not work);
   * else {@link NotFound}.
   */
  static Opened open(Library library, List<Path> dirs, int driverVersion, Arena arena) {
    List<String> failures = new ArrayList<>();
    for (boolean runs : new boolean[] {true, false}) {
      for (Path file : candidates(library, dirs, driverVersion, runs)) {
        try {
          SymbolLookup symbols = SymbolLookup.libraryLookup(file, arena);
          if (symbols.find(library.entryPoint()).isPresent()) {
            return new Opened(library, file.toString(), file, symbols);
          }
          failures.add(file + " loads but has no " + library.entryPoint());
        } catch (IllegalArgumentException e) {
          failures.add(file + " is there but does not load (" + firstLine(e) + ")");
        }
      }
      for (String soname : library.sonames()) {
        if (library.runsOn(soname, driverVersion) != runs) {
          continue;
        }
        try {
          SymbolLookup symbols = SymbolLookup.libraryLookup(soname, arena);
          if (symbols.find(library.entryPoint()).isPresent()) {
            return new Opened(library, soname + " (system loader)", null, symbols);
          }
          failures.add(soname + " from the system loader has no " + library.entryPoint());
        } catch (IllegalArgumentException e) {
          // not on LD_LIBRARY_PATH or in ld.so.cache either
        }
      }
    }
    failures.addAll(otherVersions(library, dirs));
    throw new NotFound(library, failures, dirs);
  }

  /**
   * The files of {@code library}'s sonames in {@code dirs} that the driver can ({@code runs}) or
   * cannot run, in the order to try them: folder by folder (the user's first), newest soname first
   * within a folder. So with a CUDA 12 driver a cuBLAS 12 in pip's folder is taken over the cuBLAS
   * 13 of {@code /usr/local/cuda}.
   */
  static List<Path> candidates(Library library, List<Path> dirs, int driverVersion, boolean runs) {
    List<Path> files = new ArrayList<>();
    for (Path dir : dirs) {
      for (String soname : library.sonames()) {
        Path file = dir.resolve(soname);
        if (library.runsOn(soname, driverVersion) == runs && Files.exists(file)) {
          files.add(file);
        }
      }
    }
    return files;
  }

  /**
   * The libraries cuDNN itself opens by soname when it needs them: cuBLASLt (the legacy convolution
   * calls and some engines) and NVRTC (runtime-compiled engines), of the CUDA it was built for.
   */
  static List<String> cudnnDependencies(int cudaMajor) {
    return List.of("libcublasLt.so." + cudaMajor, "libnvrtc.so." + cudaMajor);
  }

  /**
   * {@link #preload}s what cuDNN built for CUDA {@code cudaMajor} opens by soname, looking first
   * beside {@code cublas} (null: none opened), then in {@code searched}: cuBLAS loaded the cuBLASLt
   * beside it, and the same file again is the same library, where one of another folder would be a
   * second cuBLASLt.
   */
  static List<String> preloadForCudnn(
      int cudaMajor, Opened cublas, List<Path> searched, Arena arena) {
    Set<Path> dirs = new LinkedHashSet<>();
    if (cublas != null && cublas.file() != null) {
      dirs.add(cublas.file().toAbsolutePath().getParent());
    }
    dirs.addAll(searched);
    return preload(cudnnDependencies(cudaMajor), List.copyOf(dirs), arena);
  }

  /**
   * Loads each of {@code sonames} from the first of {@code dirs} that has it, else through the
   * system loader, so that a library opening it by soname later gets this one: cuDNN looks only
   * beside itself and on the system loader's path, while pip puts cuBLASLt and NVRTC in folders of
   * their own (PyTorch preloads them the same way). One line each of what happened, for the probe's
   * report; a soname found nowhere is left to its user, which does without it or fails saying so.
   */
  static List<String> preload(List<String> sonames, List<Path> dirs, Arena arena) {
    List<String> said = new ArrayList<>();
    for (String soname : sonames) {
      said.add(soname + " " + preloadOne(soname, dirs, arena));
    }
    return said;
  }

  private static String preloadOne(String soname, List<Path> dirs, Arena arena) {
    List<String> refused = new ArrayList<>();
    for (Path dir : dirs) {
      Path file = dir.resolve(soname);
      if (Files.exists(file)) {
        try {
          SymbolLookup.libraryLookup(file, arena);
          return "from " + file;
        } catch (IllegalArgumentException e) {
          refused.add(file + " does not load (" + firstLine(e) + ")");
        }
      }
    }
    try {
      SymbolLookup.libraryLookup(soname, arena);
      return "from the system loader";
    } catch (IllegalArgumentException e) {
      return "not found"
          + (refused.isEmpty() ? "" : " (" + String.join("; ", refused) + ")")
          + ", left to cuDNN";
    }
  }

  /** At most this many other versions are named: enough to say what is there. */
  private static final int OTHER_VERSIONS_NAMED = 4;

  /**
   * Files of the library's name with another version in {@code dirs} ("libcudnn.so.8", or the
   * driver's "libcuda.so.580.95" without its "libcuda.so.1" link), each as a note for the message:
   * a user with cuDNN 8 needs to hear that it was seen and is the wrong one.
   */
  static List<String> otherVersions(Library library, List<Path> dirs) {
    Set<String> stems = new LinkedHashSet<>();
    for (String soname : library.sonames()) {
      stems.add(soname.substring(0, soname.indexOf(".so") + 3)); // libcublas.so.13 -> libcublas.so
    }
    List<String> notes = new ArrayList<>();
    for (Path dir : dirs) {
      for (Path file : entries(dir, "lib*.so*")) {
        String name = file.getFileName().toString();
        boolean sameLibrary =
            stems.stream().anyMatch(stem -> name.equals(stem) || name.startsWith(stem + "."));
        if (sameLibrary && !library.sonames().contains(name)) {
          notes.add("found " + file + ", another version");
        }
      }
    }
    if (notes.size() > OTHER_VERSIONS_NAMED) {
      int more = notes.size() - OTHER_VERSIONS_NAMED;
      notes = new ArrayList<>(notes.subList(0, OTHER_VERSIONS_NAMED));
      notes.add("and " + more + " more of other versions");
    }
    return notes;
  }

  private static String firstLine(Exception e) {
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    return m.lines().findFirst().orElse(m);
  }
}
