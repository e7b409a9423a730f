package dev.fingerspell.weights;

import dev.fingerspell.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped (any size) and validated by the reference implementation's
 * rules, in its order (see ../shared/reference/safetensors.md), plus one of ours: duplicate tensor
 * names are rejected. Nothing is allocated from a header field before it is checked. Reads convert
 * F32, F16, BF16 and F64 to float32, and I64 to long.
 */
public final class SafetensorsFile implements AutoCloseable {
  /** The reference reader's cap on the header length. */
  public static final long MAX_HEADER = 100_000_000L;

  private static final BigInteger U64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfDouble F64 =
      ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16 =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64 =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena; // null when the caller owns the mapping's arena
  private final MemorySegment data; // the data buffer, after the header
  private final Map<String, TensorInfo> tensors;
  private final Map<String, String> metadata;
  private final long headerLength;

  private SafetensorsFile(
      Path path,
      Arena arena,
      MemorySegment data,
      Map<String, TensorInfo> tensors,
      Map<String, String> metadata,
      long headerLength) {
    this.path = path;
    this.arena = arena;
    this.data = data;
    this.tensors = tensors;
    this.metadata = metadata;
    this.headerLength = headerLength;
  }

  /** Maps and validates {@code path}; {@link #close} unmaps it. */
  public static SafetensorsFile open(Path path) {
    return open(path, Arena.ofShared(), true);
  }

  /**
   * Maps and validates {@code path} into {@code arena}, which the caller owns: the mapping, and the
   * segments {@link #bytes} hands out, live as long as the arena, not until {@link #close}.
   */
  public static SafetensorsFile open(Path path, Arena arena) {
    return open(path, arena, false);
  }

  private static SafetensorsFile open(Path path, Arena arena, boolean owned) {
    boolean opened = false;
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      long size = ch.size();
      MemorySegment file =
          size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
      SafetensorsFile f = parse(path, file, size, owned ? arena : null);
      opened = true;
      return f;
    } catch (NoSuchFileException e) {
      throw new SafetensorsException(path + ": no such file");
    } catch (IOException e) {
      if (java.nio.file.Files.isDirectory(path)) { // the JDK says "No such device" for a folder
        throw new SafetensorsException(path + ": a folder, not a safetensors file");
      }
      throw new SafetensorsException(path + ": cannot read: " + IoErrors.describe(e), e);
    } finally {
      if (!opened && owned) { // a failed open leaves nothing mapped in an arena of its own
        arena.close();
      }
    }
  }

  /** Validates bytes already in memory (tests, downloads); {@code name} labels messages. */
  public static SafetensorsFile of(String name, byte[] bytes) {
    Arena arena = Arena.ofShared();
    try {
      MemorySegment seg = arena.allocate(Math.max(1, bytes.length));
      MemorySegment.copy(MemorySegment.ofArray(bytes), 0, seg, 0, bytes.length);
      return parse(Path.of(name), seg.asSlice(0, bytes.length), bytes.length, arena);
    } catch (RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  private static SafetensorsException bad(Path p, String tensor, String what) {
    return SafetensorsException.of(p, tensor, what);
  }

  /**
   * Whether the file is what {@code torch.save} writes: a zip archive (its default since 1.6) or a
   * bare pickle (protocol 2 to 5, the legacy format).
   */
  private static boolean isTorchSave(MemorySegment file, long size) {
    if (size < 4) {
      return false;
    }
    byte b0 = file.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0);
    byte b1 = file.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 1);
    byte b2 = file.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2);
    byte b3 = file.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 3);
    boolean zip = b0 == 'P' && b1 == 'K' && b2 == 3 && b3 == 4;
    boolean pickle = (b0 & 0xFF) == 0x80 && b1 >= 2 && b1 <= 5;
    return zip || pickle;
  }

  /**
   * A header that cannot even be read as one: most often a different kind of file (a config, an
   * image, a checkpoint of another format) or a download cut short, so the message says so.
   */
  private static SafetensorsException unreadable(Path p, String what, boolean maybeTruncated) {
    return bad(
        p,
        null,
        what
            + (maybeTruncated
                ? " (not a safetensors file, or one cut short: copy or download it again)"
                : " (not a safetensors file)"));
  }

  private static SafetensorsFile parse(Path p, MemorySegment file, long size, Arena arena) {
    if (isTorchSave(file, size)) {
      // what the Python project saved (torch.save, Lightning's .ckpt): say how to convert it
      String f = p == null ? "FILE" : p.toString().replace("'", "\\'");
      throw bad(
          p,
          null,
          "a PyTorch checkpoint (torch.save), not safetensors; convert it once with Python:"
              + " python3 -c \"import torch; from safetensors.torch import save_file; sd ="
              + " torch.load('"
              + f
              + "', map_location='cpu', weights_only=False); sd = sd.get('state_dict', sd);"
              + " save_file({k.removeprefix('model.'): v.contiguous() for k, v in sd.items()}, '"
              + f
              + ".safetensors')\"");
    }
    // 1-3: the header's length
    if (size < 8) {
      throw unreadable(p, "header too small: the file has " + size + " bytes, fewer than 8", true);
    }
    long n = file.get(I64, 0);
    if (Long.compareUnsigned(n, MAX_HEADER) > 0) {
      throw unreadable(
          p, "header too large: " + Long.toUnsignedString(n) + " bytes, over 100000000", false);
    }
    if (8 + n > size) {
      throw unreadable(
          p, "invalid header length " + n + ": the file has only " + size + " bytes", true);
    }
    // 4: UTF-8
    String text;
    try {
      text =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(file.asSlice(8, n).asByteBuffer())
              .toString();
    } catch (CharacterCodingException e) {
      throw unreadable(p, "invalid header: not UTF-8", false);
    }
    // 5: JSON of the expected shape
    Object root;
    try {
      root = Json.parse(text);
    } catch (Json.JsonException e) {
      String m = e.getMessage();
      throw m.startsWith("duplicate key")
          ? bad(p, null, "duplicate tensor name " + m.substring("duplicate key ".length()))
          : unreadable(p, "invalid header: not JSON (" + m + ")", false);
    }
    if (!(root instanceof Map<?, ?> top)) {
      throw unreadable(p, "invalid header: not a JSON object", false);
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    List<TensorInfo> infos = new ArrayList<>();
    for (Map.Entry<?, ?> e : top.entrySet()) {
      String name = (String) e.getKey();
      if (name.equals("__metadata__")) {
        if (e.getValue() == null) {
          continue;
        }
        if (!(e.getValue() instanceof Map<?, ?> md)) {
          throw bad(p, null, "invalid header: __metadata__ is not an object");
        }
        for (Map.Entry<?, ?> kv : md.entrySet()) {
          if (!(kv.getValue() instanceof String v)) {
            throw bad(
                p, null, "invalid header: metadata value of '" + kv.getKey() + "' is not a string");
          }
          metadata.put((String) kv.getKey(), v);
        }
        continue;
      }
      infos.add(tensorInfo(p, name, e.getValue()));
    }
    // 6: offsets contiguous from 0, sizes consistent with dtype and shape
    List<TensorInfo> byOffset = new ArrayList<>(infos);
    byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    long expectedBegin = 0;
    for (TensorInfo t : byOffset) {
      if (t.begin() != expectedBegin || t.end() < t.begin()) {
        throw bad(
            p,
            t.name(),
            "invalid offset ["
                + t.begin()
                + ", "
                + t.end()
                + "): tensors must be packed without gaps or overlaps, this one should begin at "
                + expectedBegin);
      }
      BigInteger count = BigInteger.ONE;
      for (long d : t.shape()) {
        count = count.multiply(BigInteger.valueOf(d));
      }
      BigInteger bits = count.multiply(BigInteger.valueOf(t.dtype().bits()));
      if (count.compareTo(U64_MAX) > 0 || bits.compareTo(U64_MAX) > 0) {
        throw bad(p, t.name(), "overflow: shape " + t.shapeString() + " has too many elements");
      }
      if (bits.mod(BigInteger.valueOf(8)).signum() != 0) {
        throw bad(
            p,
            t.name(),
            "misaligned: " + t.dtype() + " " + t.shapeString() + " is not a whole number of bytes");
      }
      BigInteger bytes = bits.shiftRight(3);
      if (!bytes.equals(BigInteger.valueOf(t.end() - t.begin()))) {
        throw bad(
            p,
            t.name(),
            "invalid info: "
                + t.dtype()
                + " "
                + t.shapeString()
                + " needs "
                + bytes
                + " bytes, data_offsets give "
                + (t.end() - t.begin()));
      }
      expectedBegin = t.end();
    }
    // 7: the buffer holds exactly the data
    if (expectedBegin + 8 + n != size) {
      throw bad(
          p,
          null,
          "incomplete buffer: the header describes "
              + expectedBegin
              + " data bytes, the file holds "
              + (size - 8 - n));
    }
    Map<String, TensorInfo> byName = new LinkedHashMap<>();
    for (TensorInfo t : infos) {
      byName.put(t.name(), t);
    }
    MemorySegment data = file.asSlice(8 + n, expectedBegin);
    return new SafetensorsFile(
        p,
        arena,
        data,
        Collections.unmodifiableMap(byName),
        Collections.unmodifiableMap(metadata),
        n);
  }

  private static TensorInfo tensorInfo(Path p, String name, Object value) {
    if (!(value instanceof Map<?, ?> m)) {
      throw bad(p, name, "invalid header: entry is not an object");
    }
    Object dt = m.get("dtype");
    Object sh = m.get("shape");
    Object off = m.get("data_offsets");
    if (!(dt instanceof String dtName)) {
      throw bad(p, name, "invalid header: missing dtype");
    }
    SafeDType dtype = SafeDType.byName(dtName);
    if (dtype == null) {
      throw bad(p, name, "invalid header: unknown dtype '" + dtName + "'");
    }
    if (!(sh instanceof List<?> shapeList)) {
      throw bad(p, name, "invalid header: missing shape");
    }
    if (!(off instanceof List<?> offList) || offList.size() != 2) {
      throw bad(p, name, "invalid header: data_offsets must be [begin, end]");
    }
    long[] shape = new long[shapeList.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = unsigned(p, name, "shape", shapeList.get(i));
    }
    long begin = unsigned(p, name, "data_offsets", offList.get(0));
    long end = unsigned(p, name, "data_offsets", offList.get(1));
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  /**
   * A non-negative integer. Values past 2^63 − 1 are valid in the format (u64) but can never
   * describe data in a file, so they are kept saturated at Long.MAX_VALUE and fail the size checks
   * that follow, as overflow.
   */
  private static long unsigned(Path p, String name, String field, Object v) {
    if (v instanceof BigDecimal || !(v instanceof BigInteger b)) {
      throw bad(p, name, "invalid header: " + field + " holds a non-integer");
    }
    if (b.signum() < 0) {
      throw bad(p, name, "invalid header: " + field + " holds a negative number");
    }
    if (b.compareTo(U64_MAX) > 0) {
      throw bad(p, name, "invalid header: " + field + " holds a number beyond 64 bits");
    }
    return b.bitLength() > 63 ? Long.MAX_VALUE : b.longValue();
  }

  // ---- what it holds ----------------------------------------------------------------------------

  /** The path (or label) this was read from. */
  public Path path() {
    return path;
  }

  /** Every tensor by name, in header order. */
  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  /** The {@code __metadata__} map (empty when absent). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** The header's length in bytes. */
  public long headerLength() {
    return headerLength;
  }

  /** The entry of {@code name}, or an error naming the file and the tensor. */
  public TensorInfo info(String name) {
    TensorInfo t = tensors.get(name);
    if (t == null) {
      throw bad(path, name, "no such tensor");
    }
    return t;
  }

  /** The values of a float tensor (F32, F16, BF16 or F64) as float32, row-major. */
  public float[] readFloats(String name) {
    TensorInfo t = info(name);
    if (!t.dtype().isFloatConvertible()) {
      throw bad(
          path,
          name,
          "dtype " + t.dtype() + " cannot be read as float32 (F32, F16, BF16 or F64 can)");
    }
    int count = checkedCount(t);
    MemorySegment s = data.asSlice(t.begin(), t.end() - t.begin());
    float[] out = new float[count];
    switch (t.dtype()) {
      case F32 -> MemorySegment.copy(s, F32, 0, out, 0, count);
      case F64 -> {
        for (int i = 0; i < count; i++) {
          out[i] = (float) s.getAtIndex(F64, i);
        }
      }
      case F16 -> {
        for (int i = 0; i < count; i++) {
          out[i] = Float.float16ToFloat(s.getAtIndex(I16, i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < count; i++) {
          out[i] = Float.intBitsToFloat((s.getAtIndex(I16, i) & 0xffff) << 16);
        }
      }
      default -> throw new AssertionError(t.dtype());
    }
    return out;
  }

  /** The values of an I64 tensor. */
  public long[] readLongs(String name) {
    TensorInfo t = info(name);
    if (t.dtype() != SafeDType.I64) {
      throw bad(path, name, "dtype " + t.dtype() + " is not I64");
    }
    int count = checkedCount(t);
    long[] out = new long[count];
    MemorySegment.copy(data.asSlice(t.begin(), t.end() - t.begin()), I64, 0, out, 0, count);
    return out;
  }

  /** The tensor as a float32 (or, for I64, int64) {@link Tensor} on the default device. */
  public Tensor tensor(String name) {
    TensorInfo t = info(name);
    return t.dtype() == SafeDType.I64
        ? Tensor.ofLongs(readLongs(name), t.intShape())
        : Tensor.of(readFloats(name), t.intShape());
  }

  private int checkedCount(TensorInfo t) {
    long count = t.numel();
    if (count > Integer.MAX_VALUE - 8) {
      throw bad(path, t.name(), "too large to load: " + count + " elements");
    }
    return (int) count;
  }

  /** The raw bytes of a tensor (little-endian, as stored). */
  public byte[] readBytes(String name) {
    return bytes(name).toArray(ValueLayout.JAVA_BYTE);
  }

  /** The raw bytes of a tensor where the file holds them: no copy, read-only. */
  public MemorySegment bytes(String name) {
    TensorInfo t = info(name);
    return data.asSlice(t.begin(), t.end() - t.begin()).asReadOnly();
  }

  /** Unmaps the file, unless it was mapped into an arena the caller owns. */
  @Override
  public void close() {
    if (arena != null) {
      arena.close();
    }
  }
}
