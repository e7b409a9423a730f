package dev.fingerspell.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.weights.Json.JsonException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The JSON reader that parses every safetensors header a user hands us, and its writer. */
class JsonTest {
  /** A header as safetensors files carry it: tensors by name, then free-form string metadata. */
  private static final String HEADER =
      "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[64,3,7,7],\"data_offsets\":[0,37632]},"
          + "\"bn1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[37632,37640]},"
          + "\"__metadata__\":{\"format\":\"pt\",\"labels\":\"[\\\"A\\\",\\\"del\\\"]\","
          + "\"mean\":\"[0.485,0.456,0.406]\",\"note\":\"caf\\u00e9 \\/ \\t\\n\"}}";

  @Test
  void readsAHeaderWithItsTypesAndOrder() throws JsonException {
    Map<?, ?> root = assertInstanceOf(Map.class, Json.parse(HEADER));
    assertEquals(
        List.of("conv1.weight", "bn1.num_batches_tracked", "__metadata__"),
        new ArrayList<>(root.keySet()));
    Map<?, ?> conv = (Map<?, ?>) root.get("conv1.weight");
    assertEquals(
        List.of(
            BigInteger.valueOf(64),
            BigInteger.valueOf(3),
            BigInteger.valueOf(7),
            BigInteger.valueOf(7)),
        conv.get("shape"));
    assertEquals(List.of(), ((Map<?, ?>) root.get("bn1.num_batches_tracked")).get("shape"));
    Map<?, ?> meta = (Map<?, ?>) root.get("__metadata__");
    assertEquals("[\"A\",\"del\"]", meta.get("labels"));
    assertEquals("café / \t\n", meta.get("note"));
    assertEquals(
        List.of(new BigDecimal("0.485"), new BigDecimal("0.456"), new BigDecimal("0.406")),
        Json.parse((String) meta.get("mean")));
  }

  @Test
  void readsEveryKindOfValue() throws JsonException {
    assertEquals(Boolean.TRUE, Json.parse(" true "));
    assertEquals(Boolean.FALSE, Json.parse("false"));
    assertNull(Json.parse("null"));
    assertEquals(BigInteger.valueOf(-12), Json.parse("-12"));
    assertEquals(BigInteger.ZERO, Json.parse("0"));
    assertEquals(new BigDecimal("-0.5e-3"), Json.parse("-0.5e-3"));
    assertEquals(new BigDecimal("1E+2"), Json.parse("1E+2"));
    assertEquals(
        new BigInteger("123456789012345678901234567890"),
        Json.parse("123456789012345678901234567890"));
    assertEquals(
        "\"\\/\b\f\n\r\t\u0001\uffff", Json.parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\uFFFF\""));
    assertEquals(List.of(List.of(), Map.of()), Json.parse("[ [ ] , { } ]"));
  }

  /**
   * What the writer emits the reader reads back unchanged: every character below 0x80 and some
   * beyond, in keys and values, and the numbers and literals a model file's metadata holds.
   */
  @Test
  void writtenTextReadsBackTheSame() throws JsonException {
    StringBuilder all = new StringBuilder();
    for (char c = 0; c < 0x80; c++) {
      all.append(c);
    }
    all.append("é€\ud83d\udc4b\u2028");
    Map<String, Object> value = new LinkedHashMap<>();
    value.put(all.toString(), List.of(all.toString(), "", "\\u0041"));
    value.put("n", List.of(0, -7, Long.MAX_VALUE, true, false));
    value.put("nothing", null);
    Object back = Json.parse(Json.write(value));
    Map<String, Object> expected = new LinkedHashMap<>();
    expected.put(all.toString(), List.of(all.toString(), "", "\\u0041"));
    expected.put(
        "n",
        List.of(
            BigInteger.ZERO,
            BigInteger.valueOf(-7),
            BigInteger.valueOf(Long.MAX_VALUE),
            true,
            false));
    expected.put("nothing", null);
    assertEquals(expected, back);
    assertEquals("[0.485,1.0E-6]", Json.write(List.of(0.485f, 1e-6)));
    assertEquals(
        List.of(new BigDecimal("0.485"), new BigDecimal("1.0E-6")),
        Json.parse(Json.write(List.of(0.485f, 1e-6))));
    assertThrows(IllegalArgumentException.class, () -> Json.write(List.of(Float.NaN)));
    assertThrows(IllegalArgumentException.class, () -> Json.write(new Object()));
  }

  /** Not JSON, each for its own reason: refused with where, never read as something else. */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "   ",
        "{",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":1",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":1}}",
        "{\"a\":1,\"a\":2}",
        "[1,]",
        "[1 2]",
        "[",
        "]",
        "tru",
        "nul",
        "True",
        "01",
        "-",
        "-01",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "0x10",
        "NaN",
        "Infinity",
        "\u0663", // ARABIC-INDIC DIGIT THREE: a digit to Character.isDigit, not to JSON
        "1\u0663",
        "1.\u0663",
        "1e\u0663",
        "\"abc",
        "\"a\nb\"",
        "\"\\x\"",
        "\"\\",
        "\"\\u12\"",
        "\"\\u12",
        "\"\\u+041\"", // Integer.parseInt would take the sign
        "\"\\u-041\"",
        "\"\\u\uff10\uff10\uff14\uff11\"", // FULLWIDTH digits: hex to Character.digit, not to JSON
        "\"\\uzzzz\"",
        "[] []",
        "{} x",
      })
  void malformedTextIsRefused(String text) {
    JsonException e = assertThrows(JsonException.class, () -> Json.parse(text));
    assertTrue(
        e.getMessage().contains(" at character ") || e.getMessage().startsWith("duplicate key"),
        e.getMessage());
  }

  @Test
  void deepNestingIsRefusedNotAStackOverflow() throws JsonException {
    assertEquals(1, ((List<?>) Json.parse("[".repeat(60) + "1" + "]".repeat(60))).size());
    JsonException e =
        assertThrows(
            JsonException.class, () -> Json.parse("[".repeat(100_000) + "]".repeat(100_000)));
    assertTrue(e.getMessage().startsWith("nesting too deep"), e.getMessage());
    assertThrows(JsonException.class, () -> Json.parse("{\"a\":".repeat(100_000)));
  }

  @Test
  void aHugeNumberIsRefusedNotComputed() {
    JsonException e = assertThrows(JsonException.class, () -> Json.parse("1" + "0".repeat(1000)));
    assertTrue(e.getMessage().startsWith("number too long"), e.getMessage());
  }

  /**
   * A damaged header (a truncated download, a flipped byte, a hand edit) is read or refused with
   * {@link JsonException}, whatever the damage: 20,000 random edits of a real header, each of one
   * to four characters taken from JSON's own syntax and from characters that look like it.
   */
  @Test
  void damagedHeadersAreReadOrRefusedNeverAnotherException() {
    String alphabet = "{}[]\":,\\ \t\n-+.eE0123456789truefalsn/u\u0663\uff10\u00e9\u0000";
    Random random = new Random(42);
    int refused = 0;
    for (int trial = 0; trial < 20_000; trial++) {
      StringBuilder b = new StringBuilder(HEADER);
      int edits = 1 + random.nextInt(4);
      for (int k = 0; k < edits; k++) {
        int at = random.nextInt(b.length() + 1);
        char c = alphabet.charAt(random.nextInt(alphabet.length()));
        switch (random.nextInt(4)) {
          case 0 -> b.insert(at, c);
          case 1 -> b.setCharAt(Math.min(at, b.length() - 1), c);
          case 2 -> b.deleteCharAt(Math.min(at, b.length() - 1));
          default -> b.setLength(at); // truncated
        }
        if (b.isEmpty()) {
          b.append(c);
        }
      }
      String text = b.toString();
      try {
        Json.parse(text);
      } catch (JsonException e) {
        refused++;
      } catch (RuntimeException e) {
        throw new AssertionError("\"" + text + "\" threw " + e, e);
      }
    }
    assertTrue(refused > 10_000, "only " + refused + " damaged headers refused");
  }
}
