package dev.fingerspell.train.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Where the images are in an extracted ASL Alphabet folder: the training root (one folder per
 * class, as torchvision's ImageFolder reads it) and the flat test folder ({@code CLASS_test.jpg}).
 * Accepts the Kaggle layout with or without the doubled folder names, any listing order, and stray
 * non-image files; a plain folder of class folders works too.
 *
 * @param trainRoot the folder of class folders, or null
 * @param testRoot the flat test folder, or null
 * @param classes class names, sorted as ImageFolder sorts them
 */
public record SourceLayout(Path trainRoot, Path testRoot, List<String> classes) {
  private static final int MAX_DEPTH = 4;

  /**
   * Whether a file name has an image extension. HEIC, WebP and AVIF count: they cannot be decoded
   * here, but each is then skipped and listed with what to do (convert it), not silently ignored
   * with the notes and .DS_Store files.
   */
  public static boolean isImageName(Path p) {
    String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
    return IMAGE_EXTENSIONS.stream().anyMatch(n::endsWith);
  }

  private static final List<String> IMAGE_EXTENSIONS =
      List.of(
          ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".webp",
          ".avif");

  /** Finds the layout under {@code dir}. */
  public static SourceLayout find(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new DataException(dir + " is not a folder or a .zip file");
    }
    List<Path> dirs = new ArrayList<>();
    try (Stream<Path> s = Files.walk(dir, MAX_DEPTH)) {
      s.filter(Files::isDirectory).forEach(dirs::add);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    dirs.sort(Comparator.comparingInt((Path p) -> p.getNameCount()).thenComparing(Path::toString));
    Path train = null;
    Path test = null;
    Path firstClassRoot = null;
    for (Path d : dirs) {
      String name = d.getFileName() == null ? "" : d.getFileName().toString();
      if (name.equals("asl_alphabet_test") && hasImages(d)) {
        test = d; // the deepest wins: the doubled name holds the files
      }
      if (classFolders(d).size() >= 2) {
        if (name.equals("asl_alphabet_train")) {
          train = d;
        } else if (firstClassRoot == null && !name.equals("asl_alphabet_test")) {
          firstClassRoot = d;
        }
      }
    }
    if (train == null) {
      train = firstClassRoot;
    }
    if (train == null && test == null) {
      throw new DataException(
          "no images found under "
              + dir
              + ": expected asl_alphabet_train/<class>/*.jpg (the Kaggle ASL Alphabet layout) or"
              + " a folder of class folders");
    }
    List<String> classes = new ArrayList<>();
    if (train != null) {
      for (Path c : classFolders(train)) {
        classes.add(c.getFileName().toString());
      }
    }
    classes.sort(String::compareTo);
    return new SourceLayout(train, test, List.copyOf(classes));
  }

  private static boolean hasImages(Path d) {
    try (Stream<Path> s = Files.list(d)) {
      return s.anyMatch(p -> Files.isRegularFile(p) && isImageName(p));
    } catch (IOException e) {
      return false;
    }
  }

  private static List<Path> classFolders(Path d) {
    try (Stream<Path> s = Files.list(d)) {
      return s.filter(Files::isDirectory).filter(SourceLayout::hasImages).toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  /** The image files of one class folder, sorted by name. */
  public List<Path> classFiles(String cls) {
    return images(trainRoot.resolve(cls));
  }

  /** The image files of the test folder, sorted by name. */
  public List<Path> testFiles() {
    return test() ? images(testRoot) : List.of();
  }

  /** Whether there is a test folder. */
  public boolean test() {
    return testRoot != null;
  }

  /** Counts the non-image files in the folders read (they are ignored). */
  public int nonImageFiles() {
    int n = 0;
    List<Path> folders = new ArrayList<>();
    if (trainRoot != null) {
      for (String c : classes) {
        folders.add(trainRoot.resolve(c));
      }
    }
    if (testRoot != null) {
      folders.add(testRoot);
    }
    for (Path f : folders) {
      try (Stream<Path> s = Files.list(f)) {
        n += (int) s.filter(p -> Files.isRegularFile(p) && !isImageName(p)).count();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return n;
  }

  /** The images directly in folder {@code d}, by file name. */
  public static List<Path> images(Path d) {
    try (Stream<Path> s = Files.list(d)) {
      return s.filter(p -> Files.isRegularFile(p) && isImageName(p))
          .sorted(Comparator.comparing(p -> p.getFileName().toString()))
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The class of a test file named {@code CLASS_test.ext}, or null. */
  public String testClass(Path file) {
    String n = file.getFileName().toString();
    int us = n.lastIndexOf("_test.");
    if (us <= 0) {
      return null;
    }
    String c = n.substring(0, us);
    return classes.isEmpty() || classes.contains(c) ? c : null;
  }
}
