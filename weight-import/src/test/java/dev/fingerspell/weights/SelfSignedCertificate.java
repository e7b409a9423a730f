package dev.fingerspell.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;

/**
 * A key pair with a certificate for 127.0.0.1 (its subject and its IP address), made by the JDK's
 * own keytool, for the tests that serve HTTPS on loopback: the hub here, {@code serve} in train.
 */
public final class SelfSignedCertificate {
  /** The alias of the key entry in the stores made here. */
  public static final String ALIAS = "serve";

  private SelfSignedCertificate() {}

  /**
   * A PKCS#12 store at {@code store} with one key entry, {@code algorithm} being keytool's options
   * for it ({@code -keyalg EC -groupname secp256r1}, {@code -keyalg RSA -keysize 2048}), loaded.
   */
  public static KeyStore make(Path store, char[] password, String... algorithm) throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair",
                "-alias",
                ALIAS,
                "-dname",
                "CN=127.0.0.1",
                "-ext",
                "SAN=ip:127.0.0.1",
                "-validity",
                "2",
                "-storetype",
                "PKCS12",
                "-keystore",
                store.toString(),
                "-storepass",
                new String(password)));
    command.addAll(List.of(algorithm));
    Process keytool = new ProcessBuilder(command).redirectErrorStream(true).start();
    String said = new String(keytool.getInputStream().readAllBytes());
    assertEquals(0, keytool.waitFor(), said);
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(store)) {
      keys.load(in, password);
    }
    return keys;
  }
}
