package dev.fingerspell.train.training;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The lock a training process holds on its run folder ({@code .fingerspell.lock}, an OS file lock)
 * for as long as it trains in it: a second run into the folder, or a resume started while the first
 * is still saving after Ctrl-C, would otherwise delete or interleave its files. The OS releases it
 * when the process dies, so a killed run leaves no stale lock.
 *
 * <p>Linux drops all of a process's locks on a file when any of its channels to that file closes,
 * so the folders this JVM holds are also kept in a set, and never opened a second time here.
 */
final class RunFolderLock implements AutoCloseable {
  static final String FILE = ".fingerspell.lock";

  private static final Set<Path> HELD_HERE = ConcurrentHashMap.newKeySet();

  private final Path key;
  private final FileChannel channel;

  private RunFolderLock(Path key, FileChannel channel) {
    this.key = key;
    this.channel = channel;
  }

  /** Locks {@code run} (an existing folder), or says in one line that another run holds it. */
  static RunFolderLock take(Path run) throws IOException {
    Path key = run.toRealPath();
    if (!HELD_HERE.add(key)) {
      throw inUse(run);
    }
    FileChannel channel = null;
    try {
      channel =
          FileChannel.open(run.resolve(FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      FileLock lock = channel.tryLock();
      if (lock == null) {
        throw inUse(run);
      }
      return new RunFolderLock(key, channel);
    } catch (IOException | RuntimeException e) {
      if (channel != null) {
        channel.close();
      }
      HELD_HERE.remove(key);
      throw e;
    }
  }

  /** Whether a process (this one included) trains in {@code run} now. */
  static boolean held(Path run) {
    Path file = run.resolve(FILE);
    try {
      if (HELD_HERE.contains(run.toRealPath())) {
        return true;
      }
      if (!Files.isRegularFile(file)) {
        return false;
      }
      try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
        FileLock lock = channel.tryLock();
        return lock == null; // ours is released as the channel closes
      }
    } catch (IOException e) {
      return false; // unreadable here: not known to be in use
    }
  }

  private static IllegalStateException inUse(Path run) {
    return new IllegalStateException(
        run
            + " is in use by another training run (one still saving after Ctrl-C, perhaps): wait"
            + " for it to end, or give this run another run.dir");
  }

  @Override
  public void close() throws IOException {
    try {
      channel.close(); // releases the lock
    } finally {
      HELD_HERE.remove(key);
    }
  }
}
