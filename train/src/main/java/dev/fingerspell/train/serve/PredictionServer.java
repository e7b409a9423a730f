package dev.fingerspell.train.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.resnet.AslClassifier.Prediction;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.train.data.Images;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;

/**
 * The HTTP service of {@code fingerspell serve}, on the JDK's own server: {@code POST /predict}
 * (one image, as a form's file or as the body itself), {@code POST /predict/batch} (several files
 * of one form), {@code GET /health}, {@code GET /metrics} (Prometheus), {@code GET /openapi.json},
 * and a page at {@code /} to try it from a browser. Errors are JSON {@code {"detail": "..."}} with
 * FastAPI's status codes, so a client written for the Python service keeps working.
 *
 * <p>Each request runs on its own virtual thread, which reads and decodes its image; the decoded
 * pixels go to one {@link BatchingClassifier}, which runs the network over all the images waiting.
 */
public final class PredictionServer implements AutoCloseable {
  /**
   * How to serve.
   *
   * @param host the address to listen on ({@code 0.0.0.0} for every interface)
   * @param port the port, 0 for any free one
   * @param maxBatch the most images one pass of the network takes
   * @param maxQueue the most images that may wait; further requests get 503
   * @param maxUploadBytes the largest request body accepted; larger ones get 413
   * @param modelName what {@code /health} calls the model (its file)
   * @param accessLog whether each request is logged, one line each
   * @param corsOrigins the web origins whose pages may call the service from a browser ({@code
   *     https://app.example.com}, or {@code *} for any); empty for none
   * @param apiKey the key every request but the open ones ({@link #OPEN_PATHS}) must send; null for
   *     an open service
   * @param tls the TLS context to serve HTTPS with ({@link TlsFiles}); null for plain HTTP
   */
  public record Settings(
      String host,
      int port,
      int maxBatch,
      int maxQueue,
      long maxUploadBytes,
      String modelName,
      boolean accessLog,
      List<String> corsOrigins,
      ApiKey apiKey,
      SSLContext tls) {
    /** Copies the origins. */
    public Settings {
      corsOrigins = List.copyOf(corsOrigins);
    }
  }

  /** A request the client got wrong: its status and the one line saying why. */
  private static final class HttpError extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final int status;

    HttpError(int status, String detail) {
      super(detail);
      this.status = status;
    }
  }

  /** What answers a request: sends the response and returns its status. */
  @FunctionalInterface
  private interface Handler {
    int answer(HttpExchange exchange) throws IOException;
  }

  /** A path's one method and its handler. */
  private record Route(String method, Handler handler) {}

  /** The page at {@code /} and the OpenAPI description: read from the application once. */
  private static final byte[] INDEX_HTML = resource("index.html");

  private static final byte[] OPENAPI_JSON = resource("openapi.json");

  /**
   * What a client may ask without the API key: the health probe (Docker's, a load balancer's), the
   * page and the API's description, which tell nothing of the model or its use.
   */
  public static final Set<String> OPEN_PATHS = Set.of("/health", "/", "/openapi.json");

  /** Seconds the server waits for requests under way when it stops. */
  private static final int STOP_GRACE_SECONDS = 10;

  private final Settings settings;
  private final BatchingClassifier batcher;
  private final ServiceMetrics metrics = new ServiceMetrics();
  private final HttpServer http;
  private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
  private final ObjectMapper json = new ObjectMapper();
  private final PrintWriter log;

  /** The service's paths; any other is 404. */
  private final Map<String, Route> routes =
      Map.of(
          "/predict", new Route("POST", this::predictOne),
          "/predict/batch", new Route("POST", this::predictMany),
          "/health", new Route("GET", e -> sendJson(e, 200, health())),
          "/metrics",
              new Route(
                  "GET",
                  e ->
                      send(
                          e,
                          200,
                          "text/plain; version=0.0.4; charset=utf-8",
                          metrics.text().getBytes(StandardCharsets.UTF_8))),
          "/openapi.json", new Route("GET", e -> send(e, 200, "application/json", OPENAPI_JSON)),
          "/", new Route("GET", e -> send(e, 200, "text/html; charset=utf-8", INDEX_HTML)));

  /** Requests being answered now, and whether {@link #close} has begun: see there. */
  private final AtomicInteger active = new AtomicInteger();

  private volatile boolean stopping;

  /**
   * Decodes under way at once: decoding is CPU work, so more than one per core gains nothing, and a
   * phone photo decoded takes 48 MB; a burst of uploads waits here instead of filling the heap.
   */
  private final Semaphore decodeSlots = new Semaphore(Runtime.getRuntime().availableProcessors());

  private PredictionServer(AslClassifier classifier, Settings settings, PrintWriter log)
      throws IOException {
    this.settings = settings;
    this.log = log;
    this.batcher =
        new BatchingClassifier(classifier, settings.maxBatch(), settings.maxQueue(), metrics);
    metrics.waiting(batcher::waiting);
    batcher.start();
    InetSocketAddress address = new InetSocketAddress(settings.host(), settings.port());
    if (address.isUnresolved()) {
      batcher.close();
      throw new IllegalArgumentException(settings.host() + ": no such host to listen on");
    }
    try {
      if (settings.tls() == null) {
        http = HttpServer.create(address, 0);
      } else {
        HttpsServer https = HttpsServer.create(address, 0);
        https.setHttpsConfigurator(new HttpsConfigurator(settings.tls()));
        http = https;
      }
    } catch (BindException e) {
      batcher.close();
      throw new IllegalStateException(
          settings.host()
              + ":"
              + settings.port()
              + ": cannot listen there ("
              + e.getMessage()
              + "): stop what serves there, or give another --port or --host");
    }
    http.setExecutor(threads);
    http.createContext("/", this::handle);
    http.start();
  }

  /** Starts serving {@code classifier}; returns once the server listens. */
  public static PredictionServer start(AslClassifier classifier, Settings settings, PrintWriter log)
      throws IOException {
    return new PredictionServer(classifier, settings, log);
  }

  /** The address it listens on (with the port chosen, when 0 was asked for). */
  public InetSocketAddress address() {
    return http.getAddress();
  }

  /**
   * Runs the network on blank images, batch 1 and a full batch, on the calling thread (so the
   * metrics count none of it), so the first request does not pay for the JIT's first compilations
   * and the first allocations.
   */
  public void warmUp() {
    AslClassifier classifier = batcher.classifier();
    Preprocess pre = classifier.info().preprocess();
    float[] blank = new float[3 * pre.size() * pre.size()];
    for (int n : new int[] {1, settings.maxBatch()}) {
      classifier.predict(pre.batch(Collections.nCopies(n, blank)), 1);
    }
  }

  /**
   * Lets the requests under way finish (at most {@value STOP_GRACE_SECONDS} s) while new ones get
   * 503, then stops listening and stops the network's thread. The JDK server's own {@code
   * stop(delay)} is not relied on for the wait (it does not document whether a request whose body
   * is still arriving counts as under way), so the server counts its requests itself.
   */
  @Override
  public void close() {
    stopping = true;
    long end = System.nanoTime() + STOP_GRACE_SECONDS * 1_000_000_000L;
    while (active.get() > 0 && System.nanoTime() < end) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    http.stop(0);
    batcher.close();
    threads.shutdown();
  }

  /** Requests being answered now (for tests). */
  int underWay() {
    return active.get();
  }

  /** Whether {@link #close} has begun (for tests). */
  boolean stopping() {
    return stopping;
  }

  private void handle(HttpExchange exchange) throws IOException {
    active.incrementAndGet();
    try {
      answer(exchange);
    } finally {
      active.decrementAndGet();
    }
  }

  private void answer(HttpExchange exchange) throws IOException {
    long start = System.nanoTime();
    exchange.setAttribute(STARTED, start);
    String path = exchange.getRequestURI().getPath();
    String method = exchange.getRequestMethod();
    int status;
    try (exchange) {
      try {
        if (stopping) {
          exchange.getResponseHeaders().set("Connection", "close");
          throw new HttpError(503, "the service is shutting down");
        }
        status = route(exchange, path, method);
      } catch (HttpError e) {
        status = e.status;
        if (status == 503) {
          exchange.getResponseHeaders().set("Retry-After", "1");
        }
        sendJson(exchange, status, detail(e.getMessage()));
      } catch (RuntimeException e) {
        status = 500;
        log.println("fingerspell: " + method + " " + path + ": " + IoErrors.describe(e));
        sendJson(exchange, status, detail("internal error: " + IoErrors.describe(e)));
      }
    }
    long nanos = System.nanoTime() - start;
    if (settings.accessLog()) {
      log.printf(
          Locale.ROOT,
          "%s %s %s %d %.1f ms%n",
          exchange.getRemoteAddress().getAddress().getHostAddress(),
          method,
          exchange.getRequestURI(),
          status,
          nanos / 1e6);
    }
  }

  /** The metrics' name for a path: the service's own paths, everything else as one. */
  private String route(String path) {
    return routes.containsKey(path) ? path : "other";
  }

  private int route(HttpExchange exchange, String path, String method) throws IOException {
    boolean crossOrigin = cors(exchange); // errors too, so the page can read their detail
    Route route = routes.get(path);
    if (route == null) {
      throw new HttpError(404, "Not Found");
    }
    if (method.equals("OPTIONS") && crossOrigin) { // a browser's preflight before the real call
      exchange.getResponseHeaders().set("Access-Control-Allow-Methods", route.method());
      exchange
          .getResponseHeaders()
          .set(
              "Access-Control-Allow-Headers",
              settings.apiKey() == null
                  ? "Content-Type"
                  : "Content-Type, Authorization, X-API-Key");
      exchange.getResponseHeaders().set("Access-Control-Max-Age", "600");
      counted(exchange, 204);
      exchange.sendResponseHeaders(204, -1);
      return 204;
    }
    // HEAD is GET without the body, as Starlette answers it (uptime checks send it)
    boolean get = route.method().equals("GET");
    if (!method.equals(route.method()) && !(get && method.equals("HEAD"))) {
      exchange.getResponseHeaders().set("Allow", get ? "GET, HEAD" : route.method());
      throw new HttpError(405, "Method Not Allowed");
    }
    if (settings.apiKey() != null && !OPEN_PATHS.contains(path) && !authorised(exchange)) {
      exchange.getResponseHeaders().set("WWW-Authenticate", "Bearer");
      throw new HttpError(
          401,
          "Not authenticated: send the API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'");
    }
    return route.handler().answer(exchange);
  }

  /** Whether the request carries the API key, as a bearer token or in {@code X-API-Key}. */
  private boolean authorised(HttpExchange exchange) {
    String authorization = exchange.getRequestHeaders().getFirst("Authorization");
    String given =
        authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
            ? authorization.substring(7)
            : exchange.getRequestHeaders().getFirst("X-API-Key");
    return settings.apiKey().matches(given);
  }

  /**
   * For a request from a page of an allowed origin ({@code --cors}), the header that lets the
   * browser hand the answer to that page; true when it was set.
   */
  private boolean cors(HttpExchange exchange) {
    String origin = exchange.getRequestHeaders().getFirst("Origin");
    List<String> allowed = settings.corsOrigins();
    if (origin == null || allowed.isEmpty()) {
      return false;
    }
    exchange.getResponseHeaders().set("Vary", "Origin");
    if (allowed.contains("*")) {
      exchange.getResponseHeaders().set("Access-Control-Allow-Origin", "*");
      return true;
    }
    if (allowed.contains(origin)) {
      exchange.getResponseHeaders().set("Access-Control-Allow-Origin", origin);
      return true;
    }
    return false;
  }

  /** {@code POST /predict}: one image, as the form's one file or as the body. */
  private int predictOne(HttpExchange exchange) throws IOException {
    int topK = topK(exchange);
    List<Upload> uploads = uploads(exchange);
    if (uploads.size() != 1) {
      throw new HttpError(
          422,
          uploads.size()
              + " files in the form: /predict takes one image (POST several to /predict/batch)");
    }
    ObjectNode answer = classify(uploads.get(0), topK);
    if (answer.has("error")) {
      throw new HttpError(400, answer.get("error").asText());
    }
    return sendJson(exchange, 200, answer);
  }

  /**
   * {@code POST /predict/batch}: every file of the form; one undecodable file fails only itself.
   */
  private int predictMany(HttpExchange exchange) throws IOException {
    int topK = topK(exchange);
    List<Upload> uploads = uploads(exchange);
    List<CompletableFuture<ObjectNode>> answers = new ArrayList<>();
    for (Upload u : uploads) { // decoded side by side, each on its own virtual thread
      answers.add(CompletableFuture.supplyAsync(() -> classify(u, topK), threads));
    }
    ObjectNode body = json.createObjectNode();
    ArrayNode results = body.putArray("results");
    for (CompletableFuture<ObjectNode> a : answers) {
      results.add(await(a));
    }
    return sendJson(exchange, 200, body);
  }

  /** An uploaded image: its name (null when the body itself is the image) and bytes. */
  private record Upload(String name, byte[] bytes) {}

  private List<Upload> uploads(HttpExchange exchange) throws IOException {
    byte[] body = body(exchange);
    String type = exchange.getRequestHeaders().getFirst("Content-Type");
    String boundary;
    try {
      boundary = Multipart.boundary(type);
    } catch (Multipart.MalformedException e) {
      throw new HttpError(400, e.getMessage());
    }
    if (boundary == null) { // the body is the image (curl --data-binary @hand.jpg)
      if (body.length == 0) {
        throw new HttpError(
            422,
            "no image: send one as the body (curl --data-binary @hand.jpg) or as the form field"
                + " 'file' (curl -F file=@hand.jpg)");
      }
      return List.of(new Upload(null, body));
    }
    List<Multipart.Part> parts;
    try {
      parts = Multipart.parse(body, boundary);
    } catch (Multipart.MalformedException e) {
      throw new HttpError(400, e.getMessage());
    }
    List<Upload> files = new ArrayList<>();
    for (Multipart.Part p : parts) {
      if (p.filename() != null || p.name().equals("file") || p.name().equals("files")) {
        files.add(new Upload(p.filename() != null ? p.filename() : p.name(), p.data()));
      }
    }
    if (files.isEmpty()) {
      throw new HttpError(
          422, "no file in the form: send the image as the field 'file' (curl -F file=@hand.jpg)");
    }
    return files;
  }

  /** The request body, refused with 413 past the upload limit. */
  private byte[] body(HttpExchange exchange) throws IOException {
    long limit = settings.maxUploadBytes();
    String length = exchange.getRequestHeaders().getFirst("Content-Length");
    try (InputStream in = exchange.getRequestBody()) {
      if (length != null && parseLong(length) > limit) {
        throw tooLarge(exchange, in);
      }
      byte[] body = in.readNBytes((int) Math.min(limit + 1, Integer.MAX_VALUE - 8));
      if (body.length > limit) {
        throw tooLarge(exchange, in);
      }
      return body;
    }
  }

  /** The most of a refused upload read and dropped, so that its client gets to read the 413. */
  private static final long DRAIN_BYTES = 64L << 20;

  /**
   * A 413 for an upload past the limit. The rest of the body is read and dropped first (up to
   * {@link #DRAIN_BYTES}): a connection closed with request bytes unread is reset, and the client,
   * still sending, would see the reset instead of the answer.
   */
  private HttpError tooLarge(HttpExchange exchange, InputStream in) throws IOException {
    exchange.getResponseHeaders().set("Connection", "close");
    long left = DRAIN_BYTES;
    byte[] sink = new byte[64 * 1024];
    int n;
    while (left > 0 && (n = in.read(sink, 0, (int) Math.min(sink.length, left))) > 0) {
      left -= n;
    }
    return new HttpError(413, tooLarge());
  }

  private String tooLarge() {
    return "the upload is larger than the service takes ("
        + settings.maxUploadBytes() / (1024 * 1024)
        + " MB; fingerspell serve --max-upload-mb raises it)";
  }

  private static long parseLong(String s) {
    try {
      return Long.parseLong(s.strip());
    } catch (NumberFormatException e) {
      throw new HttpError(400, "Content-Length is not a number: " + s);
    }
  }

  /** The {@code top_k} query parameter, 3 by default. */
  private int topK(HttpExchange exchange) {
    String query = exchange.getRequestURI().getRawQuery();
    if (query == null) {
      return 3;
    }
    int topK = 3;
    for (String pair : query.split("&")) {
      int eq = pair.indexOf('=');
      String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      if (key.equals("top_k")) {
        String value =
            eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
        try {
          topK = Integer.parseInt(value);
        } catch (NumberFormatException e) {
          topK = 0;
        }
        if (topK < 1) {
          throw new HttpError(
              422, "top_k must be a whole number of at least 1, not '" + value + "'");
        }
      }
    }
    return topK;
  }

  /**
   * One upload decoded and classified: {@code {"image", "predictions"}} as {@code predict --json}
   * prints it, or {@code {"image", "error"}} when it is no image.
   */
  private ObjectNode classify(Upload upload, int topK) {
    Images.Pixels pixels;
    decodeSlots.acquireUninterruptibly();
    try {
      pixels =
          Images.pixels(
              displayName(upload.name()), upload.bytes(), batcher.classifier().info().preprocess());
    } finally {
      decodeSlots.release();
    }
    if (pixels.error() != null) {
      metrics.undecodable();
      return json.createObjectNode()
          .put("image", upload.name())
          .put(
              "error",
              pixels.error()
                  + " (send the file's bytes unchanged: curl -F file=@FILE, or --data-binary"
                  + " @FILE)");
    }
    CompletableFuture<List<Prediction>> top;
    try {
      top = batcher.submit(pixels.values(), topK);
    } catch (BatchingClassifier.BusyException | IllegalStateException e) { // full, or stopping
      throw new HttpError(503, e.getMessage());
    }
    return PredictionJson.of(json, upload.name(), await(top));
  }

  /** A name for the decoder's messages: the file's, else "upload". */
  private static Path displayName(String name) {
    try {
      return Path.of(name == null ? "upload" : name);
    } catch (InvalidPathException e) {
      return Path.of("upload");
    }
  }

  /** The future's value; its failure rethrown as it was. */
  private static <T> T await(CompletableFuture<T> future) {
    try {
      return future.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HttpError(503, "the service is shutting down");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException("classification failed: " + IoErrors.describe(e.getCause()));
    }
  }

  private ObjectNode health() {
    AslClassifier classifier = batcher.classifier();
    Preprocess pre = classifier.info().preprocess();
    ObjectNode o = json.createObjectNode();
    o.put("status", "ok");
    o.put("model", settings.modelName());
    Device device = Backends.defaultDevice();
    o.put("device", device.toString());
    o.put("backend", Backends.forDevice(device).name()); // cpu or nd4j, say
    o.put("input_size", pre.size());
    o.put("max_batch", settings.maxBatch());
    o.put("waiting", batcher.waiting());
    ArrayNode labels = o.putArray("labels");
    classifier.labels().forEach(labels::add);
    return o;
  }

  private ObjectNode detail(String message) {
    return json.createObjectNode().put("detail", message);
  }

  private int sendJson(HttpExchange exchange, int status, ObjectNode body) throws IOException {
    return send(exchange, status, "application/json", json.writeValueAsBytes(body));
  }

  /** The exchange attribute holding when the request came in ({@link System#nanoTime}). */
  private static final String STARTED = "fingerspell.started";

  /**
   * Counts the request in the metrics as answered with {@code status}; before the answer goes out,
   * so that a scrape the client makes after it includes it.
   */
  private void counted(HttpExchange exchange, int status) {
    long start = (Long) exchange.getAttribute(STARTED);
    metrics.request(route(exchange.getRequestURI().getPath()), status, System.nanoTime() - start);
  }

  private int send(HttpExchange exchange, int status, String type, byte[] body) throws IOException {
    counted(exchange, status);
    exchange.getResponseHeaders().set("Content-Type", type);
    if (exchange.getRequestMethod().equals("HEAD")) { // the length the GET's body would have
      exchange.getResponseHeaders().set("Content-Length", Integer.toString(body.length));
      exchange.sendResponseHeaders(status, -1);
      return status;
    }
    exchange.sendResponseHeaders(status, body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
    return status;
  }

  private static byte[] resource(String name) {
    try (InputStream in = PredictionServer.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException(name + " is missing from the application");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
