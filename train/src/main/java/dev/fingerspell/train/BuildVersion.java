package dev.fingerspell.train;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** Fingerspell's version, as the build wrote it into {@code version.properties}. */
public final class BuildVersion {
  private static final String VERSION = read();

  private BuildVersion() {}

  /** {@code 0.1.0-SNAPSHOT}, say; {@code unknown} outside a build. */
  public static String get() {
    return VERSION;
  }

  private static String read() {
    Properties p = new Properties();
    try (InputStream in = BuildVersion.class.getResourceAsStream("version.properties")) {
      if (in != null) {
        p.load(in);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return p.getProperty("version", "unknown");
  }
}
