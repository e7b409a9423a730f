package dev.fingerspell.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IoErrorsTest {
  @TempDir Path dir;

  @Test
  void theJdksPathOnlyExceptionsGetTheirReason() {
    assertEquals("a: no such file or folder", IoErrors.describe(new NoSuchFileException("a")));
    assertEquals("a: permission denied", IoErrors.describe(new AccessDeniedException("a")));
    assertEquals("a: already exists", IoErrors.describe(new FileAlreadyExistsException("a")));
    assertEquals("a: not a folder", IoErrors.describe(new NotDirectoryException("a")));
    assertEquals("a: folder not empty", IoErrors.describe(new DirectoryNotEmptyException("a")));
    assertEquals(
        "a -> b: permission denied", IoErrors.describe(new AccessDeniedException("a", "b", null)));
  }

  @Test
  void aMessageWithItsReasonIsKept() {
    assertEquals(
        "a: Not a directory",
        IoErrors.describe(new FileSystemException("a", null, "Not a directory")));
    assertEquals(
        "No space left on device", IoErrors.describe(new IOException("No space left on device")));
    assertEquals("IOException", IoErrors.describe(new IOException()));
    assertEquals("bad header", IoErrors.describe(new IOException("bad header\n at line 3: {")));
  }

  @Test
  void anUncheckedWrapperIsSeenThroughOnlyWhenItSaysNothingOfItsOwn() {
    NoSuchFileException cause = new NoSuchFileException("a");
    assertEquals("a: no such file or folder", IoErrors.describe(new UncheckedIOException(cause)));
    assertEquals(
        "cannot read a: a: no such file or folder",
        IoErrors.describe(
            new UncheckedIOException("cannot read a: a: no such file or folder", cause)));
  }

  @Test
  void aMissingFileReadForRealSaysSo() {
    Path missing = dir.resolve("missing.yaml");
    IOException e = assertThrows(IOException.class, () -> Files.readString(missing));
    assertEquals(missing + ": no such file or folder", IoErrors.describe(e));
  }
}
