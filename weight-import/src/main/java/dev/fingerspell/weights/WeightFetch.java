package dev.fingerspell.weights;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Resolves a {@code model.weights} value to a local safetensors file: {@code none} (random
 * initialisation, no file), a local path, or {@code hf://OWNER/NAME[@REVISION]} — the Hugging Face
 * Hub file {@code model.safetensors} of that repository, downloaded once into the cache.
 *
 * <p>Downloads go to {@code <cache>/hub/OWNER--NAME/model.safetensors.part}, resume with an HTTP
 * range request after a broken transfer (three tries per call, and again on the next call), check
 * the size the server announced, validate the file as safetensors, and only then rename it into
 * place. {@code HF_ENDPOINT} overrides the hub's address as in {@code huggingface_hub}; {@code
 * HF_TOKEN} is sent for gated or private repositories; {@code https_proxy} and the other proxy
 * variables are read as {@code huggingface_hub} reads them ({@link EnvironmentProxies}). The cache
 * is {@code FINGERSPELL_HOME} (default {@code ~/.cache/fingerspell}).
 */
public final class WeightFetch {
  private static final Pattern HUB = Pattern.compile("hf://([\\w.-]+)/([\\w.-]+)(?:@([\\w.-]+))?");

  /**
   * A hub repository's file at a revision: {@code hf://OWNER/NAME} is its {@code main}, {@code
   * hf://OWNER/NAME@REVISION} a branch, tag or commit, as {@code huggingface_hub}'s {@code
   * revision=} names it (so a run can pin the exact weights it started from).
   */
  private record HubRef(String owner, String name, String revision) {
    boolean pinned() {
      return !revision.equals("main");
    }
  }

  private static final String FILE = "model.safetensors";
  private static final int TRIES = 3;

  /** Receives download progress; the command line draws a bar with it. */
  public interface Progress {
    /** A transfer of {@code total} bytes (-1 when unknown) starts, {@code done} already on disk. */
    void start(String what, long total, long done);

    /** {@code bytes} more arrived. */
    void advance(long bytes);

    /** The transfer ended (successfully or not). */
    void finish();

    /** No output. */
    Progress NONE =
        new Progress() {
          @Override
          public void start(String what, long total, long done) {}

          @Override
          public void advance(long bytes) {}

          @Override
          public void finish() {}
        };
  }

  private final Path cacheDir;
  private final String endpoint;
  private final String token;
  private final HttpClient http;

  /** The proxies the environment names, or null (then the JVM's own settings apply). */
  private final EnvironmentProxies proxies;

  /** huggingface_hub's cache, looked in before downloading; null when not from the environment. */
  private final Path huggingFaceCache;

  /** HF_HUB_OFFLINE, as huggingface_hub reads it: the caches only, never the network. */
  private final boolean offline;

  /**
   * A fetcher configured from the environment: FINGERSPELL_HOME, HF_ENDPOINT, HF_TOKEN, the proxy
   * variables, huggingface_hub's cache and HF_HUB_OFFLINE.
   */
  public static WeightFetch fromEnvironment() {
    return fromEnvironment(System.getenv());
  }

  /** A fetcher configured from {@code env}. */
  public static WeightFetch fromEnvironment(Map<String, String> env) {
    String home = env.get("FINGERSPELL_HOME");
    Path cache =
        home != null && !home.isBlank()
            ? Path.of(home)
            : Path.of(System.getProperty("user.home"), ".cache", "fingerspell");
    String endpoint = env.getOrDefault("HF_ENDPOINT", "https://huggingface.co");
    String offline = env.getOrDefault("HF_HUB_OFFLINE", "").strip().toLowerCase(Locale.ROOT);
    return new WeightFetch(
        cache,
        endpoint,
        env.get("HF_TOKEN"),
        EnvironmentProxies.of(env),
        huggingFaceCache(env),
        List.of("1", "on", "yes", "true").contains(offline));
  }

  /**
   * Where {@code huggingface_hub} keeps its downloads ({@code HF_HUB_CACHE}, else {@code
   * HUGGINGFACE_HUB_CACHE}, else {@code HF_HOME/hub}, else {@code XDG_CACHE_HOME/huggingface/hub},
   * else {@code ~/.cache/huggingface/hub}).
   */
  static Path huggingFaceCache(Map<String, String> env) {
    for (String name : List.of("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")) {
      String v = env.get(name);
      if (v != null && !v.isBlank()) {
        return Path.of(v);
      }
    }
    String home = env.get("HF_HOME");
    if (home != null && !home.isBlank()) {
      return Path.of(home, "hub");
    }
    String xdg = env.get("XDG_CACHE_HOME");
    if (xdg != null && !xdg.isBlank()) {
      return Path.of(xdg, "huggingface", "hub");
    }
    return Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub");
  }

  /**
   * The repository's {@code model.safetensors} as a Python user's {@code huggingface_hub} (timm,
   * {@code huggingface-cli download}) already downloaded it: the snapshot {@code refs/REVISION}
   * names; for {@code main} else the newest snapshot holding the file, for a pinned commit the
   * snapshot of that name; null when there is none or it is not valid. So someone coming from the
   * Python stack needs no second download, and no network.
   */
  private Path huggingFaceCached(HubRef hub) {
    if (huggingFaceCache == null) {
      return null;
    }
    Path repo = huggingFaceCache.resolve("models--" + hub.owner() + "--" + hub.name());
    Path snapshots = repo.resolve("snapshots");
    try {
      Path ref = repo.resolve("refs").resolve(hub.revision());
      if (Files.isRegularFile(ref)) {
        Path file = snapshots.resolve(Files.readString(ref).strip()).resolve(FILE);
        if (isValid(file)) {
          return file;
        }
      }
      if (hub.pinned()) {
        // a branch or tag is found through refs above; a commit is a snapshot's own name
        Path file = snapshots.resolve(hub.revision()).resolve(FILE);
        return isValid(file) ? file : null;
      }
      if (!Files.isDirectory(snapshots)) {
        return null;
      }
      try (var list = Files.list(snapshots)) {
        return list.map(d -> d.resolve(FILE))
            .filter(WeightFetch::isValid)
            .max(java.util.Comparator.comparingLong(f -> f.toFile().lastModified()))
            .orElse(null);
      }
    } catch (IOException | RuntimeException e) {
      return null; // an unreadable cache is no cache: download as usual
    }
  }

  /** A fetcher with explicit settings: no proxy but the JVM's, no other cache, online. */
  public WeightFetch(Path cacheDir, String endpoint, String token) {
    this(cacheDir, endpoint, token, null, null, false);
  }

  private WeightFetch(
      Path cacheDir,
      String endpoint,
      String token,
      EnvironmentProxies proxies,
      Path huggingFaceCache,
      boolean offline) {
    this.cacheDir = cacheDir;
    this.huggingFaceCache = huggingFaceCache;
    this.offline = offline;
    this.endpoint =
        endpoint.endsWith("/") ? endpoint.substring(0, endpoint.length() - 1) : endpoint;
    this.token = token == null || token.isBlank() ? null : token;
    this.proxies = proxies;
    HttpClient.Builder b =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NORMAL)
            .connectTimeout(Duration.ofSeconds(20));
    if (proxies != null) {
      b.proxy(proxies);
    }
    this.http = b.build();
  }

  /** The cache directory. */
  public Path cacheDir() {
    return cacheDir;
  }

  /** Whether {@code spec} names a hub repository. */
  public static boolean isHub(String spec) {
    return spec.startsWith("hf://");
  }

  /**
   * The local file for {@code spec}, downloading it when it is a hub repository not yet cached;
   * null for {@code none}.
   */
  public Path resolve(String spec, Progress progress) {
    String s = spec.trim();
    if (s.equalsIgnoreCase("none")) {
      return null;
    }
    if (isHub(s)) {
      return fetch(s, null, progress);
    }
    Path p = Path.of(s);
    if (!Files.isRegularFile(p)) {
      throw new WeightFetchException(
          "model.weights '"
              + spec
              + "': no such file; give a safetensors path, hf://OWNER/NAME, or none");
    }
    return p;
  }

  /**
   * The repository's weights already on this machine, with no download: in this cache, else in
   * huggingface_hub's; null when neither holds a valid file.
   */
  public Path cached(String spec) {
    Path ours = cachePath(spec);
    return isValid(ours) ? ours : huggingFaceCached(hubRef(spec));
  }

  /**
   * The cache location of a hub repository's weights: {@code hub/OWNER--NAME/} for {@code main},
   * {@code hub/OWNER--NAME@REVISION/} for a pinned revision.
   */
  public Path cachePath(String spec) {
    HubRef ref = hubRef(spec);
    String folder = ref.owner() + "--" + ref.name() + (ref.pinned() ? "@" + ref.revision() : "");
    return cacheDir.resolve("hub").resolve(folder).resolve(FILE);
  }

  private static HubRef hubRef(String spec) {
    Matcher m = HUB.matcher(spec.trim());
    if (!m.matches()) {
      throw new WeightFetchException(
          "'"
              + spec
              + "' is not a hub reference: write hf://OWNER/NAME[@REVISION], e.g."
              + " hf://timm/resnet18.a1_in1k");
    }
    return new HubRef(m.group(1), m.group(2), m.group(3) == null ? "main" : m.group(3));
  }

  /**
   * Downloads {@code hf://OWNER/NAME[@REVISION]} into the cache (a no-op when it is there and
   * valid) and, when {@code out} is given, copies it there too. Returns the file.
   */
  public Path fetch(String spec, Path out, Progress progress) {
    HubRef ref = hubRef(spec);
    Path target = cachePath(spec);
    URI uri =
        URI.create(
            String.join("/", endpoint, ref.owner(), ref.name(), "resolve", ref.revision(), FILE));
    try {
      Files.createDirectories(target.getParent());
      Path lockFile = target.resolveSibling(FILE + ".lock");
      try (FileChannel lockChannel =
              FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
          FileLock lock = lockChannel.lock()) {
        if (!isValid(target)) {
          Path python = huggingFaceCached(ref);
          if (python != null) {
            target = python; // already on this machine: no download
          } else if (offline) {
            throw new WeightFetchException(
                spec
                    + ": not in the cache, and HF_HUB_OFFLINE is set; unset it to download, or"
                    + " give a local file's path");
          } else {
            download(spec, uri, target, progress);
          }
        }
      }
      if (out != null) {
        AtomicFiles.copy(target, out);
        return out;
      }
      return target;
    } catch (IOException e) {
      throw new WeightFetchException(spec + ": " + describe(e, uri), e);
    }
  }

  private static boolean isValid(Path file) {
    if (!Files.isRegularFile(file)) {
      return false;
    }
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      return true;
    } catch (SafetensorsException e) {
      return false;
    }
  }

  private void download(String spec, URI uri, Path target, Progress progress) throws IOException {
    Path part = target.resolveSibling(FILE + ".part");
    IOException last = null;
    for (int attempt = 1; attempt <= TRIES; attempt++) {
      try {
        transfer(spec, uri, part, progress);
        try (SafetensorsFile f = SafetensorsFile.open(part)) {
          // validated: the server sent a whole, well-formed file
        } catch (SafetensorsException e) {
          Files.deleteIfExists(part);
          throw new WeightFetchException(
              spec + ": the downloaded file is not valid safetensors (" + e.getMessage() + ")");
        }
        AtomicFiles.commit(part, target);
        return;
      } catch (TruncatedException | java.net.http.HttpTimeoutException e) {
        last = e; // keep the .part and resume
      } catch (IOException e) {
        if (isOffline(e) || isProxyRefusal(e)) {
          throw e; // trying again would not change the answer
        }
        last = e;
      }
    }
    throw new WeightFetchException(
        spec
            + ": download failed after "
            + TRIES
            + " tries ("
            + describe(last, uri)
            + "); run the command again to resume",
        last);
  }

  /** A body shorter than announced. */
  private static final class TruncatedException extends IOException {
    private static final long serialVersionUID = 1L;

    TruncatedException(String message) {
      super(message);
    }
  }

  private void transfer(String spec, URI uri, Path part, Progress progress) throws IOException {
    long have = Files.isRegularFile(part) ? Files.size(part) : 0;
    HttpRequest.Builder req = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(5)).GET();
    req.header("User-Agent", "fingerspell");
    if (token != null) {
      req.header("Authorization", "Bearer " + token);
    }
    if (have > 0) {
      req.header("Range", "bytes=" + have + "-");
    }
    String proxyLogin = proxies == null ? null : proxies.authorization(uri);
    if (proxyLogin != null) {
      req.header("Proxy-Authorization", proxyLogin);
    }
    HttpResponse<InputStream> resp;
    try {
      resp = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    int status = resp.statusCode();
    try (InputStream body = resp.body()) {
      if (status == 416 && have > 0) { // our partial file is already complete, or stale
        Files.deleteIfExists(part);
        throw new TruncatedException("the server refused to resume; starting over");
      }
      if (status == 404) {
        throw new WeightFetchException(
            spec + ": not found on the hub (HTTP 404 from " + uri + "); check the repository name");
      }
      if (status == 407) {
        throw new WeightFetchException(spec + ": " + proxyWantsCredentials(uri));
      }
      if (status == 401 || status == 403) {
        throw new WeightFetchException(
            spec
                + ": access denied (HTTP "
                + status
                + "); set HF_TOKEN for a gated or private repository");
      }
      if (status != 200 && status != 206) {
        throw new IOException("HTTP " + status + " from " + uri);
      }
      boolean append = status == 206;
      long announced = resp.headers().firstValueAsLong("Content-Length").orElse(-1);
      long total = announced < 0 ? -1 : (append ? have + announced : announced);
      progress.start(spec, total, append ? have : 0);
      long got = append ? have : 0;
      try (OutputStream os =
          Files.newOutputStream(
              part,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
        byte[] buf = new byte[1 << 16];
        int n;
        try {
          while ((n = body.read(buf)) >= 0) {
            os.write(buf, 0, n);
            got += n;
            progress.advance(n);
          }
        } catch (IOException e) {
          throw new TruncatedException(
              "connection broke after " + got + (total >= 0 ? " of " + total : "") + " bytes");
        }
      } finally {
        progress.finish();
      }
      if (total >= 0 && got != total) {
        throw new TruncatedException("received " + got + " of " + total + " bytes");
      }
    }
  }

  private static boolean isOffline(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ConnectException
          || t instanceof UnknownHostException
          || t instanceof HttpConnectTimeoutException) {
        return true;
      }
    }
    return false;
  }

  private String describe(Throwable e, URI uri) {
    if (e == null) {
      return "unknown error";
    }
    String proxy = proxyName(uri);
    if (isOffline(e)) {
      return "cannot reach "
          + uri.getHost()
          + (proxy == null ? " (offline?)" : " through the proxy " + proxy)
          + "; download "
          + uri
          + " elsewhere and pass the file's path, or use model.weights=none";
    }
    String m = e.getMessage();
    if (proxy != null && isProxyRefusal(e)) {
      return proxyWantsCredentials(uri);
    }
    return m == null ? e.getClass().getSimpleName().toLowerCase(Locale.ROOT) : m;
  }

  /**
   * The JDK's client refusing to go on with a proxy: a tunnel it answered 407, or a login it
   * refused as often as the client tries one ({@code jdk.httpclient.auth.retrylimit}).
   */
  private static boolean isProxyRefusal(Throwable e) {
    String m = e.getMessage();
    return m != null && (m.contains("407") || m.startsWith("too many authentication attempts"));
  }

  /** The proxy that carries {@code uri}, as host:port, or null when none does. */
  private String proxyName(URI uri) {
    java.net.InetSocketAddress proxy = proxies == null ? null : proxies.proxyFor(uri);
    return proxy == null ? null : proxy.getHostString() + ":" + proxy.getPort();
  }

  /** What to do about a proxy's 407: give it a login, or check the one it refused. */
  private String proxyWantsCredentials(URI uri) {
    EnvironmentProxies.Entry proxy = proxies == null ? null : proxies.entryFor(uri);
    String name = proxyName(uri);
    String tunnelSchemes = System.getProperty(EnvironmentProxies.TUNNEL_SCHEMES, "");
    if (proxy != null
        && proxy.login() != null
        && "https".equalsIgnoreCase(uri.getScheme())
        && tunnelSchemes.toLowerCase(Locale.ROOT).contains("basic")) {
      return "the proxy "
          + name
          + " asks for the password in "
          + proxy.variable()
          + ", which this JVM may not send through a tunnel (-D"
          + EnvironmentProxies.TUNNEL_SCHEMES
          + "="
          + tunnelSchemes
          + "): take that option away";
    }
    if (proxy != null && proxy.login() != null) {
      return "the proxy "
          + name
          + " refused the user name and password in "
          + proxy.variable()
          + " (HTTP 407); check them (write @ : / % in them as %40 %3A %2F %25)";
    }
    return "the proxy "
        + (name == null ? "" : name + " ")
        + "asks for a user name and password (HTTP 407); give them in its address, as for pip: "
        + (proxy == null ? "https_proxy" : proxy.variable())
        + "=http://USER:PASSWORD@"
        + (name == null ? "HOST:PORT" : name);
  }
}
