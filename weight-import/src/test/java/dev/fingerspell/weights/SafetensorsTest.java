package dev.fingerspell.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.weights.SafetensorsWriter.Entry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SafetensorsTest {
  @TempDir Path dir;

  /** A file: 8 length bytes, the header text (padded by nothing), then {@code data}. */
  private static byte[] file(String header, byte[] data) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(data);
    return b.array();
  }

  private static String reject(byte[] bytes) {
    SafetensorsException e =
        assertThrows(
            SafetensorsException.class, () -> SafetensorsFile.of("bad.safetensors", bytes));
    assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    assertTrue(e.getMessage().startsWith("bad.safetensors: "), e.getMessage());
    return e.getMessage();
  }

  private static void assertRejected(byte[] bytes, String expected) {
    String m = reject(bytes);
    assertTrue(m.contains(expected), "expected '" + expected + "' in: " + m);
  }

  // ---- the reference implementation's malformed-input cases ------------------------------------

  @Test
  void emptyFileIsHeaderTooSmall() {
    assertRejected(new byte[0], "header too small");
    assertRejected(new byte[7], "header too small");
    assertRejected(new byte[7], "not a safetensors file, or one cut short");
  }

  @Test
  void aConfigGivenAsWeightsIsNamedNotSafetensors() {
    // what `predict --model config.yaml` hands the reader: its first 8 bytes read as a huge length
    byte[] yaml = "seed: 42\nname: demo\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    assertRejected(yaml, "header too large");
    assertRejected(yaml, "(not a safetensors file)");
  }

  /**
   * What the Python project saved (torch.save's zip, or a legacy pickle; Lightning's .ckpt is the
   * zip) is named, with the one command that converts it.
   */
  @Test
  void aPyTorchCheckpointIsNamedWithHowToConvertIt() {
    byte[] zip = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0};
    byte[] pickle = {(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, 0, 0};
    for (byte[] file : new byte[][] {zip, pickle}) {
      String m = reject(file);
      assertTrue(m.startsWith("bad.safetensors: a PyTorch checkpoint (torch.save), not"), m);
      assertTrue(m.contains("torch.load('bad.safetensors', map_location='cpu'"), m);
      assertTrue(m.contains("'bad.safetensors.safetensors')"), m);
    }
  }

  @Test
  void lengthPastTheFileIsInvalidHeaderLength() {
    byte[] b = new byte[8];
    b[0] = 60;
    assertRejected(b, "invalid header length");
  }

  @Test
  void hugeLengthIsHeaderTooLarge() {
    byte[] b = {0x3c, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff, (byte) 0xff};
    assertRejected(b, "header too large");
  }

  @Test
  void nonUtf8HeaderIsInvalid() {
    byte[] b = new byte[9];
    b[0] = 1;
    b[8] = (byte) 0xff;
    assertRejected(b, "invalid header: not UTF-8");
  }

  @Test
  void nonJsonHeaderIsInvalid() {
    assertRejected(file("{", new byte[0]), "invalid header: not JSON");
  }

  @Test
  void trailingBytesAndShortDataAreIncompleteBuffers() {
    byte[] valid =
        SafetensorsWriter.toBytes(
            List.of(Entry.f32("a", new int[] {2, 2}, new float[] {1, 2, 3, 4})), Map.of());
    byte[] longer = Arrays.copyOf(valid, valid.length + 3);
    assertRejected(longer, "incomplete buffer");
    byte[] shorter = Arrays.copyOf(valid, valid.length - 2);
    assertRejected(shorter, "incomplete buffer");
  }

  @Test
  void sizeNotMatchingDtypeAndShapeIsInvalidInfo() {
    String h = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,4]}}";
    String m = reject(file(h, new byte[4]));
    assertTrue(m.contains("tensor 'test'") && m.contains("invalid info"), m);
  }

  @ParameterizedTest
  @CsvSource({"18446744073709551614", "9223372036854775807"})
  void hugeShapesOverflow(String dim) {
    String h = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2," + dim + "],\"data_offsets\":[0,4]}}";
    assertRejected(file(h, new byte[4]), "overflow");
  }

  @Test
  void overlappingTensorsAreInvalidOffsets() {
    StringBuilder h = new StringBuilder("{");
    for (int i = 0; i < 10; i++) {
      h.append(i > 0 ? "," : "")
          .append("\"t")
          .append(i)
          .append("\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}");
    }
    h.append('}');
    assertRejected(file(h.toString(), new byte[16]), "invalid offset");
  }

  @Test
  void subByteTotalIsMisaligned() {
    String h = "{\"test\":{\"dtype\":\"F4\",\"shape\":[1,3],\"data_offsets\":[0,2]}}";
    assertRejected(file(h, new byte[2]), "misaligned");
  }

  // ---- cases of our own
  // --------------------------------------------------------------------------

  @Test
  void duplicateNamesAreRejected() {
    String h =
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    assertRejected(file(h, new byte[8]), "duplicate tensor name \"a\"");
  }

  @Test
  void headerShapeErrors() {
    String unknown = "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    assertRejected(file(unknown, new byte[4]), "unknown dtype 'F33'");
    String negative = "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}";
    assertRejected(file(negative, new byte[4]), "negative");
    String fraction = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}";
    assertRejected(file(fraction, new byte[4]), "non-integer");
    String meta = "{\"__metadata__\":{\"k\":1}}";
    assertRejected(file(meta, new byte[0]), "not a string");
    assertRejected(file("[]", new byte[0]), "not a JSON object");
    String missing = "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}";
    assertRejected(file(missing, new byte[4]), "missing shape");
    String gap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    assertRejected(file(gap, new byte[8]), "invalid offset");
    String reversed =
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
            + "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
            + "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,1]}}";
    assertRejected(file(reversed, new byte[2]), "invalid offset");
  }

  // ---- valid edge cases
  // --------------------------------------------------------------------------

  @Test
  void emptyDictIsValid() {
    try (SafetensorsFile f = SafetensorsFile.of("e", file("{}", new byte[0]))) {
      assertTrue(f.tensors().isEmpty());
      assertTrue(f.metadata().isEmpty());
    }
  }

  @Test
  void scalarZeroSizeAndPaddedHeadersAreValid() {
    String h =
        "  {\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]},"
            + "\"z\":{\"dtype\":\"I32\",\"shape\":[2,0],\"data_offsets\":[4,4]}}   ";
    try (SafetensorsFile f = SafetensorsFile.of("edge", file(h, new byte[] {7, 0, 0, 0}))) {
      assertEquals(0, f.info("s").shape().length);
      assertEquals(1, f.info("s").numel());
      assertEquals(0, f.info("z").numel());
      assertArrayEquals(new byte[] {7, 0, 0, 0}, f.readBytes("s"));
      SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.readFloats("s"));
      assertTrue(e.getMessage().contains("tensor 's'") && e.getMessage().contains("I32"));
      assertThrows(SafetensorsException.class, () -> f.info("nope"));
    }
  }

  /**
   * {@code bytes} is the mapped file itself: it outlives {@code close} when the caller owns the
   * arena, and is unreadable after {@code close} otherwise (an exception, never a crash).
   */
  @Test
  void bytesAreTheMappingAndLiveAsLongAsItsArena() {
    Path p = dir.resolve("u8.safetensors");
    byte[] values = {1, 2, (byte) 200, 4, 5, 6};
    SafetensorsWriter.write(
        p, List.of(new Entry("img", SafeDType.U8, new long[] {2, 3}, values)), Map.of());
    java.lang.foreign.MemorySegment kept;
    try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
      try (SafetensorsFile f = SafetensorsFile.open(p, arena)) {
        kept = f.bytes("img");
        assertTrue(kept.isMapped() && kept.isReadOnly());
      }
      assertArrayEquals(values, kept.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
    }
    assertThrows(
        IllegalStateException.class, () -> kept.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
    java.lang.foreign.MemorySegment owned;
    try (SafetensorsFile f = SafetensorsFile.open(p)) {
      owned = f.bytes("img");
      assertArrayEquals(values, f.readBytes("img"));
    }
    assertThrows(
        IllegalStateException.class, () -> owned.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
  }

  // ---- the writer -------------------------------------------------------------------------------

  @Test
  void writerMatchesTheReferenceHeaderLengths() {
    assertEquals(8, headerLength(SafetensorsWriter.toBytes(List.of(), Map.of())));
    assertEquals(40, headerLength(SafetensorsWriter.toBytes(List.of(), Map.of("framework", "pt"))));
    byte[] one =
        SafetensorsWriter.toBytes(
            List.of(Entry.f32("attn.0", new int[] {1, 2, 3}, new float[6])), Map.of());
    assertEquals(64, headerLength(one));
    assertEquals(
        "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}",
        new String(one, 8, 64, StandardCharsets.UTF_8).trim());
  }

  private static long headerLength(byte[] file) {
    return ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
  }

  @Test
  void writerSortsByDtypeDescendingThenName() {
    byte[] b =
        SafetensorsWriter.toBytes(
            List.of(
                Entry.f32("b", new int[] {1}, new float[] {1}),
                Entry.i64("num_batches_tracked", new int[0], new long[] {5}),
                Entry.f32("a", new int[] {2}, new float[] {2, 3})),
            Map.of());
    String header = new String(b, 8, (int) headerLength(b), StandardCharsets.UTF_8);
    int i64 = header.indexOf("num_batches_tracked");
    int a = header.indexOf("\"a\"");
    int bb = header.indexOf("\"b\"");
    assertTrue(i64 < a && a < bb, header);
  }

  @Test
  void roundTripThroughAFileWithMetadataAndConversions() throws Exception {
    Path p = dir.resolve("model.safetensors");
    ByteBuffer f16 = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer bf16 = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer f64 = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
    float[] want = {1.5f, -0.25f, 49152f}; // exact in F16 and BF16 alike
    for (float v : want) {
      f16.putShort(Float.floatToFloat16(v));
      bf16.putShort((short) (Float.floatToIntBits(v) >>> 16));
      f64.putDouble(v);
    }
    SafetensorsWriter.write(
        p,
        List.of(
            Entry.f32("w", new int[] {2, 2}, new float[] {1, 2, 3, 4}),
            Entry.i64("n", new int[0], new long[] {42}),
            new Entry("h", SafeDType.F16, new long[] {3}, f16.array()),
            new Entry("bh", SafeDType.BF16, new long[] {3}, bf16.array()),
            new Entry("d", SafeDType.F64, new long[] {3}, f64.array())),
        Map.of("labels", "A,B", "note", "quote \" and \\ and é"));
    try (SafetensorsFile f = SafetensorsFile.open(p)) {
      assertEquals(Map.of("labels", "A,B", "note", "quote \" and \\ and é"), f.metadata());
      assertArrayEquals(new float[] {1, 2, 3, 4}, f.readFloats("w"));
      assertArrayEquals(new long[] {42}, f.readLongs("n"));
      assertArrayEquals(want, f.readFloats("h"));
      assertArrayEquals(want, f.readFloats("bh"));
      assertArrayEquals(want, f.readFloats("d"));
      assertArrayEquals(new int[] {2, 2}, f.tensor("w").shape());
      assertEquals(0, f.headerLength() % 8);
    }
    try (var files = Files.list(dir)) {
      assertEquals(List.of(p), files.toList(), "no temporary file left behind");
    }
    assertEquals(
        "rw-r--r--",
        java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p)),
        "readable like any file, not owner-only like a temporary one");
  }

  @Test
  void streamedFileIsToBytesAndItsDigestIsTheFilesHash() throws Exception {
    byte[] images = new byte[(1 << 21) + 12345]; // spans three of the writer's 1 MB chunks
    new java.util.Random(5).nextBytes(images);
    List<Entry> entries =
        List.of(
            new Entry("images", SafeDType.U8, new long[] {images.length}, images),
            Entry.i64("labels", new int[] {3}, new long[] {7, 8, 9}));
    Path p = dir.resolve("shard.safetensors");
    java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
    SafetensorsWriter.write(p, entries, Map.of("split", "train"), sha);
    byte[] file = Files.readAllBytes(p);
    assertArrayEquals(SafetensorsWriter.toBytes(entries, Map.of("split", "train")), file);
    assertArrayEquals(
        java.security.MessageDigest.getInstance("SHA-256").digest(file),
        sha.digest(),
        "the digest saw exactly the file's bytes, in order");
  }

  @Test
  void aContentThatFailsLeavesTheOldFileAndNoTemporaryOne() throws Exception {
    Path p = dir.resolve("kept.bin");
    AtomicFiles.write(p, new byte[] {1, 2, 3});
    java.io.IOException e =
        assertThrows(
            java.io.IOException.class,
            () ->
                AtomicFiles.write(
                    p,
                    out -> {
                      out.write(ByteBuffer.wrap(new byte[] {9, 9}));
                      throw new java.io.IOException("disk full");
                    }));
    assertEquals("disk full", e.getMessage());
    assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(p));
    try (var files = Files.list(dir)) {
      assertEquals(List.of(p), files.toList(), "no temporary file left behind");
    }
  }

  @Test
  void missingFileIsOneLine() {
    SafetensorsException e =
        assertThrows(
            SafetensorsException.class,
            () -> SafetensorsFile.open(dir.resolve("none.safetensors")));
    assertTrue(e.getMessage().endsWith("no such file"), e.getMessage());
  }

  @Test
  void writerRejectsInconsistentEntries() {
    assertThrows(
        SafetensorsException.class,
        () ->
            SafetensorsWriter.toBytes(
                List.of(new Entry("x", SafeDType.F32, new long[] {2}, new byte[4])), Map.of()));
    assertThrows(
        SafetensorsException.class,
        () ->
            SafetensorsWriter.toBytes(
                List.of(
                    Entry.f32("x", new int[] {1}, new float[1]),
                    Entry.f32("x", new int[] {1}, new float[1])),
                Map.of()));
  }
}
