package dev.fingerspell.weights;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A company's proxy on loopback: forwards plain http requests (the whole address in the request
 * line), tunnels https ({@code CONNECT}), and, given a login, answers 407 with a Basic challenge
 * until a request carries it. One request per connection.
 */
final class LoopbackProxy implements AutoCloseable {
  /** Requests forwarded and tunnels opened. */
  final AtomicInteger relayed = new AtomicInteger();

  /** The 407s sent. */
  final AtomicInteger refused = new AtomicInteger();

  /** The request lines received, in order. */
  final List<String> requests = Collections.synchronizedList(new ArrayList<>());

  private final ServerSocket socket;
  private final String login;

  /** A proxy that wants {@code user}/{@code password}; both null: one that wants nothing. */
  LoopbackProxy(String user, String password) throws IOException {
    login =
        user == null
            ? null
            : "Basic "
                + Base64.getEncoder()
                    .encodeToString((user + ":" + password).getBytes(StandardCharsets.ISO_8859_1));
    socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread accept = new Thread(this::serve, "loopback-proxy");
    accept.setDaemon(true);
    accept.start();
  }

  /** host:port. */
  String address() {
    return "127.0.0.1:" + socket.getLocalPort();
  }

  private void serve() {
    while (!socket.isClosed()) {
      try {
        Socket client = socket.accept();
        Thread t = new Thread(() -> handle(client), "loopback-proxy-client");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void handle(Socket client) {
    try (client) {
      InputStream in = client.getInputStream();
      OutputStream out = client.getOutputStream();
      List<String> head = head(in);
      if (head.isEmpty()) {
        return;
      }
      String line = head.get(0);
      requests.add(line);
      String given = null;
      StringBuilder forwarded = new StringBuilder();
      for (String h : head.subList(1, head.size())) {
        String name = h.substring(0, Math.max(0, h.indexOf(':'))).toLowerCase(Locale.ROOT);
        if (name.equals("proxy-authorization")) {
          given = h.substring(h.indexOf(':') + 1).strip();
        } else if (!List.of("connection", "upgrade", "http2-settings").contains(name)) {
          forwarded.append(h).append("\r\n");
        }
      }
      if (login != null && !login.equals(given)) {
        refused.incrementAndGet();
        out.write(
            ("HTTP/1.1 407 Proxy Authentication Required\r\n"
                    + "Proxy-Authenticate: Basic realm=\"corp\"\r\n"
                    + "Content-Length: 0\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
        return;
      }
      String[] parts = line.split(" ");
      relayed.incrementAndGet();
      if (parts[0].equals("CONNECT")) {
        String[] hostPort = parts[1].split(":");
        try (Socket target = new Socket(hostPort[0], Integer.parseInt(hostPort[1]))) {
          out.write("HTTP/1.1 200 Connection established\r\n\r\n".getBytes(StandardCharsets.UTF_8));
          out.flush();
          Thread up = new Thread(() -> pipe(in, target));
          up.setDaemon(true);
          up.start();
          target.getInputStream().transferTo(out);
        }
        return;
      }
      URI uri = URI.create(parts[1]);
      try (Socket target = new Socket(uri.getHost(), uri.getPort())) {
        target
            .getOutputStream()
            .write(
                (parts[0] + " " + uri.getRawPath() + " HTTP/1.1\r\n" + forwarded)
                    .concat("Connection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
        target.getInputStream().transferTo(out);
      }
    } catch (IOException e) {
      // the client or the target hung up: nothing to relay
    }
  }

  private static void pipe(InputStream from, Socket to) {
    try {
      from.transferTo(to.getOutputStream());
      to.shutdownOutput();
    } catch (IOException e) {
      // either side closed
    }
  }

  /** The request line and headers, up to the empty line. */
  private static List<String> head(InputStream in) throws IOException {
    List<String> lines = new ArrayList<>();
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int b;
    while ((b = in.read()) >= 0) {
      if (b == '\n') {
        String s = line.toString(StandardCharsets.ISO_8859_1).stripTrailing();
        if (s.isEmpty()) {
          break;
        }
        lines.add(s);
        line.reset();
      } else {
        line.write(b);
      }
    }
    return lines;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
