package dev.fingerspell.train.serve;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A {@code multipart/form-data} body (RFC 7578) split into its parts, as a browser's form, {@code
 * curl -F file=@hand.jpg} and Python's {@code requests.post(url, files=...)} send them. The body is
 * already in memory (its size capped by the server), so the parts are copies of its ranges.
 */
final class Multipart {
  private Multipart() {}

  /** A malformed body or content type: the client's mistake, answered with 400. */
  static final class MalformedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    MalformedException(String message) {
      super(message);
    }
  }

  /**
   * One part of the form.
   *
   * @param name the form field's name
   * @param filename the uploaded file's name, or null for a plain field
   * @param contentType the part's {@code Content-Type}, or null
   * @param data its bytes
   */
  record Part(String name, String filename, String contentType, byte[] data) {}

  private static final byte[] CRLF = {'\r', '\n'};
  private static final byte[] HEADERS_END = {'\r', '\n', '\r', '\n'};

  /** The boundary of a {@code multipart/form-data} content type, or null for another type. */
  static String boundary(String contentType) {
    if (contentType == null) {
      return null;
    }
    String[] fields = contentType.split(";");
    if (!fields[0].strip().equalsIgnoreCase("multipart/form-data")) {
      return null;
    }
    String boundary = parameters(contentType).get("boundary");
    if (boundary == null || boundary.isEmpty() || boundary.length() > 70) {
      throw new MalformedException("multipart/form-data without a valid boundary parameter");
    }
    return boundary;
  }

  /** The parts of {@code body}, delimited by {@code boundary}, in order. */
  static List<Part> parse(byte[] body, String boundary) {
    byte[] dash = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
    byte[] delimiter = concat(CRLF, dash); // every delimiter but a first one at the very start
    int at = startsWith(body, 0, dash) ? 0 : indexOf(body, delimiter, 0);
    if (at < 0) {
      throw new MalformedException("multipart body without its boundary");
    }
    at += at == 0 && startsWith(body, 0, dash) ? dash.length : delimiter.length;
    List<Part> parts = new ArrayList<>();
    while (true) {
      if (startsWith(body, at, new byte[] {'-', '-'})) {
        return parts; // the close delimiter; what follows is the epilogue
      }
      int lineEnd = indexOf(body, CRLF, at); // after a delimiter: transport padding, then CRLF
      if (lineEnd < 0) {
        throw new MalformedException("multipart body cut short");
      }
      int headersStart = lineEnd + CRLF.length;
      int headersEnd =
          startsWith(body, headersStart, CRLF) ? headersStart : indexOf(body, HEADERS_END, lineEnd);
      if (headersEnd < 0) {
        throw new MalformedException("multipart body cut short in a part's headers");
      }
      int contentStart = headersEnd + (headersEnd == headersStart ? 2 : HEADERS_END.length);
      int next = indexOf(body, delimiter, contentStart);
      if (next < 0) {
        throw new MalformedException("multipart body cut short: no closing boundary");
      }
      String headers =
          new String(body, headersStart, headersEnd - headersStart, StandardCharsets.UTF_8);
      parts.add(part(headers, Arrays.copyOfRange(body, contentStart, next)));
      at = next + delimiter.length;
    }
  }

  private static Part part(String headers, byte[] data) {
    String disposition = null;
    String type = null;
    for (String line : headers.split("\r\n")) {
      int colon = line.indexOf(':');
      if (colon < 0) {
        continue;
      }
      String name = line.substring(0, colon).strip().toLowerCase(Locale.ROOT);
      String value = line.substring(colon + 1).strip();
      if (name.equals("content-disposition")) {
        disposition = value;
      } else if (name.equals("content-type")) {
        type = value;
      }
    }
    if (disposition == null || !disposition.toLowerCase(Locale.ROOT).startsWith("form-data")) {
      throw new MalformedException("a multipart part without Content-Disposition: form-data");
    }
    Map<String, String> params = parameters(disposition);
    if (!params.containsKey("name")) {
      throw new MalformedException("a multipart part without a field name");
    }
    String filename = params.get("filename*") != null ? extended(params.get("filename*")) : null;
    return new Part(
        params.get("name"), filename != null ? filename : params.get("filename"), type, data);
  }

  /**
   * The {@code key=value} parameters after a header's first {@code ;}, keys in lower case, quoted
   * values unquoted ({@code \"} and {@code \\} escapes undone).
   */
  static Map<String, String> parameters(String header) {
    Map<String, String> out = new LinkedHashMap<>();
    int i = header.indexOf(';');
    while (i >= 0 && i < header.length()) {
      i++; // past ';'
      int eq = header.indexOf('=', i);
      if (eq < 0) {
        break;
      }
      String key = header.substring(i, eq).strip().toLowerCase(Locale.ROOT);
      int v = eq + 1;
      while (v < header.length() && header.charAt(v) == ' ') {
        v++;
      }
      StringBuilder value = new StringBuilder();
      if (v < header.length() && header.charAt(v) == '"') {
        v++;
        while (v < header.length() && header.charAt(v) != '"') {
          char c = header.charAt(v++);
          if (c == '\\' && v < header.length()) {
            c = header.charAt(v++);
          }
          value.append(c);
        }
        i = header.indexOf(';', v);
      } else {
        int end = header.indexOf(';', v);
        value.append(header, v, end < 0 ? header.length() : end);
        i = end;
      }
      out.putIfAbsent(key, value.toString().strip());
    }
    return out;
  }

  /** An RFC 5987 value ({@code UTF-8''hand%20%C3%A9.jpg}) decoded, or null when not one. */
  private static String extended(String value) {
    int quote = value.indexOf("''");
    if (quote < 0 || !value.substring(0, quote).equalsIgnoreCase("UTF-8")) {
      return null;
    }
    try {
      return java.net.URLDecoder.decode(
          value.substring(quote + 2).replace("+", "%2B"), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  private static boolean startsWith(byte[] a, int from, byte[] prefix) {
    return from + prefix.length <= a.length
        && Arrays.equals(a, from, from + prefix.length, prefix, 0, prefix.length);
  }

  private static int indexOf(byte[] a, byte[] needle, int from) {
    byte first = needle[0];
    for (int i = Math.max(from, 0), last = a.length - needle.length; i <= last; i++) {
      if (a[i] == first && startsWith(a, i, needle)) {
        return i;
      }
    }
    return -1;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
