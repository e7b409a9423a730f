package dev.fingerspell.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;

/**
 * Writing files so that a crash never leaves half of one: write a hidden temporary file beside the
 * target, flush it to the disk, then rename it over the target in one step and flush the folder.
 * Without the flushes a power cut after the rename can leave the new name on an empty file (the
 * data was still in the page cache), and the old file gone.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** A new empty temporary file in the target's folder (created if missing). */
  public static Path temporaryFor(Path target) throws IOException {
    Path dir = target.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    return Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
  }

  /**
   * Renames {@code tmp} over {@code target}, atomically where the file system can. The file gets
   * ordinary permissions (rw-r--r--), not the owner-only ones temporary files are created with.
   */
  public static void commit(Path tmp, Path target) throws IOException {
    try {
      Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: keep its defaults
    }
    try (FileChannel data = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
      data.force(true);
    }
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
    syncFolder(target.toAbsolutePath().getParent());
  }

  /** Flushes a folder's entries (the rename) to the disk, where the platform allows it. */
  private static void syncFolder(Path dir) {
    try (FileChannel folder = FileChannel.open(dir, StandardOpenOption.READ)) {
      folder.force(true);
    } catch (IOException e) {
      // not every platform opens or flushes a folder; the rename itself has happened
    }
  }

  /** Copies {@code source} to {@code target} atomically. */
  public static void copy(Path source, Path target) throws IOException {
    Path tmp = temporaryFor(target);
    try {
      Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
      commit(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Writes {@code bytes} to {@code target} atomically. */
  public static void write(Path target, byte[] bytes) throws IOException {
    write(target, out -> put(out, bytes, null));
  }

  /**
   * Writes all of {@code bytes} to {@code out} a megabyte at a time (NIO copies a heap buffer
   * through a direct one of the same size), feeding each chunk to {@code digest} first, while it is
   * in cache, when that is not null.
   */
  static void put(WritableByteChannel out, byte[] bytes, MessageDigest digest) throws IOException {
    for (int at = 0; at < bytes.length; at += 1 << 20) {
      int n = Math.min(1 << 20, bytes.length - at);
      if (digest != null) {
        digest.update(bytes, at, n);
      }
      ByteBuffer chunk = ByteBuffer.wrap(bytes, at, n);
      while (chunk.hasRemaining()) {
        out.write(chunk);
      }
    }
  }

  /** What goes into a file, written to the channel in order. */
  @FunctionalInterface
  public interface Content {
    /** Writes the whole content to {@code out}. */
    void writeTo(WritableByteChannel out) throws IOException;
  }

  /** Writes {@code content} to {@code target} atomically, as it comes (no copy of the whole). */
  public static void write(Path target, Content content) throws IOException {
    Path tmp = temporaryFor(target);
    try {
      try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        content.writeTo(out);
      }
      commit(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
