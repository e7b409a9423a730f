package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.OwnJvm;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServeCommandTest {
  @TempDir static Path dir;
  private static Path model;

  @BeforeAll
  static void makeModel() {
    model = Fixtures.randomModel(dir.resolve("asl.safetensors"), 5, 64);
  }

  /**
   * As a user (or Docker) runs it: a JVM of its own serving on a free port, answering, then stopped
   * with SIGTERM once its request is under way; that request is still answered, and it says so.
   */
  @Test
  void servesUntilSigtermAndFinishesTheRequestUnderWay() throws Exception {
    Path run = java.nio.file.Files.createDirectories(dir.resolve("run"));
    java.nio.file.Files.copy(model, run.resolve("model.safetensors"));
    java.nio.file.Files.writeString(run.resolve("config.yaml"), "seed: 1\n");
    // a run folder stands for its model.safetensors, as for predict
    Process server = serveInItsOwnJvm("--model", run.toString(), "--port", "0", "--quiet");
    try (BufferedReader out =
        new BufferedReader(
            new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      Matcher serving = null;
      StringBuilder before = new StringBuilder();
      while ((line = out.readLine()) != null) {
        before.append(line).append('\n');
        Matcher m =
            Pattern.compile("^fingerspell: serving (.+) on http://127\\.0\\.0\\.1:(\\d+) \\(cpu,")
                .matcher(line);
        if (m.find()) {
          serving = m;
          break;
        }
      }
      assertTrue(serving != null, before::toString);
      assertEquals(run.resolve("model.safetensors").toString(), serving.group(1));
      URI base = URI.create("http://127.0.0.1:" + serving.group(2));
      HttpClient http = HttpClient.newHttpClient();
      HttpResponse<String> health =
          http.send(
              HttpRequest.newBuilder(base.resolve("/health")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode());
      assertTrue(health.body().contains("\"status\":\"ok\""), health.body());
      // a request whose body is still on its way when SIGTERM comes: written on a plain socket,
      // so its headers and all but its last byte are surely on the wire before the signal
      byte[] image = Fixtures.noisePng(5, 64, 64);
      try (java.net.Socket socket = new java.net.Socket("127.0.0.1", base.getPort())) {
        var to = socket.getOutputStream();
        to.write(
            ("POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                    + "Content-Length: "
                    + image.length
                    + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        to.write(image, 0, image.length - 1);
        to.flush();
        Thread.sleep(1000); // for the server to take the request in
        server.toHandle().destroy(); // SIGTERM (Process.destroy would close our end of its output)
        Thread.sleep(300);
        to.write(image, image.length - 1, 1); // the body ends only after SIGTERM
        to.flush();
        String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(answer.startsWith("HTTP/1.1 200 OK"), answer);
        assertTrue(answer.contains("\"predictions\""), answer);
      }
      StringBuilder rest = new StringBuilder();
      while ((line = out.readLine()) != null) {
        rest.append(line).append('\n');
      }
      assertTrue(server.waitFor(30, TimeUnit.SECONDS));
      assertTrue(
          rest.toString()
              .contains(
                  "fingerspell: stopping (finishing the requests under way)\n"
                      + "fingerspell: stopped\n"),
          rest.toString());
    } finally {
      server.destroyForcibly();
    }
  }

  /**
   * A SIGTERM while the network warms up (seconds in a cold JVM, requests already answered; a
   * {@code docker stop} right after the start) stops as cleanly as one later.
   */
  @Test
  void sigtermDuringTheWarmUpStopsCleanly() throws Exception {
    // a full batch of 256 keeps the warm-up going for seconds after the "warming up" line
    Process server =
        serveInItsOwnJvm("--model", model.toString(), "--port", "0", "--max-batch", "256");
    try (BufferedReader out =
        new BufferedReader(
            new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8))) {
      StringBuilder lines = new StringBuilder();
      String line;
      while ((line = out.readLine()) != null && !line.contains("warming up")) {
        lines.append(line).append('\n');
      }
      assertTrue(line != null, lines::toString);
      assertTrue(
          line.matches("fingerspell: listening on http://127\\.0\\.0\\.1:\\d+, warming up"), line);
      server.toHandle().destroy(); // SIGTERM
      while ((line = out.readLine()) != null) {
        lines.append(line).append('\n');
      }
      assertTrue(server.waitFor(30, TimeUnit.SECONDS));
      String rest = lines.toString();
      assertTrue(
          rest.endsWith(
              "fingerspell: stopping (finishing the requests under way)\n"
                  + "fingerspell: stopped\n"),
          rest);
      assertTrue(!rest.contains("fingerspell: serving"), rest); // it was still warming up
    } finally {
      server.destroyForcibly();
    }
  }

  /**
   * {@code fingerspell serve ARGS} as a user runs it: a JVM of its own, stdout and stderr merged.
   */
  private static Process serveInItsOwnJvm(String... args) throws java.io.IOException {
    List<String> command = new ArrayList<>(List.of("serve"));
    command.addAll(List.of(args));
    return OwnJvm.builder(List.of(), Main.class, command.toArray(String[]::new))
        .redirectErrorStream(true)
        .start();
  }

  @Test
  void mistakesAreOneLine() throws Exception {
    CliRun port = CliRun.run(Map.of(), "serve", "--model", model.toString(), "--port", "70000");
    assertEquals(1, port.status());
    assertEquals("fingerspell: --port must be from 0 to 65535", port.err().strip());
    CliRun batch = CliRun.run(Map.of(), "serve", "--model", model.toString(), "--max-batch", "0");
    assertEquals(
        "fingerspell: --max-batch, --max-queue and --max-upload-mb must be at least 1",
        batch.err().strip());
    CliRun cors =
        CliRun.run(Map.of(), "serve", "--model", model.toString(), "--cors", "app.example.com");
    assertEquals(
        "fingerspell: --cors app.example.com: an origin is a scheme and a host, with a port if not"
            + " the default (https://app.example.com, http://localhost:3000), or *",
        cors.err().strip());
    CliRun missing =
        CliRun.run(Map.of(), "serve", "--model", dir.resolve("none.safetensors").toString());
    assertEquals(1, missing.status());
    assertEquals(1, missing.err().strip().lines().count(), missing.err());
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      CliRun inUse =
          CliRun.run(
              Map.of(),
              "serve",
              "--model",
              model.toString(),
              "--port",
              Integer.toString(taken.getLocalPort()));
      assertEquals(1, inUse.status());
      assertEquals(
          "fingerspell: 127.0.0.1:"
              + taken.getLocalPort()
              + ": cannot listen there (Address already in use): stop what serves there, or give"
              + " another --port or --host",
          inUse.err().strip());
    }
    CliRun host =
        CliRun.run(Map.of(), "serve", "--model", model.toString(), "--host", "no.such.host.");
    assertEquals(
        "fingerspell: no.such.host.: no such host to listen on", host.err().strip(), host.err());
  }

  @Test
  void httpsNeedsBothFiles() {
    CliRun half =
        CliRun.run(Map.of(), "serve", "--model", model.toString(), "--tls-cert", model.toString());
    assertEquals(1, half.status());
    assertEquals("fingerspell: HTTPS needs both --tls-cert and --tls-key", half.err().strip());
  }

  /** A missing, weak or doubly given API key is one line naming where it came from. */
  @Test
  void apiKeyMistakesAreOneLine() throws Exception {
    Path weak = java.nio.file.Files.writeString(dir.resolve("weak.key"), "secret\n");
    CliRun file =
        CliRun.run(
            Map.of(), "serve", "--model", model.toString(), "--api-key-file", weak.toString());
    assertEquals(1, file.status());
    assertEquals(
        "fingerspell: "
            + weak
            + ": an API key is at least 16 printable ASCII characters without spaces (openssl rand"
            + " -hex 32 makes one)",
        file.err().strip());
    CliRun env =
        CliRun.run(Map.of("FINGERSPELL_API_KEY", "x"), "serve", "--model", model.toString());
    assertTrue(
        env.err().strip().startsWith("fingerspell: FINGERSPELL_API_KEY: an API key is at"),
        env.err());
    CliRun both =
        CliRun.run(
            Map.of("FINGERSPELL_API_KEY", "0123456789abcdef"),
            "serve",
            "--model",
            model.toString(),
            "--api-key-file",
            weak.toString());
    assertEquals(
        "fingerspell: the API key is given twice: use --api-key-file or FINGERSPELL_API_KEY, not"
            + " both",
        both.err().strip());
    CliRun missing =
        CliRun.run(
            Map.of(),
            "serve",
            "--model",
            model.toString(),
            "--api-key-file",
            dir.resolve("none.key").toString());
    assertEquals(1, missing.status());
    assertEquals(1, missing.err().strip().lines().count(), missing.err());
    assertTrue(missing.err().contains("none.key"), missing.err());
  }
}
