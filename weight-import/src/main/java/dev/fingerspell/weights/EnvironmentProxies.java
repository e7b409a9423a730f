package dev.fingerspell.weights;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.PasswordAuthentication;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The proxies the environment names, read as {@code huggingface_hub} (through {@code requests}) and
 * curl read them; Java's HTTP client looks only at system properties, so behind a proxy that {@code
 * pip} and {@code huggingface-cli} go through, a download would not. {@code https_proxy} serves
 * https addresses and {@code http_proxy} http ones ({@code all_proxy} either), lower case first,
 * then upper; {@code no_proxy} lists hosts to reach directly: {@code *}, a host, or a domain
 * ({@code example.com} and {@code .example.com} both cover its subdomains). A proxy is {@code
 * host:port} or {@code http://host:port} (port 80 when absent), with {@code USER:PASSWORD@} before
 * the host when it asks for them (percent-encoded, as for pip): they go to that proxy only, with
 * HTTP Basic authentication.
 */
final class EnvironmentProxies extends ProxySelector {
  /**
   * The JDK refuses Basic authentication to a proxy that tunnels https unless this property says
   * otherwise; it is read once, when the JVM's first HTTP client is made.
   */
  static final String TUNNEL_SCHEMES = "jdk.http.auth.tunneling.disabledSchemes";

  /** A proxy: where it is, the login its address carried (or null), the variable naming it. */
  record Entry(InetSocketAddress address, PasswordAuthentication login, String variable) {}

  private final Entry https;
  private final Entry http;
  private final List<String> direct;

  private EnvironmentProxies(Entry https, Entry http, List<String> direct) {
    this.https = https;
    this.http = http;
    this.direct = direct;
  }

  /** The proxies {@code env} names, or null when it names none. */
  static EnvironmentProxies of(Map<String, String> env) {
    Entry all = entry(env, "all_proxy");
    Entry https = entry(env, "https_proxy");
    Entry http = entry(env, "http_proxy");
    if (https == null && http == null && all == null) {
      return null;
    }
    String noProxy = variable(env, "no_proxy");
    List<String> direct =
        noProxy == null
            ? List.of()
            : Arrays.stream(env.get(noProxy).split(","))
                .map(s -> s.strip().toLowerCase(Locale.ROOT))
                .filter(s -> !s.isEmpty())
                .toList();
    EnvironmentProxies proxies =
        new EnvironmentProxies(https != null ? https : all, http != null ? http : all, direct);
    boolean logins =
        Stream.of(proxies.https, proxies.http).anyMatch(e -> e != null && e.login() != null);
    if (logins && System.getProperty(TUNNEL_SCHEMES) == null) {
      // as curl and requests do: the user put the password in the address for this proxy
      System.setProperty(TUNNEL_SCHEMES, "");
    }
    return proxies;
  }

  /** The name under which {@code env} holds {@code lower} (lower case first), or null. */
  private static String variable(Map<String, String> env, String lower) {
    for (String name : List.of(lower, lower.toUpperCase(Locale.ROOT))) {
      String v = env.get(name);
      if (v != null && !v.isBlank()) {
        return name;
      }
    }
    return null;
  }

  private static Entry entry(Map<String, String> env, String lower) {
    String variable = variable(env, lower);
    if (variable == null) {
      return null;
    }
    String proxy = env.get(variable).strip();
    URI uri;
    try {
      uri = URI.create(proxy.contains("://") ? proxy : "http://" + proxy);
    } catch (IllegalArgumentException e) {
      uri = null;
    }
    if (uri == null || uri.getHost() == null) {
      throw new WeightFetchException(
          variable
              + "='"
              + withoutPassword(proxy)
              + "' is not host:port or http://[USER:PASSWORD@]host:port"
              + (proxy.indexOf('@') != proxy.lastIndexOf('@')
                  ? " (write an @ in the user name or password as %40)"
                  : ""));
    }
    InetSocketAddress address =
        InetSocketAddress.createUnresolved(uri.getHost(), uri.getPort() < 0 ? 80 : uri.getPort());
    String userInfo = uri.getRawUserInfo();
    PasswordAuthentication login = null;
    if (userInfo != null) {
      int colon = userInfo.indexOf(':');
      String user = colon < 0 ? userInfo : userInfo.substring(0, colon);
      String password = colon < 0 ? "" : userInfo.substring(colon + 1);
      login = new PasswordAuthentication(unquote(user), unquote(password).toCharArray());
    }
    return new Entry(address, login, variable);
  }

  /** {@code proxy} with what may be a password replaced by {@code ***}, for messages. */
  private static String withoutPassword(String proxy) {
    int at = proxy.lastIndexOf('@');
    if (at < 0) {
      return proxy;
    }
    int scheme = proxy.indexOf("://");
    int start = scheme >= 0 && scheme < at ? scheme + 3 : 0;
    return proxy.substring(0, start) + "***" + proxy.substring(at);
  }

  /** Percent-decoding as Python's {@code unquote}: %XX bytes as UTF-8, a {@code +} kept. */
  private static String unquote(String s) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '%' && i + 2 < s.length() && isHex(s, i + 1)) {
        bytes.write(HexFormat.fromHexDigits(s, i + 1, i + 3));
        i += 2;
      } else {
        bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
      }
    }
    return bytes.toString(StandardCharsets.UTF_8);
  }

  private static boolean isHex(String s, int at) {
    return HexFormat.isHexDigit(s.charAt(at)) && HexFormat.isHexDigit(s.charAt(at + 1));
  }

  /** The proxy for {@code uri}, or null to go directly. */
  Entry entryFor(URI uri) {
    String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
    for (String d : direct) {
      String domain = d.startsWith(".") ? d.substring(1) : d;
      int colon = domain.lastIndexOf(':');
      if (colon > 0 && domain.indexOf(']') < colon) {
        domain = domain.substring(0, colon); // a port in the entry: the host still decides
      }
      if (d.equals("*") || host.equals(domain) || host.endsWith("." + domain)) {
        return null;
      }
    }
    return "https".equalsIgnoreCase(uri.getScheme()) ? https : http;
  }

  /** The proxy's address for {@code uri}, or null to go directly. */
  InetSocketAddress proxyFor(URI uri) {
    Entry e = entryFor(uri);
    return e == null ? null : e.address();
  }

  @Override
  public List<Proxy> select(URI uri) {
    InetSocketAddress proxy = proxyFor(uri);
    return List.of(proxy == null ? Proxy.NO_PROXY : new Proxy(Proxy.Type.HTTP, proxy));
  }

  @Override
  public void connectFailed(URI uri, SocketAddress proxy, IOException e) {}

  /**
   * The {@code Proxy-Authorization} header for {@code uri}'s proxy when its address carries a
   * login, else null. It is sent with every request, as curl and requests send it: the JDK's client
   * passes it to the proxy only (in the CONNECT of an https tunnel, never inside it) and drops it
   * from requests that go directly, so it never reaches the hub.
   */
  String authorization(URI uri) {
    Entry e = entryFor(uri);
    if (e == null || e.login() == null) {
      return null;
    }
    String login = e.login().getUserName() + ":" + new String(e.login().getPassword());
    // requests encodes a login as Latin-1; what Latin-1 cannot hold goes as UTF-8, as curl sends it
    var latin1 = StandardCharsets.ISO_8859_1.newEncoder();
    byte[] bytes =
        latin1.canEncode(login)
            ? login.getBytes(StandardCharsets.ISO_8859_1)
            : login.getBytes(StandardCharsets.UTF_8);
    return "Basic " + Base64.getEncoder().encodeToString(bytes);
  }
}
