package dev.fingerspell.train.serve;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The key a client must send to use the service ({@code Authorization: Bearer KEY} or {@code
 * X-API-Key: KEY}). Only its SHA-256 is kept, and keys are compared digest to digest in constant
 * time, so neither a log line nor a timing tells the key.
 */
public final class ApiKey {
  /** Shorter keys are refused: a guessable key is no protection on a port open to a network. */
  public static final int MIN_LENGTH = 16;

  private final byte[] digest;

  private ApiKey(byte[] digest) {
    this.digest = digest;
  }

  /** The key, without surrounding white space (a key file's last newline, say). */
  public static ApiKey of(String key) {
    String k = key.strip();
    if (k.length() < MIN_LENGTH || !k.chars().allMatch(c -> c > ' ' && c < 127)) {
      throw new IllegalArgumentException(
          "an API key is at least "
              + MIN_LENGTH
              + " printable ASCII characters without spaces (openssl rand -hex 32 makes one)");
    }
    return new ApiKey(sha256(k));
  }

  /** Whether {@code given} (null for none sent) is the key. */
  public boolean matches(String given) {
    return given != null && MessageDigest.isEqual(digest, sha256(given.strip()));
  }

  @Override
  public String toString() {
    return "ApiKey[not shown]";
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }
}
