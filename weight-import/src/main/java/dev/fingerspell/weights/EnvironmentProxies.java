package dev.fingerspell.weights;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The proxies the environment names, read as {@code huggingface_hub} (through {@code requests}) and
 * curl read them; Java's HTTP client looks only at system properties, so behind a proxy that {@code
 * pip} and {@code huggingface-cli} go through, a download would not. {@code https_proxy} serves
 * https addresses and {@code http_proxy} http ones ({@code all_proxy} either), lower case first,
 * then upper; {@code no_proxy} lists hosts to reach directly: {@code *}, a host, or a domain
 * ({@code example.com} and {@code .example.com} both cover its subdomains). A proxy is {@code
 * host:port} or {@code http://host:port} (port 80 when absent); credentials in it are not sent.
 */
final class EnvironmentProxies extends ProxySelector {
  private final InetSocketAddress https;
  private final InetSocketAddress http;
  private final List<String> direct;

  private EnvironmentProxies(InetSocketAddress https, InetSocketAddress http, List<String> direct) {
    this.https = https;
    this.http = http;
    this.direct = direct;
  }

  /** The proxies {@code env} names, or null when it names none. */
  static EnvironmentProxies of(Map<String, String> env) {
    InetSocketAddress all = address(variable(env, "all_proxy"));
    InetSocketAddress https = address(variable(env, "https_proxy"));
    InetSocketAddress http = address(variable(env, "http_proxy"));
    if (https == null && http == null && all == null) {
      return null;
    }
    String no = variable(env, "no_proxy");
    List<String> direct =
        no == null
            ? List.of()
            : java.util.Arrays.stream(no.split(","))
                .map(s -> s.strip().toLowerCase(Locale.ROOT))
                .filter(s -> !s.isEmpty())
                .toList();
    return new EnvironmentProxies(https != null ? https : all, http != null ? http : all, direct);
  }

  private static String variable(Map<String, String> env, String lower) {
    String v = env.get(lower);
    if (v == null || v.isBlank()) {
      v = env.get(lower.toUpperCase(Locale.ROOT));
    }
    return v == null || v.isBlank() ? null : v.strip();
  }

  private static InetSocketAddress address(String proxy) {
    if (proxy == null) {
      return null;
    }
    URI uri;
    try {
      uri = URI.create(proxy.contains("://") ? proxy : "http://" + proxy);
    } catch (IllegalArgumentException e) {
      uri = null;
    }
    if (uri == null || uri.getHost() == null) {
      throw new WeightFetchException("proxy '" + proxy + "' is not host:port or http://host:port");
    }
    return InetSocketAddress.createUnresolved(
        uri.getHost(), uri.getPort() < 0 ? 80 : uri.getPort());
  }

  /** The proxy for {@code uri}, or null to go directly. */
  InetSocketAddress proxyFor(URI uri) {
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

  @Override
  public List<Proxy> select(URI uri) {
    InetSocketAddress proxy = proxyFor(uri);
    return List.of(proxy == null ? Proxy.NO_PROXY : new Proxy(Proxy.Type.HTTP, proxy));
  }

  @Override
  public void connectFailed(URI uri, SocketAddress proxy, IOException e) {}
}
