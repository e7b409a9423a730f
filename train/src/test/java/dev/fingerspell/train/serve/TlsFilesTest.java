package dev.fingerspell.train.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.train.Fixtures;
import dev.fingerspell.weights.SelfSignedCertificate;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS from the PEM files a certificate authority hands out: the key pairs come from the JDK's
 * keytool (an EC one for 127.0.0.1, an RSA one beside it), written out as PEM as openssl and
 * certbot write them.
 */
class TlsFilesTest {
  @TempDir static Path dir;
  private static final char[] PASSWORD = "test-pass".toCharArray();
  private static KeyStore ec;
  private static KeyStore rsa;

  @BeforeAll
  static void makeKeys() throws Exception {
    ec = keytool("ec", "-keyalg", "EC", "-groupname", "secp256r1");
    rsa = keytool("rsa", "-keyalg", "RSA", "-keysize", "2048");
    pem(
        dir.resolve("ec-cert.pem"),
        "CERTIFICATE",
        ec.getCertificate(SelfSignedCertificate.ALIAS).getEncoded());
    pem(
        dir.resolve("ec-key.pem"),
        "PRIVATE KEY",
        ec.getKey(SelfSignedCertificate.ALIAS, PASSWORD).getEncoded());
    pem(
        dir.resolve("rsa-key.pem"),
        "PRIVATE KEY",
        rsa.getKey(SelfSignedCertificate.ALIAS, PASSWORD).getEncoded());
  }

  private static KeyStore keytool(String name, String... algorithm) throws Exception {
    return SelfSignedCertificate.make(dir.resolve(name + ".p12"), PASSWORD, algorithm);
  }

  private static void pem(Path file, String type, byte[] der) throws Exception {
    Files.writeString(
        file,
        "-----BEGIN "
            + type
            + "-----\n"
            + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
            + "\n-----END "
            + type
            + "-----\n");
  }

  @Test
  void servesHttpsWithTheCertificateItWasGiven() throws Exception {
    SSLContext tls = TlsFiles.context(dir.resolve("ec-cert.pem"), dir.resolve("ec-key.pem"));
    AslClassifier classifier =
        AslClassifier.load(Fixtures.randomModel(dir.resolve("asl.safetensors"), 3, 64));
    PredictionServer server =
        PredictionServer.start(
            classifier,
            new PredictionServer.Settings(
                "127.0.0.1", 0, 4, 64, 1 << 20, "m", false, List.of(), null, tls),
            new PrintWriter(new StringWriter(), true));
    try {
      // a client that trusts this certificate only, checking the host name against it
      KeyStore trusted = KeyStore.getInstance("PKCS12");
      trusted.load(null, null);
      trusted.setCertificateEntry("serve", ec.getCertificate(SelfSignedCertificate.ALIAS));
      TrustManagerFactory trust =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      trust.init(trusted);
      SSLContext client = SSLContext.getInstance("TLS");
      client.init(null, trust.getTrustManagers(), null);
      HttpClient https = HttpClient.newBuilder().sslContext(client).build();
      URI base = URI.create("https://127.0.0.1:" + server.address().getPort());
      HttpResponse<String> health =
          https.send(
              HttpRequest.newBuilder(base.resolve("/health")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode());
      HttpResponse<String> predicted =
          https.send(
              HttpRequest.newBuilder(base.resolve("/predict"))
                  .header("Content-Type", "image/png")
                  .POST(HttpRequest.BodyPublishers.ofByteArray(Fixtures.noisePng(4, 64, 64)))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, predicted.statusCode(), predicted.body());
      assertTrue(predicted.body().contains("\"predictions\""), predicted.body());
      Certificate served =
          predicted.sslSession().orElseThrow().getPeerCertificates()[0]; // the one given
      assertEquals(ec.getCertificate(SelfSignedCertificate.ALIAS), served);
      // plain HTTP to the HTTPS port gets no answer
      HttpClient plain = HttpClient.newHttpClient();
      assertThrows(
          java.io.IOException.class,
          () ->
              plain.send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + server.address().getPort() + "/health"))
                      .timeout(java.time.Duration.ofSeconds(10))
                      .build(),
                  HttpResponse.BodyHandlers.ofString()));
    } finally {
      server.close();
    }
  }

  @Test
  void mistakesInTheFilesAreOneLineSayingWhatToDo() throws Exception {
    Path cert = dir.resolve("ec-cert.pem");
    IllegalArgumentException other =
        assertThrows(
            IllegalArgumentException.class,
            () -> TlsFiles.context(cert, dir.resolve("rsa-key.pem")));
    assertEquals(
        dir.resolve("rsa-key.pem") + " is not the private key of the certificate in " + cert,
        other.getMessage());
    Path pkcs1 = dir.resolve("pkcs1.pem");
    Files.writeString(
        pkcs1,
        Files.readString(dir.resolve("rsa-key.pem")).replace("PRIVATE KEY", "RSA PRIVATE KEY"));
    IllegalArgumentException old =
        assertThrows(IllegalArgumentException.class, () -> TlsFiles.context(cert, pkcs1));
    assertTrue(
        old.getMessage()
            .endsWith(
                "holds a 'RSA PRIVATE KEY'; serve takes an unencrypted PKCS#8 key: openssl pkcs8"
                    + " -topk8 -nocrypt -in "
                    + pkcs1
                    + " -out key.pem"),
        old.getMessage());
    IllegalArgumentException keyAsCert =
        assertThrows(
            IllegalArgumentException.class,
            () -> TlsFiles.context(dir.resolve("ec-key.pem"), dir.resolve("ec-key.pem")));
    assertTrue(
        keyAsCert.getMessage().startsWith(dir.resolve("ec-key.pem") + " "), keyAsCert.getMessage());
    IllegalArgumentException certAsKey =
        assertThrows(IllegalArgumentException.class, () -> TlsFiles.context(cert, cert));
    assertEquals(
        cert + " holds no PEM private key (a block 'BEGIN PRIVATE KEY')", certAsKey.getMessage());
  }
}
