package dev.fingerspell.train;

import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.train.serve.ApiKey;
import dev.fingerspell.train.serve.PredictionServer;
import dev.fingerspell.train.serve.TlsFiles;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import javax.net.ssl.SSLContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell serve --model FILE}: the classifier as an HTTP service. */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Serve a model over HTTP: POST an image to /predict.",
      "POST /predict takes one image (the form field 'file', or the body itself), POST"
          + " /predict/batch every file of a form; GET /health, /metrics (Prometheus) and"
          + " /openapi.json describe the service, and / is a page to try it from a browser."
          + " Concurrent requests share the network's passes. Ctrl-C (or SIGTERM) lets the"
          + " requests under way finish, then stops."
    })
final class ServeCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ModelOption model = new ModelOption();

  @Mixin DeviceOption device = new DeviceOption();

  @Option(
      names = "--host",
      paramLabel = "ADDRESS",
      defaultValue = "127.0.0.1",
      description =
          "address to listen on (default ${DEFAULT-VALUE}, this machine only; 0.0.0.0 for every"
              + " interface, as in a container)")
  String host;

  @Option(
      names = "--port",
      paramLabel = "PORT",
      defaultValue = "8000",
      description = "port (default ${DEFAULT-VALUE}; 0 picks a free one)")
  int port;

  @Option(
      names = "--max-batch",
      paramLabel = "N",
      defaultValue = "16",
      description = "most images of waiting requests one pass takes (default ${DEFAULT-VALUE})")
  int maxBatch;

  @Option(
      names = "--max-queue",
      paramLabel = "N",
      defaultValue = "256",
      description =
          "most images that may wait; beyond, requests get 503 (default ${DEFAULT-VALUE})")
  int maxQueue;

  @Option(
      names = "--max-upload-mb",
      paramLabel = "MB",
      defaultValue = "20",
      description = "largest request body; larger get 413 (default ${DEFAULT-VALUE})")
  int maxUploadMb;

  @Option(
      names = "--cors",
      paramLabel = "ORIGIN",
      description =
          "let pages of this web origin call the service from a browser (for example"
              + " https://app.example.com; * for any page); may be repeated")
  List<String> corsOrigins = new ArrayList<>();

  @Option(
      names = "--api-key-file",
      paramLabel = "FILE",
      description =
          "require the API key in FILE ('Authorization: Bearer KEY' or 'X-API-Key: KEY') of every"
              + " request but /health, / and /openapi.json; or set "
              + API_KEY_VARIABLE
              + " (a file keeps the key out of the process list)")
  Path apiKeyFile;

  @Option(
      names = "--tls-cert",
      paramLabel = "FILE",
      description =
          "serve HTTPS with this PEM certificate chain (the server's first), with --tls-key"
              + " (uvicorn's --ssl-certfile)")
  Path tlsCert;

  @Option(
      names = "--tls-key",
      paramLabel = "FILE",
      description =
          "the certificate's unencrypted PKCS#8 PEM private key (uvicorn's --ssl-keyfile)")
  Path tlsKey;

  /** Where a container's secret usually arrives: the environment. */
  static final String API_KEY_VARIABLE = "FINGERSPELL_API_KEY";

  @Option(names = "--quiet", description = "no line per request")
  boolean quiet;

  @Override
  public Integer call() throws Exception {
    Cli cli = main.cli();
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--port must be from 0 to 65535");
    }
    if (maxBatch < 1 || maxQueue < 1 || maxUploadMb < 1) {
      throw new IllegalArgumentException(
          "--max-batch, --max-queue and --max-upload-mb must be at least 1");
    }
    for (String origin : corsOrigins) {
      if (!origin.equals("*") && !origin.matches("https?://[^/\\s]+")) {
        throw new IllegalArgumentException(
            "--cors "
                + origin
                + ": an origin is a scheme and a host, with a port if not the default"
                + " (https://app.example.com, http://localhost:3000), or *");
      }
    }
    ApiKey apiKey = apiKey(cli);
    if ((tlsCert == null) != (tlsKey == null)) {
      throw new IllegalArgumentException("HTTPS needs both --tls-cert and --tls-key");
    }
    SSLContext tls = tlsCert == null ? null : TlsFiles.context(tlsCert, tlsKey);
    device.apply();
    Path file = model.file();
    AslClassifier classifier = AslClassifier.load(file);
    PredictionServer server =
        PredictionServer.start(
            classifier,
            new PredictionServer.Settings(
                host,
                port,
                maxBatch,
                maxQueue,
                maxUploadMb * 1024L * 1024,
                file.toString(),
                !quiet,
                corsOrigins,
                apiKey,
                tls),
            cli.out());
    CountDownLatch stopped = new CountDownLatch(1);
    // Registered before the warm-up, which takes seconds in a cold JVM and during which requests
    // are already answered: a SIGTERM then (docker stop) must stop as cleanly as one later.
    Thread stop =
        new Thread(
            () -> {
              cli.out().println("fingerspell: stopping (finishing the requests under way)");
              server.close();
              cli.out().println("fingerspell: stopped");
              cli.out().flush();
              stopped.countDown();
            },
            "fingerspell-serve-stop");
    Runtime.getRuntime().addShutdownHook(stop);
    InetSocketAddress at = server.address();
    String url =
        (tls == null ? "http://" : "https://")
            + (at.getAddress().isAnyLocalAddress() ? "0.0.0.0" : at.getHostString())
            + ":"
            + at.getPort();
    cli.out().printf("fingerspell: listening on %s, warming up%n", url);
    try {
      server.warmUp();
    } catch (RuntimeException | OutOfMemoryError e) { // the network cannot run here: stop listening
      Runtime.getRuntime().removeShutdownHook(stop);
      server.close();
      throw e;
    }
    cli.out()
        .printf(
            "fingerspell: serving %s on %s (%s, up to %d images a pass%s); Ctrl-C stops%n",
            file,
            url,
            Backends.defaultDevice(),
            maxBatch,
            apiKey == null ? "" : ", API key required");
    stopped.await(); // until Ctrl-C or SIGTERM: the JVM exits once the hook has run
    return 0;
  }

  /** The key from --api-key-file or the environment; null for an open service. */
  private ApiKey apiKey(Cli cli) throws java.io.IOException {
    String fromEnvironment = cli.env().get(API_KEY_VARIABLE);
    if (apiKeyFile != null && fromEnvironment != null) {
      throw new IllegalArgumentException(
          "the API key is given twice: use --api-key-file or " + API_KEY_VARIABLE + ", not both");
    }
    try {
      if (apiKeyFile != null) {
        return ApiKey.of(Files.readString(apiKeyFile));
      }
      return fromEnvironment == null ? null : ApiKey.of(fromEnvironment);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          (apiKeyFile != null ? apiKeyFile.toString() : API_KEY_VARIABLE) + ": " + e.getMessage(),
          e);
    }
  }
}
