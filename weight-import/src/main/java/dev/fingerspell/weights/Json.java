package dev.fingerspell.weights;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict JSON reader for safetensors headers, so that weight-import needs nothing beyond the JDK.
 * Objects become {@link LinkedHashMap} (a repeated key is an error), arrays {@link List}, integers
 * {@link BigInteger}, other numbers {@link BigDecimal}, and true/false/null as in Java. Also writes
 * the compact form the safetensors writer emits.
 */
public final class Json {
  private final String s;
  private int i;

  /** Thrown for any malformed input; the message says where. */
  public static final class JsonException extends Exception {
    private static final long serialVersionUID = 1L;

    JsonException(String message) {
      super(message);
    }
  }

  private Json(String s) {
    this.s = s;
  }

  /** Parses one JSON value surrounded by optional whitespace. */
  public static Object parse(String text) throws JsonException {
    Json p = new Json(text);
    p.skipWs();
    Object v = p.value(0);
    p.skipWs();
    if (p.i != text.length()) {
      throw p.error("trailing characters");
    }
    return v;
  }

  private JsonException error(String what) {
    return new JsonException(what + " at character " + i);
  }

  private void skipWs() {
    while (i < s.length()) {
      char c = s.charAt(i);
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        i++;
      } else {
        break;
      }
    }
  }

  private Object value(int depth) throws JsonException {
    if (depth > 64) {
      throw error("nesting too deep");
    }
    if (i >= s.length()) {
      throw error("unexpected end");
    }
    char c = s.charAt(i);
    switch (c) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"':
        return string();
      case 't':
        return literal("true", Boolean.TRUE);
      case 'f':
        return literal("false", Boolean.FALSE);
      case 'n':
        return literal("null", null);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return number();
        }
        throw error("unexpected '" + c + "'");
    }
  }

  private Object literal(String word, Object v) throws JsonException {
    if (!s.startsWith(word, i)) {
      throw error("bad literal");
    }
    i += word.length();
    return v;
  }

  private Map<String, Object> object(int depth) throws JsonException {
    Map<String, Object> m = new LinkedHashMap<>();
    i++; // {
    skipWs();
    if (i < s.length() && s.charAt(i) == '}') {
      i++;
      return m;
    }
    while (true) {
      skipWs();
      if (i >= s.length() || s.charAt(i) != '"') {
        throw error("expected a key");
      }
      String key = string();
      skipWs();
      expect(':');
      skipWs();
      Object v = value(depth + 1);
      if (m.containsKey(key)) {
        throw new JsonException("duplicate key \"" + key + "\"");
      }
      m.put(key, v);
      skipWs();
      if (i < s.length() && s.charAt(i) == ',') {
        i++;
        continue;
      }
      expect('}');
      return m;
    }
  }

  private List<Object> array(int depth) throws JsonException {
    List<Object> l = new ArrayList<>();
    i++; // [
    skipWs();
    if (i < s.length() && s.charAt(i) == ']') {
      i++;
      return l;
    }
    while (true) {
      skipWs();
      l.add(value(depth + 1));
      skipWs();
      if (i < s.length() && s.charAt(i) == ',') {
        i++;
        continue;
      }
      expect(']');
      return l;
    }
  }

  private void expect(char c) throws JsonException {
    if (i >= s.length() || s.charAt(i) != c) {
      throw error("expected '" + c + "'");
    }
    i++;
  }

  private String string() throws JsonException {
    i++; // opening quote
    StringBuilder b = new StringBuilder();
    while (true) {
      if (i >= s.length()) {
        throw error("unterminated string");
      }
      char c = s.charAt(i++);
      if (c == '"') {
        return b.toString();
      }
      if (c < 0x20) {
        throw error("control character in string");
      }
      if (c != '\\') {
        b.append(c);
        continue;
      }
      if (i >= s.length()) {
        throw error("unterminated escape");
      }
      char e = s.charAt(i++);
      switch (e) {
        case '"', '\\', '/' -> b.append(e);
        case 'b' -> b.append('\b');
        case 'f' -> b.append('\f');
        case 'n' -> b.append('\n');
        case 'r' -> b.append('\r');
        case 't' -> b.append('\t');
        case 'u' -> {
          int code = 0;
          for (int k = 0; k < 4; k++, i++) { // exactly four hex digits, no sign
            int d = i < s.length() ? Character.digit(s.charAt(i), 16) : -1;
            if (d < 0 || s.charAt(i) > 'f') {
              throw error("bad \\u escape");
            }
            code = code * 16 + d;
          }
          b.append((char) code);
        }
        default -> throw error("bad escape");
      }
    }
  }

  /** JSON's digits are ASCII only; {@link Character#isDigit} would take any script's. */
  private boolean digitAt(int at) {
    return at < s.length() && s.charAt(at) >= '0' && s.charAt(at) <= '9';
  }

  private Object number() throws JsonException {
    int start = i;
    if (s.charAt(i) == '-') {
      i++;
    }
    int digits = i;
    while (digitAt(i)) {
      i++;
    }
    if (i == digits || (s.charAt(digits) == '0' && i - digits > 1)) {
      throw error("bad number");
    }
    boolean integral = true;
    if (i < s.length() && s.charAt(i) == '.') {
      integral = false;
      i++;
      int frac = i;
      while (digitAt(i)) {
        i++;
      }
      if (i == frac) {
        throw error("bad number");
      }
    }
    if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
      integral = false;
      i++;
      if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
        i++;
      }
      int exp = i;
      while (digitAt(i)) {
        i++;
      }
      if (i == exp) {
        throw error("bad number");
      }
    }
    String text = s.substring(start, i);
    if (text.length() > 400) {
      throw error("number too long");
    }
    return integral ? new BigInteger(text) : new BigDecimal(text);
  }

  /**
   * The compact JSON text of a value built from maps (string keys), lists, strings, numbers,
   * booleans and null.
   */
  public static String write(Object value) {
    StringBuilder b = new StringBuilder();
    write(b, value);
    return b.toString();
  }

  private static void write(StringBuilder b, Object v) {
    if (v == null) {
      b.append("null");
    } else if (v instanceof String str) {
      writeString(b, str);
    } else if (v instanceof Float || v instanceof Double) {
      double d = ((Number) v).doubleValue();
      if (!Double.isFinite(d)) {
        throw new IllegalArgumentException("JSON has no " + d);
      }
      b.append(v instanceof Float ? Float.toString((Float) v) : Double.toString(d));
    } else if (v instanceof Number || v instanceof Boolean) {
      b.append(v);
    } else if (v instanceof Map<?, ?> m) {
      b.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        b.append(first ? "" : ",");
        first = false;
        writeString(b, String.valueOf(e.getKey()));
        b.append(':');
        write(b, e.getValue());
      }
      b.append('}');
    } else if (v instanceof List<?> l) {
      b.append('[');
      for (int k = 0; k < l.size(); k++) {
        b.append(k > 0 ? "," : "");
        write(b, l.get(k));
      }
      b.append(']');
    } else {
      throw new IllegalArgumentException(
          "cannot write " + v.getClass().getSimpleName() + " as JSON");
    }
  }

  /** Appends {@code text} as a JSON string literal. */
  static void writeString(StringBuilder out, String text) {
    out.append('"');
    for (int k = 0; k < text.length(); k++) {
      char c = text.charAt(k);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    out.append('"');
  }
}
