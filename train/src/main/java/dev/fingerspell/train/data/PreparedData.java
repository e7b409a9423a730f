package dev.fingerspell.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.weights.IoErrors;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;

/**
 * A folder written by {@code data prepare}, read through its manifest. Before a split's shards are
 * used they are checked against the manifest's sha256 (data versioning): a changed or missing shard
 * is an error that names it.
 */
public final class PreparedData {
  private final Path dir;
  private final JsonNode manifest;
  private final List<String> classes;
  private final Set<String> verified = ConcurrentHashMap.newKeySet();

  /**
   * One shard: {@code count} images of {@code 3 × size × size} bytes where the shard's file maps
   * them (not copied onto the Java heap; unmapped once nothing refers to them), and labels.
   */
  public record Shard(MemorySegment images, long[] labels, int count, int size) {
    /** The planar RGB bytes of image {@code i}, copied into an array. */
    public byte[] image(int i) {
      return slice(i, i + 1).toArray(ValueLayout.JAVA_BYTE);
    }

    /** Images {@code from} to {@code to} (exclusive) where the shard holds them: no copy. */
    public MemorySegment slice(int from, int to) {
      long per = 3L * size * size;
      return images.asSlice(from * per, (to - from) * per);
    }

    /**
     * Images {@code order[from]} to {@code order[from + n - 1]}, one after another in one array.
     */
    public byte[] gather(int[] order, int from, int n) {
      int per = 3 * size * size;
      byte[] out = new byte[n * per];
      for (int i = 0; i < n; i++) {
        MemorySegment.copy(
            images, ValueLayout.JAVA_BYTE, (long) order[from + i] * per, out, i * per, per);
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
      throw new DataException(m + ": unreadable manifest: " + IoErrors.describe(e), e);
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

  /**
   * A shard as the manifest lists it and as it is on disk.
   *
   * @param file the shard's path
   * @param expected its sha256 in the manifest
   * @param actual its sha256 now, or null when the file is missing
   */
  public record ShardState(Path file, String expected, String actual) {
    /** Whether the shard is the one the manifest lists. */
    public boolean ok() {
      return expected.equals(actual);
    }

    /** {@code ok}, {@code changed} or {@code missing}. */
    public String state() {
      return actual == null ? "missing" : ok() ? "ok" : "changed";
    }
  }

  /** The split names of the manifest, in its order. */
  public List<String> splits() {
    List<String> out = new ArrayList<>();
    manifest.get("splits").fieldNames().forEachRemaining(out::add);
    return out;
  }

  /**
   * Every shard of {@code split} against the manifest, in the manifest's order. The shards are
   * hashed in parallel, since the real training split is 13 GB and hashing it on one core takes
   * longer than the GPU's whole feature pass.
   */
  public List<ShardState> check(String split) {
    JsonNode s = manifest.get("splits").get(split);
    if (s == null) {
      throw new DataException(dir + " has no '" + split + "' split");
    }
    List<JsonNode> shards = new ArrayList<>();
    s.get("shards").forEach(shards::add);
    return shards.parallelStream()
        .map(
            shard -> {
              Path f = dir.resolve(shard.get("file").asText());
              return new ShardState(
                  f, shard.get("sha256").asText(), Files.isRegularFile(f) ? sha256(f) : null);
            })
        .toList();
  }

  /**
   * Checks every shard of {@code split} against the manifest (once per split); the first that is
   * missing or changed, in the manifest's order, is an error naming it.
   */
  public void verify(String split) {
    if (verified.contains(split)) {
      return;
    }
    for (ShardState shard : check(split)) {
      if (shard.actual() == null) {
        throw new DataException(
            "shard " + shard.file() + " is missing: run fingerspell data prepare again");
      }
      if (!shard.ok()) {
        throw new DataException(
            "shard "
                + shard.file()
                + " changed since it was prepared (sha256 "
                + shard.actual().substring(0, 12)
                + "…, manifest "
                + shard.expected().substring(0, 12)
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
  }

  /**
   * The shards of a split in {@code order}. While one is used, the next is read on another thread,
   * so that on a GPU reading the disk overlaps the device's work instead of stalling it once a
   * shard. One shard is read ahead, never more.
   */
  public Iterable<Shard> shards(String split, int[] order) {
    verify(split); // here, on the caller's thread: a changed shard fails before the first one
    int[] shards = order.clone();
    return () ->
        new java.util.Iterator<>() {
          private int next; // position in shards of the next one to read
          private CompletableFuture<Shard> ahead = readAhead();

          private CompletableFuture<Shard> readAhead() {
            if (next >= shards.length) {
              return null;
            }
            int i = shards[next++];
            return CompletableFuture.supplyAsync(() -> load(split, i), READER);
          }

          @Override
          public boolean hasNext() {
            return ahead != null;
          }

          @Override
          public Shard next() {
            if (ahead == null) {
              throw new java.util.NoSuchElementException();
            }
            Shard s = await(ahead);
            ahead = readAhead();
            return s;
          }
        };
  }

  /**
   * The split in order, as batches of at most {@code batchSize} (a batch never spans two shards),
   * the next shard read ahead ({@link #shards}).
   */
  public Iterable<Batch> batches(String split, int batchSize) {
    Iterable<Shard> inOrder =
        shards(split, java.util.stream.IntStream.range(0, shardFiles(split).size()).toArray());
    return () ->
        new java.util.Iterator<>() {
          private final java.util.Iterator<Shard> shards = inOrder.iterator();
          private Shard shard;
          private int from;

          @Override
          public boolean hasNext() {
            while ((shard == null || from >= shard.count()) && shards.hasNext()) {
              shard = shards.next();
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

  /** Runs each read-ahead on a virtual thread of its own. */
  private static final Executor READER = r -> Thread.ofVirtual().name("shard-reader").start(r);

  /** A read-ahead's shard, its failure rethrown as it was thrown (a DataException, say). */
  private static Shard await(CompletableFuture<Shard> f) {
    try {
      return f.join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      if (e.getCause() instanceof Error err) {
        throw err;
      }
      throw e;
    }
  }

  /** Loads shard {@code i} of a split, checked first. */
  public Shard shard(String split, int i) {
    verify(split);
    return load(split, i);
  }

  /**
   * Loads shard {@code i} of a split already checked: maps it and reads its pages in, so that on
   * the read-ahead thread the disk is read there and not where the batch is copied.
   */
  private Shard load(String split, int i) {
    Path f = dir.resolve(shardFiles(split).get(i));
    int size = imageSize();
    try (SafetensorsFile file = SafetensorsFile.open(f, Arena.ofAuto())) {
      long[] labels = file.readLongs("labels");
      MemorySegment images = file.bytes("images");
      if (images.byteSize() != 3L * size * size * labels.length) {
        throw new DataException(
            "shard "
                + f
                + " holds "
                + images.byteSize()
                + " image bytes for "
                + labels.length
                + " labels of "
                + size
                + "×"
                + size
                + " images: run fingerspell data prepare again");
      }
      images.load();
      return new Shard(images, labels, labels.length, size);
    } catch (SafetensorsException e) {
      String why = e.getMessage(); // the reader's messages mostly name the file already
      throw new DataException("shard " + (why.startsWith(f.toString()) ? why : f + ": " + why), e);
    }
  }

  private static String sha256(Path f) {
    try {
      return Sha256.of(f);
    } catch (java.io.UncheckedIOException e) {
      throw new DataException(IoErrors.describe(e), e);
    }
  }
}
