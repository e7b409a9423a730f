package dev.fingerspell.weights;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes safetensors files with the reference implementation's byte layout: tensors sorted by dtype
 * (descending, in the format's order) then name, offsets packed from 0, {@code __metadata__} first,
 * the header padded with spaces to a multiple of 8. Files are written to a temporary file beside
 * the target and renamed over it, so a crash never leaves half a model.
 */
public final class SafetensorsWriter {
  private SafetensorsWriter() {}

  /**
   * One tensor to write: raw little-endian bytes of the given dtype and shape.
   *
   * @param name the tensor's name
   * @param dtype its element type
   * @param shape its dimensions
   * @param bytes its data, little-endian, row-major
   */
  public record Entry(String name, SafeDType dtype, long[] shape, byte[] bytes) {
    /** Float32 values. */
    public static Entry f32(String name, int[] shape, float[] values) {
      ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      b.asFloatBuffer().put(values);
      return new Entry(name, SafeDType.F32, toLong(shape), b.array());
    }

    /** Int64 values. */
    public static Entry i64(String name, int[] shape, long[] values) {
      ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
      b.asLongBuffer().put(values);
      return new Entry(name, SafeDType.I64, toLong(shape), b.array());
    }

    /** A tensor's values: F32 for float tensors, I64 for int64 ones. */
    public static Entry of(String name, Tensor t) {
      return t.dtype() == DType.INT64
          ? i64(name, t.shape(), t.toLongArray())
          : f32(name, t.shape(), t.toFloatArray());
    }

    private static long[] toLong(int[] shape) {
      return Arrays.stream(shape).asLongStream().toArray();
    }
  }

  /** Every tensor of a state dict, in F32/I64, under its own name. */
  public static List<Entry> entries(Map<String, Tensor> stateDict) {
    List<Entry> out = new ArrayList<>();
    for (Map.Entry<String, Tensor> e : stateDict.entrySet()) {
      out.add(Entry.of(e.getKey(), e.getValue()));
    }
    return out;
  }

  /** The file's bytes: length, header, data. */
  public static byte[] toBytes(List<Entry> entries, Map<String, String> metadata) {
    Layout layout = layout(entries, metadata);
    long size = layout.prefix().length;
    for (Entry e : layout.sorted()) {
      size += e.bytes().length;
    }
    ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(size));
    out.put(layout.prefix());
    for (Entry e : layout.sorted()) {
      out.put(e.bytes());
    }
    return out.array();
  }

  /** Writes {@code entries} to {@code path} atomically (temporary file, then rename). */
  public static void write(Path path, List<Entry> entries, Map<String, String> metadata) {
    write(path, entries, metadata, null);
  }

  /**
   * Writes {@code entries} to {@code path} atomically, streaming each tensor's bytes from its array
   * (no copy of the whole file), and feeds the file's bytes to {@code digest} as they go out when
   * it is not null: a shard's hash costs no second read.
   */
  public static void write(
      Path path, List<Entry> entries, Map<String, String> metadata, MessageDigest digest) {
    Layout layout = layout(entries, metadata);
    try {
      AtomicFiles.write(
          path,
          out -> {
            AtomicFiles.put(out, layout.prefix(), digest);
            for (Entry e : layout.sorted()) {
              AtomicFiles.put(out, e.bytes(), digest);
            }
          });
    } catch (IOException e) {
      throw new SafetensorsException(path + ": cannot write: " + IoErrors.describe(e), e);
    }
  }

  /** The bytes before the data (length, header, padding) and the entries in file order. */
  private record Layout(byte[] prefix, List<Entry> sorted) {}

  private static Layout layout(List<Entry> entries, Map<String, String> metadata) {
    List<Entry> sorted = new ArrayList<>(entries);
    Set<String> names = new HashSet<>();
    for (Entry e : sorted) {
      if (e.name().equals("__metadata__") || !names.add(e.name())) {
        throw new SafetensorsException(
            "cannot write tensor name '" + e.name() + "' twice or as __metadata__");
      }
      long count = 1;
      for (long d : e.shape()) {
        count = Math.multiplyExact(count, d);
      }
      if (count * e.dtype().bits() != 8L * e.bytes().length) {
        throw new SafetensorsException(
            "tensor '"
                + e.name()
                + "': "
                + e.bytes().length
                + " bytes do not match "
                + e.dtype()
                + " "
                + Arrays.toString(e.shape()));
      }
    }
    sorted.sort(
        Comparator.comparing((Entry e) -> e.dtype().ordinal())
            .reversed()
            .thenComparing(Entry::name));
    StringBuilder h = new StringBuilder("{");
    boolean first = true;
    if (metadata != null && !metadata.isEmpty()) {
      h.append("\"__metadata__\":{");
      List<String> keys = new ArrayList<>(metadata.keySet());
      for (int i = 0; i < keys.size(); i++) {
        if (i > 0) {
          h.append(',');
        }
        Json.writeString(h, keys.get(i));
        h.append(':');
        Json.writeString(h, metadata.get(keys.get(i)));
      }
      h.append('}');
      first = false;
    }
    long offset = 0;
    for (Entry e : sorted) {
      if (!first) {
        h.append(',');
      }
      first = false;
      Json.writeString(h, e.name());
      h.append(":{\"dtype\":\"").append(e.dtype().name()).append("\",\"shape\":[");
      for (int i = 0; i < e.shape().length; i++) {
        h.append(i > 0 ? "," : "").append(e.shape()[i]);
      }
      long end = offset + e.bytes().length;
      h.append("],\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
      offset = end;
    }
    h.append('}');
    byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (header.length + 7) / 8 * 8;
    ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    prefix.putLong(padded);
    prefix.put(header);
    for (int i = header.length; i < padded; i++) {
      prefix.put((byte) ' ');
    }
    return new Layout(prefix.array(), sorted);
  }
}
