package dev.fingerspell.weights;

import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * File errors in words a user acts on. The JDK's commonest file exceptions carry only the path as
 * their message ({@code AccessDeniedException: runs/x}), so "cannot write runs/x: runs/x" would
 * hide that the folder is not writable.
 */
public final class IoErrors {
  private IoErrors() {}

  /** What went wrong, as one line: the path and the reason where the exception has both. */
  public static String describe(Throwable e) {
    // new UncheckedIOException(cause) takes the cause's toString() as its message
    if (e instanceof UncheckedIOException u
        && u.getCause() != null
        && u.getCause().toString().equals(u.getMessage())) {
      return describe(u.getCause());
    }
    if (e instanceof FileSystemException f && f.getReason() == null && f.getFile() != null) {
      String what =
          switch (f) {
            case NoSuchFileException x -> "no such file or folder";
            case AccessDeniedException x -> "permission denied";
            case FileAlreadyExistsException x -> "already exists";
            case NotDirectoryException x -> "not a folder";
            case DirectoryNotEmptyException x -> "folder not empty";
            default -> f.getClass().getSimpleName();
          };
      return f.getFile()
          + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile())
          + ": "
          + what;
    }
    String m = e.getMessage();
    if (m == null || m.isBlank()) {
      return e.getClass().getSimpleName();
    }
    int nl = m.indexOf('\n'); // a parser's message may go on with the offending text
    return nl < 0 ? m : m.substring(0, nl);
  }
}
