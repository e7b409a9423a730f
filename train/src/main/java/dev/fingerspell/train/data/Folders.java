package dev.fingerspell.train.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.Stream;

/** Whole folders and their sizes: what data prepare replaces and the caches report and clear. */
public final class Folders {
  private Folders() {}

  /** The regular files below a folder: their count and bytes. */
  public record Usage(long files, long bytes) {}

  /** What is below {@code root}, in one walk; nothing when it is not there. */
  public static Usage usage(Path root) throws IOException {
    if (!Files.exists(root)) {
      return new Usage(0, 0);
    }
    long files = 0;
    long bytes = 0;
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : (Iterable<Path>) walk::iterator) {
        if (Files.isRegularFile(p)) {
          files++;
          bytes += p.toFile().length();
        }
      }
    }
    return new Usage(files, bytes);
  }

  /** Deletes a folder and everything in it, deepest first; nothing when it is not there. */
  public static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  /** A size for people: "3.0 kB", "205.5 MB", "15.7 GB" (powers of 1000, as df -H). */
  public static String size(long bytes) {
    if (bytes < 1_000_000) {
      return String.format(Locale.ROOT, "%.1f kB", bytes / 1e3);
    }
    if (bytes < 1_000_000_000) {
      return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }
    return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
  }
}
