package dev.fingerspell.train.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.resnet.AslLabels;
import dev.fingerspell.resnet.ImageFiles;
import dev.fingerspell.train.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PredictionServerTest {
  @TempDir static Path dir;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static AslClassifier classifier;
  private static PredictionServer server;
  private static StringWriter log;
  private static URI base;

  @BeforeAll
  static void start() throws Exception {
    classifier = AslClassifier.load(Fixtures.randomModel(dir.resolve("asl.safetensors"), 3, 64));
    log = new StringWriter();
    server =
        PredictionServer.start(
            classifier,
            settings("asl.safetensors", true, List.of("http://localhost:3000"), null),
            new PrintWriter(log, true));
    server.warmUp();
    base = URI.create("http://127.0.0.1:" + server.address().getPort());
  }

  /** On a free loopback port, passes of up to 4 images, 64 waiting, uploads up to 1 MB. */
  static PredictionServer.Settings settings(
      String modelName, boolean accessLog, List<String> corsOrigins, ApiKey apiKey) {
    return new PredictionServer.Settings(
        "127.0.0.1", 0, 4, 64, 1024 * 1024, modelName, accessLog, corsOrigins, apiKey, null);
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  /** A multipart/form-data body: field name, file name (null for a plain field), content. */
  record Field(String name, String filename, byte[] content) {}

  static final String BOUNDARY = "----fingerspell-test-7MA4YWxkTrZu0gW";

  static byte[] form(Field... fields) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Field f : fields) {
      String head =
          "--"
              + BOUNDARY
              + "\r\nContent-Disposition: form-data; name=\""
              + f.name()
              + "\""
              + (f.filename() == null ? "" : "; filename=\"" + f.filename() + "\"")
              + "\r\nContent-Type: application/octet-stream\r\n\r\n";
      out.writeBytes(head.getBytes(StandardCharsets.UTF_8));
      out.writeBytes(f.content());
      out.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
    }
    out.writeBytes(("--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8));
    return out.toByteArray();
  }

  static HttpResponse<String> post(String path, String type, byte[] body) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(base.resolve(path))
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
    if (type != null) {
      b.header("Content-Type", type);
    }
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static HttpResponse<String> postForm(String path, Field... fields) throws Exception {
    return post(path, "multipart/form-data; boundary=" + BOUNDARY, form(fields));
  }

  static HttpResponse<String> get(String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(base.resolve(path)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** The library's probability of each label for these image bytes, as predict computes them. */
  static Map<String, Float> expected(byte[] image) throws Exception {
    Map<String, Float> p = new HashMap<>();
    for (AslClassifier.Prediction x : classifier.predict(ImageFiles.decode(image), 29)) {
      p.put(x.label(), x.probability());
    }
    return p;
  }

  /** An answer's predictions: k of them, most probable first, each the library's probability. */
  static void assertPredictions(JsonNode answer, Map<String, Float> expected, int k) {
    JsonNode preds = answer.get("predictions");
    assertEquals(k, preds.size(), answer.toString());
    double previous = 1;
    for (JsonNode p : preds) {
      String label = p.get("label").asText();
      assertEquals(AslLabels.NAMES.get(p.get("index").asInt()), label);
      double prob = p.get("probability").asDouble();
      assertTrue(prob <= previous, answer.toString());
      // batches of other sizes take other kernel paths: equal up to rounding
      assertEquals(expected.get(label), prob, 1e-5, label);
      previous = prob;
    }
  }

  @Test
  void predictTakesTheFormsFileOrTheBodyItself() throws Exception {
    byte[] image = Fixtures.noisePng(1, 80, 70); // resized to 64×64, as predict does
    Map<String, Float> expected = expected(image);
    HttpResponse<String> form = postForm("/predict", new Field("file", "hand.png", image));
    assertEquals(200, form.statusCode(), form.body());
    assertEquals("application/json", form.headers().firstValue("Content-Type").orElseThrow());
    JsonNode answer = JSON.readTree(form.body());
    assertEquals("hand.png", answer.get("image").asText());
    assertPredictions(answer, expected, 3);

    HttpResponse<String> body = post("/predict?top_k=29", "image/png", image);
    assertEquals(200, body.statusCode(), body.body());
    JsonNode raw = JSON.readTree(body.body());
    assertTrue(raw.get("image").isNull());
    assertPredictions(raw, expected, 29);
    // no content type at all (curl --data-binary sends a form's): still the image
    assertEquals(200, post("/predict?top_k=1", null, image).statusCode());
    assertTrue(log.toString().contains(" POST /predict?top_k=29 200 "), log.toString());
  }

  @Test
  void batchAnswersEachFileInOrderAndAnUnreadableOneOnlyForItself() throws Exception {
    byte[] a = Fixtures.noisePng(2, 64, 64);
    byte[] b = Fixtures.noisePng(3, 100, 50);
    HttpResponse<String> r =
        postForm(
            "/predict/batch?top_k=2",
            new Field("files", "a.png", a),
            new Field("note", null, "ignored".getBytes(StandardCharsets.UTF_8)),
            new Field("files", "notes.txt", "hello".getBytes(StandardCharsets.UTF_8)),
            new Field("files", "b.png", b));
    assertEquals(200, r.statusCode(), r.body());
    JsonNode results = JSON.readTree(r.body()).get("results");
    assertEquals(3, results.size(), r.body());
    assertEquals("a.png", results.get(0).get("image").asText());
    assertPredictions(results.get(0), expected(a), 2);
    assertEquals("notes.txt", results.get(1).get("image").asText());
    assertTrue(
        results.get(1).get("error").asText().startsWith("notes.txt: not an image"), r.body());
    assertFalse(results.get(1).has("predictions"));
    assertPredictions(results.get(2), expected(b), 2);
  }

  /** Each mistake a client can make is a status and a one-line {"detail"}, as FastAPI answers. */
  @Test
  void mistakesAreAStatusAndOneLine() throws Exception {
    byte[] image = Fixtures.noisePng(4, 64, 64);
    assertDetail(get("/predict"), 405, "Method Not Allowed");
    assertEquals("POST", get("/predict").headers().firstValue("Allow").orElseThrow());
    assertDetail(post("/health", "text/plain", new byte[1]), 405, "Method Not Allowed");
    assertEquals(
        "GET, HEAD",
        post("/health", "text/plain", new byte[1]).headers().firstValue("Allow").orElseThrow());
    assertDetail(get("/nowhere"), 404, "Not Found");
    assertDetail(
        post("/predict", "text/plain", "hello".getBytes(StandardCharsets.UTF_8)),
        400,
        "upload: not an image");
    assertDetail(post("/predict", "image/jpeg", new byte[0]), 422, "no image: send one as");
    assertDetail(postForm("/predict", new Field("note", null, image)), 422, "no file in the form");
    assertDetail(
        postForm("/predict", new Field("file", "a.png", image), new Field("file", "b.png", image)),
        422,
        "2 files in the form: /predict takes one image (POST several to /predict/batch)");
    assertDetail(
        post("/predict", "multipart/form-data; boundary=" + BOUNDARY, "junk".getBytes()),
        400,
        "multipart body without its boundary");
    assertDetail(
        post("/predict", "multipart/form-data", image), 400, "multipart/form-data without");
    assertDetail(post("/predict?top_k=0", "image/png", image), 422, "top_k must be");
    assertDetail(post("/predict?top_k=x", "image/png", image), 422, "top_k must be");
    assertDetail(
        post("/predict", "image/png", new byte[1024 * 1024 + 1]),
        413,
        "the upload is larger than the service takes (1 MB; fingerspell serve --max-upload-mb");
    // exactly the limit is taken (and is no image)
    assertDetail(post("/predict", "image/png", new byte[1024 * 1024]), 400, "upload: ");
  }

  private static void assertDetail(HttpResponse<String> r, int status, String detailStart)
      throws Exception {
    assertEquals(status, r.statusCode(), r.body());
    JsonNode body = JSON.readTree(r.body());
    assertEquals(1, body.size(), r.body());
    String detail = body.get("detail").asText();
    assertTrue(detail.startsWith(detailStart), detail);
    assertFalse(detail.contains("\n"), detail);
  }

  /**
   * A page of an allowed origin may call the service (the preflight, then the answer carries the
   * origin); another origin's page gets no such header, so its browser keeps the answer from it.
   */
  @Test
  void pagesOfAnAllowedOriginMayCallIt() throws Exception {
    HttpResponse<String> preflight = preflight("http://localhost:3000");
    assertEquals(204, preflight.statusCode());
    assertEquals(
        "http://localhost:3000",
        preflight.headers().firstValue("Access-Control-Allow-Origin").orElseThrow());
    assertEquals(
        "POST", preflight.headers().firstValue("Access-Control-Allow-Methods").orElseThrow());
    HttpResponse<String> call =
        HTTP.send(
            HttpRequest.newBuilder(base.resolve("/predict"))
                .header("Origin", "http://localhost:3000")
                .header("Content-Type", "image/png")
                .POST(HttpRequest.BodyPublishers.ofByteArray(Fixtures.noisePng(8, 64, 64)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, call.statusCode());
    assertEquals(
        "http://localhost:3000",
        call.headers().firstValue("Access-Control-Allow-Origin").orElseThrow());
    HttpResponse<String> other = preflight("https://elsewhere.example");
    assertEquals(405, other.statusCode());
    assertTrue(other.headers().firstValue("Access-Control-Allow-Origin").isEmpty());
  }

  /**
   * With an API key, every path but the open ones answers 401 (with {@code WWW-Authenticate}) to a
   * request without the key or with another; the key as a bearer token or in {@code X-API-Key} is
   * served. A browser's preflight needs no key and is told the key's headers may be sent.
   */
  @Test
  void anApiKeyGuardsAllButTheOpenPaths() throws Exception {
    String key = "0123456789abcdef0123456789abcdef";
    PredictionServer guarded =
        PredictionServer.start(
            classifier,
            settings("m", false, List.of("*"), ApiKey.of(key + "\n")), // as a key file ends
            new PrintWriter(new StringWriter(), true));
    try {
      URI at = URI.create("http://127.0.0.1:" + guarded.address().getPort());
      byte[] image = Fixtures.noisePng(9, 64, 64);
      java.util.function.BiFunction<String, String[], HttpResponse<String>> predict =
          (path, headers) -> {
            HttpRequest.Builder b =
                HttpRequest.newBuilder(at.resolve(path))
                    .header("Content-Type", "image/png")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(image));
            if (headers.length > 0) {
              b.headers(headers);
            }
            try {
              return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
            } catch (Exception e) {
              throw new AssertionError(e);
            }
          };
      HttpResponse<String> none = predict.apply("/predict", new String[0]);
      assertDetail(none, 401, "Not authenticated: send the API key as 'Authorization: Bearer KEY'");
      assertEquals("Bearer", none.headers().firstValue("WWW-Authenticate").orElseThrow());
      assertEquals(
          401,
          predict
              .apply("/predict", new String[] {"Authorization", "Bearer " + key + "0"})
              .statusCode());
      assertEquals(
          401,
          predict.apply("/predict", new String[] {"X-API-Key", key.substring(1)}).statusCode());
      assertEquals(
          401, predict.apply("/predict", new String[] {"Authorization", key}).statusCode());
      HttpResponse<String> bearer =
          predict.apply("/predict", new String[] {"Authorization", "bearer " + key});
      assertEquals(200, bearer.statusCode(), bearer.body());
      assertPredictions(JSON.readTree(bearer.body()), expected(image), 3);
      assertEquals(200, predict.apply("/predict", new String[] {"X-API-Key", key}).statusCode());
      for (String open : PredictionServer.OPEN_PATHS) {
        HttpResponse<String> r =
            HTTP.send(
                HttpRequest.newBuilder(at.resolve(open)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), open);
      }
      HttpResponse<String> metrics =
          HTTP.send(
              HttpRequest.newBuilder(at.resolve("/metrics")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(401, metrics.statusCode());
      HttpResponse<String> preflight = preflight(at, "https://app.example.com");
      assertEquals(204, preflight.statusCode());
      assertEquals(
          "Content-Type, Authorization, X-API-Key",
          preflight.headers().firstValue("Access-Control-Allow-Headers").orElseThrow());
    } finally {
      guarded.close();
    }
  }

  /** Keys too short or with spaces are refused; a key never shows in a string of itself. */
  @Test
  void weakKeysAreRefusedAndKeysAreNeverShown() {
    for (String weak : List.of("", "short", "0123456789abcde", "0123456789 abcdef")) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> ApiKey.of(weak), weak);
      assertTrue(e.getMessage().contains("openssl rand -hex 32"), e.getMessage());
    }
    ApiKey key = ApiKey.of("0123456789abcdef");
    assertFalse(key.toString().contains("0123"), key.toString());
    assertFalse(key.matches(null));
    assertTrue(key.matches(" 0123456789abcdef"));
  }

  /** A browser's preflight of a POST to /predict from a page of {@code origin}. */
  private static HttpResponse<String> preflight(String origin) throws Exception {
    return preflight(base, origin);
  }

  /** The same, to the server at {@code server}. */
  private static HttpResponse<String> preflight(URI server, String origin) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(server.resolve("/predict"))
            .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Requests sent together are all answered right, and share the network's passes. */
  @Test
  void concurrentRequestsAreBatched() throws Exception {
    List<byte[]> images = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      images.add(Fixtures.noisePng(100 + i, 64, 64));
    }
    long batchesBefore = counter("fingerspell_batches_total");
    long imagesBefore = counter("fingerspell_images_total{outcome=\"classified\"}");
    List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
    for (byte[] image : images) {
      sent.add(
          HTTP.sendAsync(
              HttpRequest.newBuilder(base.resolve("/predict?top_k=29"))
                  .header("Content-Type", "image/png")
                  .POST(HttpRequest.BodyPublishers.ofByteArray(image))
                  .build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    for (int i = 0; i < images.size(); i++) {
      HttpResponse<String> r = sent.get(i).join();
      assertEquals(200, r.statusCode(), r.body());
      assertPredictions(JSON.readTree(r.body()), expected(images.get(i)), 29);
    }
    long batches = counter("fingerspell_batches_total") - batchesBefore;
    assertEquals(24, counter("fingerspell_images_total{outcome=\"classified\"}") - imagesBefore);
    assertTrue(batches >= 6, "at most 4 images a pass: " + batches); // other tests may run too
    assertTrue(batches < 24, "some requests shared a pass: " + batches);
  }

  private static long counter(String name) throws Exception {
    Matcher m =
        Pattern.compile("(?m)^" + Pattern.quote(name) + " (\\d+)$").matcher(get("/metrics").body());
    assertTrue(m.find(), name);
    return Long.parseLong(m.group(1));
  }

  @Test
  void healthMetricsOpenApiAndThePage() throws Exception {
    JsonNode health = JSON.readTree(get("/health").body());
    assertEquals("ok", health.get("status").asText());
    assertEquals("asl.safetensors", health.get("model").asText());
    assertEquals("cpu", health.get("device").asText());
    assertEquals("cpu", health.get("backend").asText());
    assertEquals(64, health.get("input_size").asInt());
    assertEquals(29, health.get("labels").size());
    assertEquals("space", health.get("labels").get(28).asText());

    HttpResponse<String> metrics = get("/metrics");
    assertTrue(metrics.headers().firstValue("Content-Type").orElseThrow().startsWith("text/plain"));
    assertTrue(metrics.body().contains("# TYPE fingerspell_request_duration_seconds histogram"));
    assertTrue(
        metrics.body().contains("fingerspell_requests_total{path=\"/health\",status=\"200\"}"));
    assertTrue(metrics.body().contains("fingerspell_request_duration_seconds_bucket{le=\"+Inf\"}"));

    JsonNode api = JSON.readTree(get("/openapi.json").body());
    assertEquals("3.1.0", api.get("openapi").asText());
    assertFalse(api.get("info").get("version").asText().contains("$"), "filtered by the build");
    for (String path : List.of("/predict", "/predict/batch", "/health", "/metrics")) {
      assertTrue(api.get("paths").has(path), path);
      // the key is optional (an open service), and /health never needs it
      boolean open = PredictionServer.OPEN_PATHS.contains(path);
      JsonNode operation = api.get("paths").get(path).elements().next();
      assertEquals(open, operation.has("security") && operation.get("security").isEmpty(), path);
      assertEquals(!open, operation.get("responses").has("401"), path);
    }
    assertEquals("bearer", api.at("/components/securitySchemes/bearer/scheme").asText());
    assertEquals("X-API-Key", api.at("/components/securitySchemes/apiKey/name").asText());
    assertEquals(3, api.get("security").size()); // none, bearer or X-API-Key
    String page = get("/").body();
    assertTrue(page.contains("<form action=\"/predict\" method=\"post\""), page);

    // HEAD: GET's status and headers, its body's length, no body (uptime checks send it)
    HttpResponse<String> head =
        HTTP.send(
            HttpRequest.newBuilder(base.resolve("/health"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody())
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, head.statusCode());
    assertEquals("", head.body());
    assertEquals(
        get("/health").body().getBytes(StandardCharsets.UTF_8).length,
        Integer.parseInt(head.headers().firstValue("Content-Length").orElseThrow()));
    assertEquals("application/json", head.headers().firstValue("Content-Type").orElseThrow());
  }

  /**
   * Closing waits for a request under way (its body still arriving), answers requests that come
   * meanwhile with 503, and stops listening only then.
   */
  @Test
  void closingFinishesTheRequestUnderWayAndRefusesNewOnes() throws Exception {
    PredictionServer closing =
        PredictionServer.start(
            classifier,
            settings("m", false, List.of("*"), null),
            new PrintWriter(new StringWriter(), true));
    int port = closing.address().getPort();
    byte[] image = Fixtures.noisePng(7, 64, 64);
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", port)) {
      var to = socket.getOutputStream();
      to.write(
          ("POST /predict?top_k=29 HTTP/1.1\r\nHost: x\r\nContent-Length: "
                  + image.length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      to.write(image, 0, image.length - 1);
      to.flush();
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (closing.underWay() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(10); // until the server has taken the request in
      }
      assertEquals(1, closing.underWay());
      Thread stopper = new Thread(closing::close);
      stopper.start();
      while (!closing.stopping() && System.nanoTime() < deadline) {
        Thread.sleep(10); // until close() has begun
      }
      Thread.sleep(100); // and is waiting for the request
      assertTrue(stopper.isAlive(), "close waits for the request under way");
      HttpResponse<String> refused =
          HTTP.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(503, refused.statusCode());
      assertEquals("{\"detail\":\"the service is shutting down\"}", refused.body());
      to.write(image, image.length - 1, 1);
      to.flush();
      String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(answer.startsWith("HTTP/1.1 200 OK"), answer);
      assertPredictions(
          JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4)), expected(image), 29);
      stopper.join(10_000);
      assertFalse(stopper.isAlive());
    }
    assertThrows(
        java.io.IOException.class,
        () ->
            HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(),
                HttpResponse.BodyHandlers.ofString()));
  }

  @Test
  void aBusyQueueIsRefusedAndClosingLetsTheQueuedImagesFinish() {
    ServiceMetrics metrics = new ServiceMetrics();
    BatchingClassifier batcher = new BatchingClassifier(classifier, 8, 20, metrics);
    float[] blank = new float[3 * 64 * 64];
    List<CompletableFuture<List<AslClassifier.Prediction>>> queued = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      queued.add(batcher.submit(blank, 1 + i % 3));
    }
    BatchingClassifier.BusyException busy =
        assertThrows(BatchingClassifier.BusyException.class, () -> batcher.submit(blank, 1));
    assertEquals(
        "busy: 20 images are waiting to be classified; try again shortly", busy.getMessage());
    batcher.start();
    batcher.close(); // waits for the queued images
    for (int i = 0; i < 20; i++) {
      assertEquals(1 + i % 3, queued.get(i).join().size());
    }
    String text = metrics.text();
    assertTrue(text.contains("\nfingerspell_batches_total 3\n"), text); // 8 + 8 + 4
    assertTrue(text.contains("fingerspell_images_total{outcome=\"classified\"} 20\n"), text);
    IllegalStateException closed =
        assertThrows(IllegalStateException.class, () -> batcher.submit(blank, 1));
    assertEquals("the service is shutting down", closed.getMessage());

    BatchingClassifier never = new BatchingClassifier(classifier, 8, 4, new ServiceMetrics());
    CompletableFuture<List<AslClassifier.Prediction>> left = never.submit(blank, 1);
    never.close();
    assertThrows(CompletionException.class, left::join);
  }
}
