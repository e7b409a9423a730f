package dev.fingerspell.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A folder written by {@code data prepare}, read through its manifest. Before a split's shards are
 * used they are checked against the manifest's sha256 (data versioning): a changed or missing shard
 * is an error that names it.
 */
public final class PreparedData {
  private final Path dir;
  private final JsonNode manifest;
  private final List<String> classes;
  private final Set<String> verified = new LinkedHashSet<>();

  /** One shard in memory: {@code count} images of {@code 3 × size × size} bytes, and labels. */
  public record Shard(byte[] images, long[] labels, int count, int size) {
    /** The planar RGB bytes of image {@code i}. */
    public byte[] image(int i) {
      int n = 3 * size * size;
      byte[] out = new byte[n];
      System.arraycopy(images, i * n, out, 0, n);
      return out;
    }

    /** Images {@code from} to {@code to} (exclusive) where the shard holds them: no copy. */
    public MemorySegment slice(int from, int to) {
      long per = 3L * size * size;
      return MemorySegment.ofArray(images).asSlice(from * per, (to - from) * per);
    }

    /**
     * Images {@code order[from]} to {@code order[from + n - 1]}, one after another in one array.
     */
    public byte[] gather(int[] order, int from, int n) {
      int per = 3 * size * size;
      byte[] out = new byte[n * per];
      for (int i = 0; i < n; i++) {
        System.arraycopy(images, order[from + i] * per, out, i * per, per);
      }
      return out;
    }
  }

  private PreparedData(Path dir, JsonNode manifest) {
    this.dir = dir;
    this.manifest = manifest;
    List<String> c = new ArrayList<>();
    manifest.get("classes").forEach(n -> c.add(n.asText()));
    this.classes = List.copyOf(c);
  }

  /** Whether {@code dir} (or its {@code processed/}) holds a manifest. */
  public static boolean isPrepared(Path dir) {
    return Files.isRegularFile(dir.resolve(DataPrepare.MANIFEST))
        || Files.isRegularFile(dir.resolve("processed").resolve(DataPrepare.MANIFEST));
  }

  /** Opens {@code dir} or {@code dir/processed}. */
  public static PreparedData open(Path dir) {
    Path d = dir;
    if (!Files.isRegularFile(d.resolve(DataPrepare.MANIFEST))
        && Files.isRegularFile(d.resolve("processed").resolve(DataPrepare.MANIFEST))) {
      d = d.resolve("processed");
    }
    Path m = d.resolve(DataPrepare.MANIFEST);
    if (!Files.isRegularFile(m)) {
      throw new DataException(
          dir
              + " holds no prepared data set (no manifest.json): run fingerspell data prepare first");
    }
    try (InputStream in = Files.newInputStream(m)) {
      JsonNode root = new ObjectMapper().readTree(in);
      if (!"fingerspell-dataset".equals(root.path("format").asText())) {
        throw new DataException(m + " is not a Fingerspell data set manifest");
      }
      return new PreparedData(d, root);
    } catch (IOException e) {
      throw new DataException(m + ": unreadable manifest: " + e.getMessage(), e);
    }
  }

  /** The folder holding the manifest and shards. */
  public Path dir() {
    return dir;
  }

  /** Class names in index order. */
  public List<String> classes() {
    return classes;
  }

  /** The side of the stored images. */
  public int imageSize() {
    return manifest.get("image_size").asInt();
  }

  /**
   * What the data is, exactly: a hash of the image size and every shard's sha256 in manifest order.
   * Two preparations with different splits or shard orders differ here.
   */
  public String fingerprint() {
    StringBuilder b = new StringBuilder().append(imageSize());
    manifest
        .get("splits")
        .properties()
        .forEach(
            e -> {
              b.append('|').append(e.getKey());
              e.getValue()
                  .get("shards")
                  .forEach(s -> b.append(':').append(s.get("sha256").asText()));
            });
    return Sha256.of(b.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  /** Whether the set has this split with at least one image. */
  public boolean has(String split) {
    return manifest.get("splits").has(split) && count(split) > 0;
  }

  /** The number of images in a split. */
  public int count(String split) {
    JsonNode s = manifest.get("splits").get(split);
    return s == null ? 0 : s.get("count").asInt();
  }

  /** The shard files of a split. */
  public List<String> shardFiles(String split) {
    JsonNode s = manifest.get("splits").get(split);
    if (s == null) {
      throw new DataException(dir + " has no '" + split + "' split");
    }
    List<String> out = new ArrayList<>();
    s.get("shards").forEach(n -> out.add(n.get("file").asText()));
    return out;
  }

  /** Checks every shard of {@code split} against the manifest (once per split). */
  public void verify(String split) {
    if (verified.contains(split)) {
      return;
    }
    JsonNode s = manifest.get("splits").get(split);
    if (s == null) {
      throw new DataException(dir + " has no '" + split + "' split");
    }
    for (JsonNode shard : s.get("shards")) {
      Path f = dir.resolve(shard.get("file").asText());
      if (!Files.isRegularFile(f)) {
        throw new DataException("shard " + f + " is missing: run fingerspell data prepare again");
      }
      String actual = sha256(f);
      if (!actual.equals(shard.get("sha256").asText())) {
        throw new DataException(
            "shard "
                + f
                + " changed since it was prepared (sha256 "
                + actual.substring(0, 12)
                + "…, manifest "
                + shard.get("sha256").asText().substring(0, 12)
                + "…): run fingerspell data prepare again");
      }
    }
    verified.add(split);
  }

  /**
   * Consecutive images of a split, shard after shard.
   *
   * @param bytes the images' planar RGB {@code [3, size, size]} bytes one after another, where
   *     their shard holds them (not a copy)
   * @param labels their class indices
   * @param size the stored image side
   */
  public record Batch(MemorySegment bytes, long[] labels, int size) {
    /** Images in the batch. */
    public int count() {
      return labels.length;
    }

    /** Each image as an array of its own (a copy). */
    public List<byte[]> images() {
      long per = 3L * size * size;
      List<byte[]> out = new ArrayList<>(count());
      for (int i = 0; i < count(); i++) {
        out.add(bytes.asSlice(i * per, per).toArray(ValueLayout.JAVA_BYTE));
      }
      return out;
    }
  }

  /**
   * The split in order, as batches of at most {@code batchSize} (a batch never spans two shards),
   * loading one shard at a time.
   */
  public Iterable<Batch> batches(String split, int batchSize) {
    int shards = shardFiles(split).size();
    return () ->
        new java.util.Iterator<>() {
          private int next; // index of the next shard to load
          private Shard shard;
          private int from;

          @Override
          public boolean hasNext() {
            while ((shard == null || from >= shard.count()) && next < shards) {
              shard = shard(split, next++);
              from = 0;
            }
            return shard != null && from < shard.count();
          }

          @Override
          public Batch next() {
            if (!hasNext()) {
              throw new java.util.NoSuchElementException();
            }
            int to = Math.min(shard.count(), from + batchSize);
            Batch b =
                new Batch(
                    shard.slice(from, to),
                    java.util.Arrays.copyOfRange(shard.labels(), from, to),
                    shard.size());
            from = to;
            return b;
          }
        };
  }

  /** Loads shard {@code i} of a verified split. */
  public Shard shard(String split, int i) {
    verify(split);
    Path f = dir.resolve(shardFiles(split).get(i));
    try (SafetensorsFile file = SafetensorsFile.open(f)) {
      long[] labels = file.readLongs("labels");
      byte[] images = file.readBytes("images");
      return new Shard(images, labels, labels.length, imageSize());
    } catch (SafetensorsException e) {
      throw new DataException("shard " + f + ": " + e.getMessage(), e);
    }
  }

  private static String sha256(Path f) {
    try {
      return Sha256.of(f);
    } catch (java.io.UncheckedIOException e) {
      throw new DataException(e.getMessage(), e);
    }
  }
}
