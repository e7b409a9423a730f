package dev.fingerspell.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.fingerspell.weights.SafetensorsWriter.Entry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The hub download path against a loopback HTTP server that plays the hub. */
class WeightFetchTest {
  private static final String PATH = "/timm/resnet18.a1_in1k/resolve/main/model.safetensors";

  @TempDir Path dir;
  private HttpServer server;
  private byte[] model;

  /** How many body bytes to send on the next request before hanging up; -1 sends all. */
  private final AtomicInteger cutAfter = new AtomicInteger(-1);

  private final List<String> ranges = Collections.synchronizedList(new ArrayList<>());

  @BeforeEach
  void start() throws IOException {
    float[] values = new float[50_000];
    for (int i = 0; i < values.length; i++) {
      values[i] = i * 0.5f;
    }
    model =
        SafetensorsWriter.toBytes(
            List.of(Entry.f32("conv1.weight", new int[] {values.length}, values)), Map.of());
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private void handle(HttpExchange ex) throws IOException {
    handle(ex, PATH);
  }

  /** Serves the model at {@code path} (ranges honoured, {@link #cutAfter} obeyed), else 404. */
  private void handle(HttpExchange ex, String path) throws IOException {
    try (ex) {
      if (!ex.getRequestURI().getPath().equals(path)) {
        ex.sendResponseHeaders(404, -1);
        return;
      }
      String range = ex.getRequestHeaders().getFirst("Range");
      ranges.add(range == null ? "" : range);
      int from = 0;
      if (range != null && range.startsWith("bytes=")) {
        from = Integer.parseInt(range.substring(6, range.indexOf('-')));
      }
      int length = model.length - from;
      ex.getResponseHeaders()
          .add("Content-Range", "bytes " + from + "-" + (model.length - 1) + "/" + model.length);
      ex.sendResponseHeaders(from > 0 ? 206 : 200, length);
      int cut = cutAfter.getAndSet(-1);
      OutputStream os = ex.getResponseBody();
      if (cut >= 0) {
        os.write(model, from, cut);
        os.flush();
        throw new IOException("simulated broken connection");
      }
      os.write(model, from, length);
    }
  }

  private WeightFetch fetcher() {
    return new WeightFetch(
        dir.resolve("cache"), "http://127.0.0.1:" + server.getAddress().getPort(), null);
  }

  @Test
  void downloadsIntoTheCacheOnceWithProgress() throws IOException {
    long[] seen = {0};
    WeightFetch.Progress progress =
        new WeightFetch.Progress() {
          @Override
          public void start(String what, long total, long done) {
            assertEquals(model.length, total);
          }

          @Override
          public void advance(long bytes) {
            seen[0] += bytes;
          }

          @Override
          public void finish() {}
        };
    Path p = fetcher().resolve("hf://timm/resnet18.a1_in1k", progress);
    assertEquals(dir.resolve("cache/hub/timm--resnet18.a1_in1k/model.safetensors"), p);
    assertArrayEquals(model, Files.readAllBytes(p));
    assertEquals(model.length, seen[0]);
    assertFalse(Files.exists(p.resolveSibling("model.safetensors.part")));
    fetcher().resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE);
    assertEquals(1, ranges.size(), "a cached file is not downloaded again");
  }

  @Test
  void fetchCopiesToOut() throws IOException {
    Path out = dir.resolve("out/resnet18.safetensors");
    assertEquals(
        out, fetcher().fetch("hf://timm/resnet18.a1_in1k", out, WeightFetch.Progress.NONE));
    assertArrayEquals(model, Files.readAllBytes(out));
  }

  @Test
  void notFoundIsOneClearLine() {
    WeightFetchException e =
        assertThrows(
            WeightFetchException.class,
            () -> fetcher().resolve("hf://timm/no-such-model", WeightFetch.Progress.NONE));
    assertTrue(e.getMessage().contains("not found on the hub (HTTP 404"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"));
    assertFalse(Files.exists(dir.resolve("cache/hub/timm--no-such-model/model.safetensors")));
  }

  @Test
  void aBrokenDownloadIsResumedWithARangeRequest() throws IOException {
    cutAfter.set(70_000);
    Path p = fetcher().resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE);
    assertArrayEquals(model, Files.readAllBytes(p));
    assertEquals(2, ranges.size(), ranges.toString());
    assertEquals("", ranges.get(0));
    assertTrue(ranges.get(1).startsWith("bytes="), ranges.toString());
    int resumedFrom = Integer.parseInt(ranges.get(1).substring(6, ranges.get(1).indexOf('-')));
    assertTrue(resumedFrom > 0 && resumedFrom <= 70_000, "resumed from " + resumedFrom);
  }

  @Test
  void aTruncatedBodyNeverBecomesTheModel() throws IOException {
    // the server announces the full length but every answer breaks off
    server.removeContext("/");
    server.createContext(
        "/",
        ex -> {
          try (ex) {
            ex.sendResponseHeaders(200, model.length);
            ex.getResponseBody().write(model, 0, 1000);
            throw new IOException("simulated broken connection");
          }
        });
    WeightFetchException e =
        assertThrows(
            WeightFetchException.class,
            () -> fetcher().resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE));
    assertTrue(e.getMessage().contains("run the command again to resume"), e.getMessage());
    Path target = dir.resolve("cache/hub/timm--resnet18.a1_in1k/model.safetensors");
    assertFalse(Files.exists(target), "no half-written model in place");
  }

  /**
   * The hub answers a download with a redirect to its CDN, whose signed address is the
   * authorisation there: the token goes to the hub only (a CDN that also gets it may refuse both,
   * and it is not the CDN's to see), redirects on the hub itself keep it, and a resumed download
   * asks the CDN for the rest.
   */
  @Test
  void theTokenGoesToTheHubOnlyNotWhereItRedirects() throws IOException {
    HttpServer cdn =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    List<String> cdnAuth = Collections.synchronizedList(new ArrayList<>());
    List<String> hubAuth = Collections.synchronizedList(new ArrayList<>());
    cdn.createContext(
        "/",
        ex -> {
          String auth = ex.getRequestHeaders().getFirst("Authorization");
          cdnAuth.add(auth == null ? "" : auth);
          if (auth != null) { // as S3 does with a signed URL and a header both
            try (ex) {
              ex.sendResponseHeaders(400, -1);
            }
            return;
          }
          handle(ex, "/cdn/model.safetensors");
        });
    cdn.start();
    server.removeContext("/");
    server.createContext(
        "/",
        ex -> {
          try (ex) {
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            hubAuth.add(auth == null ? "" : auth);
            if (!"Bearer secret".equals(auth)) {
              ex.sendResponseHeaders(401, -1);
            } else if (ex.getRequestURI().getPath().startsWith("/old/")) { // a renamed repository
              ex.getResponseHeaders().add("Location", PATH);
              ex.sendResponseHeaders(307, -1);
            } else {
              // another host name for the same loopback server: another origin
              ex.getResponseHeaders()
                  .add(
                      "Location",
                      "http://localhost:"
                          + cdn.getAddress().getPort()
                          + "/cdn/model.safetensors?sig=1");
              ex.sendResponseHeaders(302, -1);
            }
          }
        });
    try {
      String hub = "http://127.0.0.1:" + server.getAddress().getPort();
      WeightFetchException denied =
          assertThrows(
              WeightFetchException.class,
              () ->
                  new WeightFetch(dir.resolve("c0"), hub, null)
                      .resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE));
      assertTrue(denied.getMessage().contains("set HF_TOKEN"), denied.getMessage());

      cutAfter.set(70_000);
      WeightFetch withToken = new WeightFetch(dir.resolve("c1"), hub, "secret");
      Path p = withToken.resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE);
      assertArrayEquals(model, Files.readAllBytes(p));
      assertEquals(List.of("", ""), cdnAuth, "the CDN never sees the token");
      assertEquals(2, ranges.size(), "broken once, resumed from the CDN: " + ranges);
      assertTrue(ranges.get(1).startsWith("bytes="), ranges.toString());

      hubAuth.clear();
      Path renamed =
          new WeightFetch(dir.resolve("c2"), hub, "secret")
              .resolve("hf://old/resnet18", WeightFetch.Progress.NONE);
      assertArrayEquals(model, Files.readAllBytes(renamed));
      assertEquals(
          List.of("Bearer secret", "Bearer secret"), hubAuth, "kept on the hub's redirect");
    } finally {
      cdn.stop(0);
    }
  }

  @Test
  void offlineSaysWhatToDo() {
    WeightFetch offline = new WeightFetch(dir, "http://127.0.0.1:1", null);
    WeightFetchException e =
        assertThrows(
            WeightFetchException.class,
            () -> offline.resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE));
    assertTrue(e.getMessage().contains("offline"), e.getMessage());
    assertTrue(e.getMessage().contains("model.weights=none"), e.getMessage());
  }

  @Test
  void localPathsAndNone() throws IOException {
    assertNull(fetcher().resolve("none", WeightFetch.Progress.NONE));
    Path local = dir.resolve("w.safetensors");
    Files.write(local, model);
    assertEquals(local, fetcher().resolve(local.toString(), WeightFetch.Progress.NONE));
    WeightFetchException e =
        assertThrows(
            WeightFetchException.class,
            () -> fetcher().resolve(dir.resolve("missing").toString(), WeightFetch.Progress.NONE));
    assertTrue(e.getMessage().contains("hf://OWNER/NAME, or none"), e.getMessage());
    assertThrows(
        WeightFetchException.class,
        () -> fetcher().fetch("hf://only-owner", null, WeightFetch.Progress.NONE));
  }

  @Test
  void environmentChoosesCacheAndEndpoint() {
    WeightFetch f =
        WeightFetch.fromEnvironment(
            Map.of("FINGERSPELL_HOME", dir.toString(), "HF_ENDPOINT", "http://127.0.0.1:9/"));
    assertEquals(dir, f.cacheDir());
    assertEquals(
        dir.resolve("hub/timm--resnet18.a1_in1k/model.safetensors"),
        f.cachePath("hf://timm/resnet18.a1_in1k"));
  }

  /**
   * A fetcher from an environment: FINGERSPELL_HOME under the test's folder, the hub at {@code
   * hub}, HF_HOME an empty folder (never this machine's huggingface_hub cache), then {@code more}
   * name-value pairs, which may replace those.
   */
  private WeightFetch fromEnvironment(String home, String hub, String... more) {
    Map<String, String> env = new java.util.HashMap<>();
    env.put("FINGERSPELL_HOME", dir.resolve(home).toString());
    env.put("HF_HOME", dir.resolve("no-hf").toString());
    env.put("HF_ENDPOINT", hub);
    for (int k = 0; k < more.length; k += 2) {
      env.put(more[k], more[k + 1]);
    }
    return WeightFetch.fromEnvironment(env);
  }

  /**
   * Behind a proxy, as pip and huggingface-cli are told of one: the download goes through the proxy
   * https_proxy/http_proxy names (a loopback forward proxy here counts what it relays), and
   * straight to the hub when no_proxy lists it.
   */
  @Test
  void theProxyTheEnvironmentNamesIsUsedUnlessNoProxyListsTheHost() throws Exception {
    String hub = "http://127.0.0.1:" + server.getAddress().getPort();
    try (LoopbackProxy proxy = new LoopbackProxy(null, null)) {
      WeightFetch viaProxy = fromEnvironment("a", hub, "HTTP_PROXY", "http://" + proxy.address());
      Path file = viaProxy.fetch("hf://timm/resnet18.a1_in1k", null, WeightFetch.Progress.NONE);
      assertArrayEquals(model, Files.readAllBytes(file));
      assertEquals(1, proxy.relayed.get());
      assertEquals(List.of("GET " + hub + PATH + " HTTP/1.1"), proxy.requests);

      WeightFetch bypass =
          fromEnvironment(
              "b", hub, "http_proxy", proxy.address(), "no_proxy", "example.com, 127.0.0.1");
      bypass.fetch("hf://timm/resnet18.a1_in1k", null, WeightFetch.Progress.NONE);
      assertEquals(1, proxy.relayed.get(), "no_proxy lists the hub's host");
    }
    // a proxy that wants a password, with none given, says how to give it (the hub is never asked)
    try (LoopbackProxy guard = new LoopbackProxy("ann", "secret")) {
      int asked = ranges.size();
      WeightFetch refused = fromEnvironment("d", hub, "http_proxy", guard.address());
      WeightFetchException e = refusal(refused);
      assertEquals(
          "hf://timm/resnet18.a1_in1k: the proxy "
              + guard.address()
              + " asks for a user name and password (HTTP 407); give them in its address, as for"
              + " pip: http_proxy=http://USER:PASSWORD@"
              + guard.address(),
          e.getMessage());
      assertEquals(asked, ranges.size());
    }
    // a proxy that does not answer is named in the message
    WeightFetch dead = fromEnvironment("c", "http://127.0.0.1:9", "http_proxy", "127.0.0.1:1");
    WeightFetchException e = refusal(dead);
    assertTrue(e.getMessage().contains("through the proxy 127.0.0.1:1"), e.getMessage());
  }

  /**
   * A proxy that asks for a password gets the one its address carries, percent-decoded as pip and
   * requests decode it; a wrong one is named as refused without being printed, and a server's own
   * 401 is never answered with the proxy's login.
   */
  @Test
  void aProxyThatAsksForAPasswordGetsTheOneInItsAddress() throws Exception {
    String hub = "http://127.0.0.1:" + server.getAddress().getPort();
    try (LoopbackProxy proxy = new LoopbackProxy("ann@corp", "p:ss/w rd%")) {
      String login = "http://ann%40corp:p%3Ass%2Fw%20rd%25@" + proxy.address();
      Path file =
          fromEnvironment("a", hub, "http_proxy", login)
              .fetch("hf://timm/resnet18.a1_in1k", null, WeightFetch.Progress.NONE);
      assertArrayEquals(model, Files.readAllBytes(file));
      assertEquals(1, proxy.relayed.get());
      assertEquals(0, proxy.refused.get(), "sent with the first request, as curl sends it");

      // a host that no_proxy lists is reached directly, and never sees the proxy's login
      List<String> seen = Collections.synchronizedList(new ArrayList<>());
      server.removeContext("/");
      server.createContext(
          "/",
          ex -> {
            seen.add(String.valueOf(ex.getRequestHeaders().getFirst("Proxy-Authorization")));
            handle(ex);
          });
      fromEnvironment("direct", hub, "http_proxy", login, "no_proxy", "127.0.0.1")
          .fetch("hf://timm/resnet18.a1_in1k", null, WeightFetch.Progress.NONE);
      assertEquals(List.of("null"), seen);
      assertEquals(1, proxy.relayed.get());

      WeightFetch wrong =
          fromEnvironment("b", hub, "HTTP_PROXY", "http://ann%40corp:hunter2@" + proxy.address());
      WeightFetchException e = refusal(wrong);
      assertEquals(
          "hf://timm/resnet18.a1_in1k: the proxy "
              + proxy.address()
              + " refused the user name and password in HTTP_PROXY (HTTP 407); check them (write"
              + " @ : / % in them as %40 %3A %2F %25)",
          e.getMessage());
      assertEquals(1, proxy.relayed.get(), "nothing passed with the wrong password");

      // the hub itself asking for a login (401) is not answered with the proxy's
      List<String> authorizations = Collections.synchronizedList(new ArrayList<>());
      HttpServer gated =
          HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      gated.createContext(
          "/",
          ex -> {
            authorizations.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
            ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"hub\"");
            ex.sendResponseHeaders(401, -1);
            ex.close();
          });
      gated.start();
      try {
        WeightFetch toGated =
            fromEnvironment(
                "c", "http://127.0.0.1:" + gated.getAddress().getPort(), "http_proxy", login);
        WeightFetchException denied = refusal(toGated);
        assertTrue(denied.getMessage().contains("access denied (HTTP 401)"), denied.getMessage());
        assertEquals(List.of("null"), authorizations);
      } finally {
        gated.stop(0);
      }
    }
    WeightFetchException bad =
        assertThrows(
            WeightFetchException.class,
            () -> EnvironmentProxies.of(Map.of("https_proxy", "http://ann:p@ss@proxy:3128")));
    assertEquals(
        "https_proxy='http://***@proxy:3128' is not host:port or http://[USER:PASSWORD@]host:port"
            + " (write an @ in the user name or password as %40)",
        bad.getMessage());
  }

  /**
   * An https hub behind a proxy that asks for a password: the login goes in the CONNECT that opens
   * the tunnel. The JDK sends Basic there only when told so before its first HTTP client is made,
   * so this runs as the command line does: in a JVM of its own, the proxy in its environment. When
   * the user's JVM options keep the JDK's refusal, the message says which setting stops it.
   */
  @Test
  void anHttpsDownloadTunnelsThroughAProxyThatAsksForAPassword() throws Exception {
    Path store = dir.resolve("hub.p12"); // the JVMs that fetch trust it
    java.security.KeyStore keys =
        SelfSignedCertificate.make(store, PASSWORD, "-keyalg", "EC", "-groupname", "secp256r1");
    javax.net.ssl.KeyManagerFactory kmf =
        javax.net.ssl.KeyManagerFactory.getInstance(
            javax.net.ssl.KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, PASSWORD);
    javax.net.ssl.SSLContext tls = javax.net.ssl.SSLContext.getInstance("TLS");
    tls.init(kmf.getKeyManagers(), null, null);
    HttpsServer hub =
        HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    hub.setHttpsConfigurator(new HttpsConfigurator(tls));
    List<String> seen = Collections.synchronizedList(new ArrayList<>());
    hub.createContext(
        "/",
        ex -> {
          seen.add(String.valueOf(ex.getRequestHeaders().getFirst("Proxy-Authorization")));
          handle(ex);
        });
    hub.start();
    try (LoopbackProxy proxy = new LoopbackProxy("ann", "s3cret:!")) {
      Map<String, String> env =
          Map.of(
              "HF_ENDPOINT",
              "https://127.0.0.1:" + hub.getAddress().getPort(),
              "https_proxy",
              "http://ann:s3cret%3A!@" + proxy.address(),
              "FINGERSPELL_HOME",
              dir.resolve("tunnel").toString(),
              "HF_HOME",
              dir.resolve("no-hf").toString());
      String said = fetchInOwnJvm(env, store);
      Path file = dir.resolve("tunnel/hub/timm--resnet18.a1_in1k/model.safetensors");
      assertEquals("fetched " + file + "\n", said);
      assertArrayEquals(model, Files.readAllBytes(file));
      assertEquals(
          List.of("CONNECT 127.0.0.1:" + hub.getAddress().getPort() + " HTTP/1.1"),
          proxy.requests.stream().distinct().toList());
      assertEquals(1, proxy.relayed.get());
      assertEquals(List.of("null"), seen, "the login is not sent inside the tunnel");

      String kept =
          fetchInOwnJvm(
              Map.of(
                  "HF_ENDPOINT", env.get("HF_ENDPOINT"),
                  "https_proxy", env.get("https_proxy"),
                  "FINGERSPELL_HOME", dir.resolve("kept").toString(),
                  "HF_HOME", dir.resolve("no-hf").toString()),
              store,
              "-D" + EnvironmentProxies.TUNNEL_SCHEMES + "=Basic");
      assertEquals(
          "hf://timm/resnet18.a1_in1k: the proxy "
              + proxy.address()
              + " asks for the password in https_proxy, which this JVM may not send through a"
              + " tunnel (-D"
              + EnvironmentProxies.TUNNEL_SCHEMES
              + "=Basic): take that option away\n",
          kept);
      assertEquals(1, proxy.relayed.get());
    } finally {
      hub.stop(0);
    }
  }

  private static final char[] PASSWORD = "changeit".toCharArray();

  /** What {@link FetchMain} prints, run in a new JVM with only {@code env} as its environment. */
  private static String fetchInOwnJvm(Map<String, String> env, Path trustStore, String... options)
      throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Djavax.net.ssl.trustStore=" + trustStore);
    command.add("-Djavax.net.ssl.trustStorePassword=" + new String(PASSWORD));
    command.addAll(List.of(options));
    command.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            FetchMain.class.getName(),
            "hf://timm/resnet18.a1_in1k"));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().clear();
    pb.environment().putAll(env);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes());
    p.waitFor();
    return out;
  }

  /** Fetches its argument as the command line does: the settings from the environment. */
  static final class FetchMain {
    public static void main(String[] args) {
      try {
        Path file = WeightFetch.fromEnvironment().fetch(args[0], null, WeightFetch.Progress.NONE);
        System.out.println("fetched " + file);
      } catch (WeightFetchException e) {
        System.out.println(e.getMessage());
      }
    }
  }

  /**
   * hf://OWNER/NAME@REVISION, as huggingface_hub's revision= names one: fetched from that
   * revision's address, cached apart from main, and found in huggingface_hub's cache through
   * refs/REVISION (a branch or tag) or as the snapshot of that name (a commit), with no download.
   */
  @Test
  void aRevisionIsFetchedFromItsOwnAddressAndKeptApartFromMain() throws IOException {
    String revisionPath = "/timm/resnet18.a1_in1k/resolve/v1.0/model.safetensors";
    server.removeContext("/");
    server.createContext("/", ex -> handle(ex, revisionPath)); // main is not served: 404
    String hub = "http://127.0.0.1:" + server.getAddress().getPort();
    WeightFetch f = fromEnvironment("rev", hub);
    Path pinned = f.fetch("hf://timm/resnet18.a1_in1k@v1.0", null, WeightFetch.Progress.NONE);
    assertArrayEquals(model, Files.readAllBytes(pinned));
    assertEquals(dir.resolve("rev/hub/timm--resnet18.a1_in1k@v1.0/model.safetensors"), pinned);
    assertTrue(refusal(f).getMessage().contains("not found on the hub (HTTP 404"));

    Path repo = dir.resolve("hf-rev/hub/models--timm--resnet18.a1_in1k");
    Path snapshot = Files.createDirectories(repo.resolve("snapshots/0123abcd"));
    Files.write(snapshot.resolve("model.safetensors"), model);
    Files.createDirectories(repo.resolve("refs"));
    Files.writeString(repo.resolve("refs/v2.0"), "0123abcd\n");
    WeightFetch offline =
        fromEnvironment(
            "rev-offline", hub, "HF_HOME", dir.resolve("hf-rev").toString(), "HF_HUB_OFFLINE", "1");
    Path file = snapshot.resolve("model.safetensors");
    assertEquals(
        file, offline.resolve("hf://timm/resnet18.a1_in1k@v2.0", WeightFetch.Progress.NONE));
    assertEquals(
        file, offline.resolve("hf://timm/resnet18.a1_in1k@0123abcd", WeightFetch.Progress.NONE));
    assertNull(offline.cached("hf://timm/resnet18.a1_in1k@v3.0"), "another tag is not that one");
    assertEquals(file, offline.cached("hf://timm/resnet18.a1_in1k"), "main: the newest snapshot");
    WeightFetchException bad =
        assertThrows(
            WeightFetchException.class,
            () -> f.fetch("hf://timm/resnet18.a1_in1k@refs/pr/1", null, WeightFetch.Progress.NONE));
    assertTrue(bad.getMessage().contains("hf://OWNER/NAME[@REVISION]"), bad.getMessage());
  }

  /** Which proxy serves which address, as requests and curl choose. */
  @Test
  void proxyVariablesAreReadAsRequestsReadsThem() {
    java.net.URI hub = java.net.URI.create("https://huggingface.co/x");
    java.net.URI cdn = java.net.URI.create("https://cdn-lfs.huggingface.co/x");
    java.net.URI plain = java.net.URI.create("http://mirror.example/x");
    EnvironmentProxies p =
        EnvironmentProxies.of(
            Map.of(
                "https_proxy", "http://secure:3128",
                "HTTPS_PROXY", "http://ignored:1",
                "HTTP_PROXY", "plain:8080",
                "NO_PROXY", ".example, localhost"));
    assertEquals("secure:3128", text(p.proxyFor(hub)), "lower case first");
    assertEquals("secure:3128", text(p.proxyFor(cdn)));
    assertNull(p.proxyFor(plain), "a domain in no_proxy covers its hosts");
    assertEquals(
        "plain:8080", text(p.proxyFor(java.net.URI.create("http://other.org/x"))), "http_proxy");
    EnvironmentProxies all = EnvironmentProxies.of(Map.of("ALL_PROXY", "everything"));
    assertEquals("everything:80", text(all.proxyFor(hub)), "all_proxy, port 80 by default");
    assertEquals("everything:80", text(all.proxyFor(plain)));
    EnvironmentProxies none = EnvironmentProxies.of(Map.of("https_proxy", "p:1", "no_proxy", "*"));
    assertNull(none.proxyFor(hub), "no_proxy=* turns the proxy off");
    assertNull(EnvironmentProxies.of(Map.of("HF_TOKEN", "x")), "no proxy variable, no selector");
    WeightFetchException bad =
        assertThrows(
            WeightFetchException.class,
            () -> EnvironmentProxies.of(Map.of("https_proxy", "http://")));
    assertEquals(
        "https_proxy='http://' is not host:port or http://[USER:PASSWORD@]host:port",
        bad.getMessage());
  }

  /** What stops {@code f} from fetching the hub's resnet18 (the test fails if nothing does). */
  private static WeightFetchException refusal(WeightFetch f) {
    return assertThrows(
        WeightFetchException.class,
        () -> f.fetch("hf://timm/resnet18.a1_in1k", null, WeightFetch.Progress.NONE));
  }

  private static String text(InetSocketAddress a) {
    return a == null ? null : a.getHostString() + ":" + a.getPort();
  }

  /**
   * Weights a Python user's huggingface_hub already downloaded (timm's create_model does) are taken
   * from its cache, the snapshot refs/main names, with no network: the hub here is a port nothing
   * listens on. A broken snapshot is passed over.
   */
  @Test
  void weightsInHuggingFacesCacheAreUsedWithoutDownloading() throws IOException {
    Path hf = dir.resolve("hf-home").resolve("hub");
    Path repo = hf.resolve("models--timm--resnet18.a1_in1k");
    Path blob = Files.createDirectories(repo.resolve("blobs")).resolve("0123abcd");
    Files.write(blob, model);
    Path snapshot = Files.createDirectories(repo.resolve("snapshots").resolve("a1b2c3"));
    Files.createSymbolicLink(
        snapshot.resolve("model.safetensors"), Path.of("../../blobs/0123abcd"));
    Path older = Files.createDirectories(repo.resolve("snapshots").resolve("ffff00"));
    Files.write(older.resolve("model.safetensors"), new byte[] {1, 2, 3}); // not valid
    Files.createDirectories(repo.resolve("refs"));
    Files.writeString(repo.resolve("refs").resolve("main"), "a1b2c3");
    WeightFetch f =
        fromEnvironment("fs", "http://127.0.0.1:1", "HF_HOME", dir.resolve("hf-home").toString());
    Path got = f.resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE);
    assertEquals(snapshot.resolve("model.safetensors"), got);
    assertEquals(got, f.cached("hf://timm/resnet18.a1_in1k"), "what the demo looks for");
    assertNull(f.cached("hf://timm/other"));
    Path copy =
        f.fetch(
            "hf://timm/resnet18.a1_in1k",
            dir.resolve("out.safetensors"),
            WeightFetch.Progress.NONE);
    assertArrayEquals(model, Files.readAllBytes(copy));
    // without refs/main: the snapshot that holds a valid file
    Files.delete(repo.resolve("refs").resolve("main"));
    assertEquals(
        snapshot.resolve("model.safetensors"),
        f.resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE));
    // HF_HUB_OFFLINE: the caches still serve; anything else is one line, and no connection
    String hub = "http://127.0.0.1:" + server.getAddress().getPort();
    WeightFetch offline =
        fromEnvironment(
            "fs", hub, "HF_HOME", dir.resolve("hf-home").toString(), "HF_HUB_OFFLINE", "1");
    assertEquals(
        snapshot.resolve("model.safetensors"),
        offline.resolve("hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE));
    WeightFetch offlineNothingCached =
        fromEnvironment(
            "fs2", "http://127.0.0.1:" + server.getAddress().getPort(), "HF_HUB_OFFLINE", "1");
    WeightFetchException e =
        assertThrows(
            WeightFetchException.class,
            () ->
                offlineNothingCached.resolve(
                    "hf://timm/resnet18.a1_in1k", WeightFetch.Progress.NONE));
    assertTrue(e.getMessage().contains("HF_HUB_OFFLINE is set"), e.getMessage());
    assertTrue(ranges.isEmpty(), "the hub was never asked");
    // the variables huggingface_hub reads, in its order
    assertEquals(
        Path.of("/a"), WeightFetch.huggingFaceCache(Map.of("HF_HUB_CACHE", "/a", "HF_HOME", "/b")));
    assertEquals(Path.of("/b/hub"), WeightFetch.huggingFaceCache(Map.of("HF_HOME", "/b")));
    assertEquals(
        Path.of("/c/huggingface/hub"),
        WeightFetch.huggingFaceCache(Map.of("XDG_CACHE_HOME", "/c")));
  }
}
