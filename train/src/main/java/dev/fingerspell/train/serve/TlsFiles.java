package dev.fingerspell.train.serve;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * A TLS context from the PEM files a certificate authority or certbot hands out, as uvicorn's
 * {@code --ssl-certfile} and {@code --ssl-keyfile} take them: the certificate chain (the server's
 * certificate first) and its unencrypted PKCS#8 private key. Every mistake is one line naming the
 * file and what to do; a key that does not belong to the certificate is found here, not at the
 * first client's handshake.
 */
public final class TlsFiles {
  private static final Pattern PEM_KEY =
      Pattern.compile("-----BEGIN ([A-Z ]*)PRIVATE KEY-----([A-Za-z0-9+/=\\s]*)-----END");

  private TlsFiles() {}

  /** The context serving {@code certificates} with {@code key}. */
  public static SSLContext context(Path certificates, Path key) throws IOException {
    List<X509Certificate> chain = chain(certificates);
    PrivateKey privateKey = privateKey(key);
    if (!belong(privateKey, chain.get(0))) {
      throw new IllegalArgumentException(
          key + " is not the private key of the certificate in " + certificates);
    }
    try {
      char[] password = new char[0]; // the store lives in memory only
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      store.setKeyEntry("serve", privateKey, password, chain.toArray(new Certificate[0]));
      KeyManagerFactory keys =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      keys.init(store, password);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(keys.getKeyManagers(), null, null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("TLS could not be set up: " + e.getMessage(), e);
    }
  }

  private static List<X509Certificate> chain(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      List<X509Certificate> chain =
          CertificateFactory.getInstance("X.509").generateCertificates(in).stream()
              .map(X509Certificate.class::cast)
              .toList();
      if (chain.isEmpty()) {
        throw new IllegalArgumentException(
            file + " holds no certificate: give the PEM file that begins 'BEGIN CERTIFICATE'");
      }
      return chain;
    } catch (java.security.cert.CertificateException e) {
      throw new IllegalArgumentException(
          file + " is no PEM certificate chain (" + e.getMessage() + ")", e);
    }
  }

  private static PrivateKey privateKey(Path file) throws IOException {
    String text = Files.readString(file, StandardCharsets.US_ASCII);
    Matcher pem = PEM_KEY.matcher(text);
    if (!pem.find()) {
      throw new IllegalArgumentException(
          file + " holds no PEM private key (a block 'BEGIN PRIVATE KEY')");
    }
    if (!pem.group(1).isEmpty()) { // RSA (PKCS#1), EC (SEC1) or ENCRYPTED
      throw new IllegalArgumentException(
          file
              + " holds a '"
              + pem.group(1).strip()
              + " PRIVATE KEY'; serve takes an unencrypted PKCS#8 key: openssl pkcs8 -topk8"
              + " -nocrypt -in "
              + file
              + " -out key.pem");
    }
    byte[] der = Base64.getMimeDecoder().decode(pem.group(2));
    for (String algorithm : List.of("RSA", "EC", "Ed25519")) {
      try {
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (GeneralSecurityException e) {
        // another algorithm's key
      }
    }
    throw new IllegalArgumentException(file + " holds no RSA, EC or Ed25519 private key");
  }

  /** Whether a signature by {@code key} verifies with the certificate's public key. */
  private static boolean belong(PrivateKey key, X509Certificate certificate) {
    String algorithm =
        switch (key.getAlgorithm()) {
          case "RSA" -> "SHA256withRSA";
          case "EC" -> "SHA256withECDSA";
          default -> key.getAlgorithm(); // Ed25519
        };
    try {
      byte[] probe = new byte[32];
      new SecureRandom().nextBytes(probe);
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(key);
      signer.update(probe);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(certificate.getPublicKey());
      verifier.update(probe);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false; // a key of another algorithm than the certificate's
    }
  }
}
