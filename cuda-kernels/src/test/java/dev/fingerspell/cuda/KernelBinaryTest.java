package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The kept kernel binary against its source, on every machine (no GPU needed): the stamp beside the
 * fatbin names the source it was built from and the fatbin's own hash; both must match, so a kernel
 * changed without {@code build-kernels.sh} having rebuilt it (nvcc missing) fails here.
 */
class KernelBinaryTest {
  private static final Path SOURCE = Path.of("src/main/cuda/fingerspell.cu");
  private static final String FATBIN = "/dev/fingerspell/cuda/fingerspell.fatbin";

  @Test
  void keptFatbinIsBuiltFromTheCurrentSource() throws IOException {
    List<String> stamp = stamp();
    assertTrue(
        stamp.contains("source " + sha256(Files.readAllBytes(SOURCE))),
        SOURCE
            + " changed since the kept fatbin was built: run cuda-kernels/build-kernels.sh"
            + " where nvcc is installed");
    byte[] fatbin;
    try (InputStream in = KernelBinaryTest.class.getResourceAsStream(FATBIN)) {
      assertNotNull(in, FATBIN + " is missing");
      fatbin = in.readAllBytes();
    }
    assertTrue(stamp.contains("fatbin " + sha256(fatbin)), "the fatbin does not match its stamp");
  }

  /** Every kernel the source defines is an extern "C" global, so the driver finds it by name. */
  @Test
  void everyKernelHasCLinkage() throws IOException {
    String source = Files.readString(SOURCE, StandardCharsets.UTF_8);
    Matcher globals = Pattern.compile("__global__\\s+void\\s+(\\w+)").matcher(source);
    Matcher exported = Pattern.compile("extern \"C\" __global__\\s+void\\s+(\\w+)").matcher(source);
    long all = globals.results().count();
    long c = exported.results().count();
    assertTrue(all > 0, "no kernels found");
    assertEquals(all, c, "a __global__ kernel without extern \"C\" has a mangled name");
  }

  private static List<String> stamp() throws IOException {
    try (InputStream in = KernelBinaryTest.class.getResourceAsStream(FATBIN + ".stamp")) {
      assertNotNull(in, FATBIN + ".stamp is missing");
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
    }
  }

  private static String sha256(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
