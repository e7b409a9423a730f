package dev.fingerspell.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import dev.fingerspell.weights.SafeDType;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipInputStream;

/**
 * {@code data prepare}: raw (a zip or a folder) → interim (the extracted folder) → processed
 * (safetensors shards of uint8 {@code [N, 3, S, S]} images and int64 labels for train, val and
 * test, and {@code manifest.json}). Images decode on all cores; an unreadable one is skipped,
 * counted and listed, never fatal. The validation split is stratified and seeded. The set is
 * written into a new folder beside processed/ (the manifest last) that takes its place only when
 * complete: a prepared folder is always whole, and a failed or interrupted preparation leaves the
 * earlier set as it was.
 */
public final class DataPrepare {
  /** The manifest's file name. */
  public static final String MANIFEST = "manifest.json";

  private DataPrepare() {}

  /**
   * The options.
   *
   * @param source a .zip or a folder
   * @param out where interim/ and processed/ go
   * @param size the side of the stored square images
   * @param valFraction the share of each class held out for validation
   * @param seed the split's seed
   * @param shardSize images per shard
   * @param threads decoding threads
   */
  public record Options(
      Path source, Path out, int size, double valFraction, long seed, int shardSize, int threads) {
    /** Checks the ranges. */
    public Options {
      if (size < 8) {
        throw new DataException("--size must be at least 8");
      }
      if (!(valFraction >= 0 && valFraction < 1)) {
        throw new DataException("--val-fraction must be in [0, 1)");
      }
      if (shardSize < 1) {
        throw new DataException("--shard-size must be at least 1");
      }
    }
  }

  /** One image to decode: its file and label. */
  private record Item(Path file, String relative, int label) {}

  /** A decoded image or why it was skipped. */
  private record Decoded(Item item, byte[] chw, String sha256, String error) {}

  /** What the progress display needs: a total, then steps. */
  public interface Progress {
    /** The number of images to decode. */
    void start(long total);

    /** One more decoded (or skipped). */
    void step();

    /** All done. */
    void finish();
  }

  /**
   * Whether {@code out/processed} already holds what these options would make, as DVC's repro skips
   * a stage whose inputs did not change: the same settings, the same source by content (a zip's own
   * sha256; a folder's images hashed again, seconds against minutes of decoding), and every shard
   * in place at its size ({@code data status} hashes them).
   */
  public static boolean upToDate(Options o) {
    Path manifest = o.out().resolve("processed").resolve(MANIFEST);
    JsonNode m;
    try {
      m = new ObjectMapper().readTree(manifest.toFile());
    } catch (IOException e) {
      return false; // none, or unreadable: prepare
    }
    if (m.path("image_size").asInt() != o.size()
        || m.path("seed").asLong() != o.seed()
        || m.path("val_fraction").asDouble(Double.NaN) != o.valFraction()
        || m.path("shard_size").asInt() != o.shardSize()) {
      return false;
    }
    for (JsonNode split : m.path("splits")) {
      for (JsonNode shard : split.path("shards")) {
        Path file = manifest.resolveSibling(shard.path("file").asText());
        try {
          if (!shard.has("bytes") || Files.size(file) != shard.path("bytes").asLong()) {
            return false;
          }
        } catch (IOException e) {
          return false;
        }
      }
    }
    JsonNode source = m.path("source");
    if (Files.isDirectory(o.source())) {
      return source.path("kind").asText().equals("folder")
          && source.path("sha256").asText().equals(folderDigest(o.source()));
    }
    return Files.isRegularFile(o.source())
        && source.path("archive_sha256").asText().equals(Sha256.of(o.source()));
  }

  /**
   * The source hash a preparation of {@code folder} records: every image of a class folder and of
   * the test folder (named by a known class), by relative path, with the sha256 of its bytes.
   */
  static String folderDigest(Path folder) {
    SourceLayout layout = SourceLayout.find(folder);
    if (layout.trainRoot() == null) {
      return "";
    }
    List<Path> files = new ArrayList<>();
    for (String c : layout.classes()) {
      files.addAll(layout.classFiles(c));
    }
    for (Path f : layout.testFiles()) {
      if (layout.classes().contains(layout.testClass(f))) {
        files.add(f);
      }
    }
    Map<String, String> hashes = new ConcurrentHashMap<>();
    files.parallelStream()
        .forEach(
            f -> {
              try {
                hashes.put(relative(folder, f), Sha256.of(Files.readAllBytes(f)));
              } catch (IOException e) {
                // unreadable: a preparation skips it, unhashed, too
              }
            });
    return sourceDigest(hashes);
  }

  /** The source's hash: each image's relative path and sha256, in path order. */
  private static String sourceDigest(Map<String, String> hashesByPath) {
    MessageDigest digest = Sha256.digest();
    new TreeMap<>(hashesByPath)
        .forEach((k, v) -> digest.update((k + "\t" + v + "\n").getBytes(StandardCharsets.UTF_8)));
    return HexFormat.of().formatHex(digest.digest());
  }

  /** Prepares the set and returns the processed folder. */
  public static Path run(Options o, Progress progress) {
    Path interim = o.source();
    if (Files.isRegularFile(o.source()) && o.source().toString().toLowerCase().endsWith(".zip")) {
      interim = extract(o.source(), o.out().resolve("interim"));
    } else if (!Files.isDirectory(o.source())) {
      throw new DataException(o.source() + ": no such folder or .zip file");
    }
    SourceLayout layout = SourceLayout.find(interim);
    if (layout.trainRoot() == null) {
      throw new DataException(
          interim + ": no class folders to train on (asl_alphabet_train/<class>/)");
    }
    List<String> classes = layout.classes();

    // split on file lists, before decoding: stratified, seeded
    List<Item> train = new ArrayList<>();
    List<Item> val = new ArrayList<>();
    Rng rng = new Rng(o.seed());
    for (int c = 0; c < classes.size(); c++) {
      List<Path> files = new ArrayList<>(layout.classFiles(classes.get(c)));
      shuffle(files, rng);
      int nVal = (int) Math.round(o.valFraction() * files.size());
      for (int i = 0; i < files.size(); i++) {
        Item it = new Item(files.get(i), relative(interim, files.get(i)), c);
        (i < nVal ? val : train).add(it);
      }
    }
    // Shards are read one at a time in training: each must be a random sample of all classes,
    // not a run of one class, or every batch would hold one or two classes.
    shuffle(train, rng);
    shuffle(val, rng);
    List<Item> test = new ArrayList<>();
    List<Map<String, String>> skipped = new ArrayList<>();
    for (Path f : layout.testFiles()) {
      String cls = layout.testClass(f);
      if (cls == null || !classes.contains(cls)) {
        skipped.add(
            Map.of("file", relative(interim, f), "reason", "test file names no known class"));
        continue;
      }
      test.add(new Item(f, relative(interim, f), classes.indexOf(cls)));
    }

    // The new set is written into a folder beside processed/ and replaces it only when complete:
    // a failed or interrupted preparation leaves the earlier set as it was.
    Path processed = o.out().resolve("processed");
    Path fresh = freshFolderFor(processed);
    try {
      return writeSet(o, layout, classes, train, val, test, skipped, fresh, processed, progress);
    } finally {
      try {
        Folders.deleteTree(fresh); // gone already when the set is in place
      } catch (IOException e) {
        // the outcome being reported matters more; the next preparation removes it
      }
    }
  }

  private static Path writeSet(
      Options o,
      SourceLayout layout,
      List<String> classes,
      List<Item> train,
      List<Item> val,
      List<Item> test,
      List<Map<String, String>> skipped,
      Path fresh,
      Path processed,
      Progress progress) {
    int threads = Math.max(1, o.threads());
    ForkJoinPool pool = new ForkJoinPool(threads);
    ShardWriter writer = new ShardWriter(Math.min(4, (threads + 1) / 2));
    Map<String, String> fileHashes = new TreeMap<>();
    Map<String, Split> written = new LinkedHashMap<>();
    Map<String, Object> splits = new LinkedHashMap<>();
    progress.start(train.size() + val.size() + test.size());
    try {
      written.put(
          "train",
          writeSplit(
              "train", train, o, classes, fresh, pool, writer, progress, skipped, fileHashes));
      written.put(
          "val",
          writeSplit("val", val, o, classes, fresh, pool, writer, progress, skipped, fileHashes));
      if (layout.test()) {
        written.put(
            "test",
            writeSplit(
                "test", test, o, classes, fresh, pool, writer, progress, skipped, fileHashes));
      }
      written.forEach((name, split) -> splits.put(name, split.summary()));
    } finally {
      progress.finish();
      pool.shutdownNow();
      writer.close();
    }
    Map<String, Object> manifest = new LinkedHashMap<>();
    manifest.put("format", "fingerspell-dataset");
    manifest.put("version", 1);
    manifest.put("created", Instant.now().toString());
    manifest.put("image_size", o.size());
    manifest.put("seed", o.seed());
    manifest.put("val_fraction", o.valFraction());
    manifest.put("shard_size", o.shardSize());
    manifest.put("classes", classes);
    Map<String, Object> source = new LinkedHashMap<>();
    source.put("path", o.source().toAbsolutePath().toString());
    source.put("kind", Files.isDirectory(o.source()) ? "folder" : "zip");
    source.put("files", fileHashes.size());
    source.put("sha256", sourceDigest(fileHashes));
    if (!Files.isDirectory(o.source())) { // a zip: its own hash says it is unchanged, unextracted
      source.put("archive_sha256", Sha256.of(o.source()));
    }
    manifest.put("source", source);
    manifest.put("splits", splits);
    manifest.put("skipped_count", skipped.size());
    manifest.put("skipped", skipped);
    manifest.put("ignored_non_images", layout.nonImageFiles());
    try {
      byte[] json =
          new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(manifest);
      AtomicFiles.write(fresh.resolve(MANIFEST), json);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      replaceFolder(fresh, processed);
    } catch (IOException e) {
      throw new DataException(
          "cannot put the new set in place of " + processed + ": " + IoErrors.describe(e), e);
    }
    return processed;
  }

  /** A split's counts, and its shards as they are written. */
  private record Split(
      int count, Map<String, Integer> perClass, List<Future<Map<String, Object>>> shards) {
    /** The manifest's entry, once every shard is on disk. */
    Map<String, Object> summary() {
      List<Map<String, Object>> files = new ArrayList<>();
      for (Future<Map<String, Object>> f : shards) {
        files.add(await(f));
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("count", count);
      out.put("per_class", perClass);
      out.put("shards", files);
      return out;
    }
  }

  /**
   * Writes shards on their own threads while the workers decode the next images: hashing, copying
   * and flushing a shard to the disk costs a third of what decoding it does. A shard is 77 MB at
   * 224², so at most one more than there are writers waits in memory; past that the decoding waits
   * for the oldest write.
   */
  private static final class ShardWriter {
    private final ExecutorService threads;
    private final int most;
    private final ArrayDeque<Future<Map<String, Object>>> inFlight = new ArrayDeque<>();

    ShardWriter(int threads) {
      this.threads = Executors.newFixedThreadPool(threads);
      this.most = threads + 1;
    }

    Future<Map<String, Object>> submit(Callable<Map<String, Object>> write) {
      while (inFlight.size() >= most) {
        await(inFlight.removeFirst());
      }
      Future<Map<String, Object>> f = threads.submit(write);
      inFlight.addLast(f);
      return f;
    }

    /**
     * Stops the threads and waits for them: after a failure, writes still running are interrupted
     * and have deleted their temporary files before the failure reaches the caller.
     */
    void close() {
      threads.shutdownNow();
      try {
        threads.awaitTermination(1, TimeUnit.MINUTES);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static Split writeSplit(
      String split,
      List<Item> items,
      Options o,
      List<String> classes,
      Path dir,
      ForkJoinPool pool,
      ShardWriter writer,
      Progress progress,
      List<Map<String, String>> skipped,
      Map<String, String> fileHashes) {
    List<Future<Map<String, Object>>> shards = new ArrayList<>();
    Map<String, Integer> perClass = new LinkedHashMap<>();
    for (String c : classes) {
      perClass.put(c, 0);
    }
    int count = 0;
    int image = 3 * o.size() * o.size();
    List<Decoded> pending = new ArrayList<>();
    // The workers decode a chunk ahead: while this thread packs and hands over one chunk's shard,
    // they are already on the next.
    Future<List<Decoded>> next = items.isEmpty() ? null : decodeChunk(items, 0, o, pool, progress);
    for (int from = 0; from < items.size(); from += o.shardSize()) {
      List<Decoded> decoded = decoded(next);
      boolean last = from + o.shardSize() >= items.size();
      if (!last) {
        next = decodeChunk(items, from + o.shardSize(), o, pool, progress);
      }
      for (Decoded d : decoded) {
        if (d.sha256() != null) {
          fileHashes.put(d.item().relative(), d.sha256());
        }
        if (d.error() != null) {
          skipped.add(Map.of("file", d.item().relative(), "reason", d.error()));
        } else {
          pending.add(d);
        }
      }
      while (pending.size() >= o.shardSize() || (last && !pending.isEmpty())) {
        List<Decoded> take =
            new ArrayList<>(pending.subList(0, Math.min(o.shardSize(), pending.size())));
        pending.subList(0, take.size()).clear();
        byte[] images = new byte[take.size() * image];
        long[] labels = new long[take.size()];
        for (int i = 0; i < take.size(); i++) {
          System.arraycopy(take.get(i).chw(), 0, images, i * image, image);
          labels[i] = take.get(i).item().label();
          perClass.merge(classes.get(take.get(i).item().label()), 1, Integer::sum);
        }
        Path file = dir.resolve(String.format("%s-%05d.safetensors", split, shards.size()));
        int n = take.size();
        shards.add(
            writer.submit(
                () -> {
                  MessageDigest sha = Sha256.digest();
                  try {
                    SafetensorsWriter.write(
                        file,
                        List.of(
                            new SafetensorsWriter.Entry(
                                "images",
                                SafeDType.U8,
                                new long[] {n, 3, o.size(), o.size()},
                                images),
                            SafetensorsWriter.Entry.i64("labels", new int[] {n}, labels)),
                        Map.of("split", split),
                        sha);
                  } catch (SafetensorsException e) {
                    throw new DataException("cannot write " + file + ": " + rootMessage(e), e);
                  }
                  Map<String, Object> shard = new LinkedHashMap<>();
                  shard.put("file", file.getFileName().toString());
                  shard.put("count", n);
                  shard.put("sha256", HexFormat.of().formatHex(sha.digest()));
                  shard.put("bytes", Files.size(file)); // what upToDate checks without hashing
                  return shard;
                }));
        count += n;
      }
    }
    return new Split(count, perClass, shards);
  }

  /** Starts decoding the chunk of images that begins at {@code from}. */
  private static Future<List<Decoded>> decodeChunk(
      List<Item> items, int from, Options o, ForkJoinPool pool, Progress progress) {
    List<Item> chunk = items.subList(from, Math.min(items.size(), from + o.shardSize()));
    return pool.submit(
        () -> chunk.parallelStream().map(it -> decode(it, o.size(), progress)).toList());
  }

  private static List<Decoded> decoded(Future<List<Decoded>> chunk) {
    try {
      return chunk.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DataException("interrupted");
    } catch (ExecutionException e) {
      throw new DataException("decoding failed: " + e.getCause().getMessage(), e.getCause());
    }
  }

  /** The innermost cause, in IoErrors' words (a file error with its reason). */
  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return IoErrors.describe(t);
  }

  /** A shard write's result, or its failure as the DataException it threw. */
  private static <T> T await(Future<T> f) {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new DataException("interrupted");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof DataException d) {
        throw d;
      }
      throw new DataException("writing a shard failed: " + e.getCause().getMessage(), e.getCause());
    }
  }

  private static Decoded decode(Item it, int size, Progress progress) {
    try {
      byte[] bytes = Files.readAllBytes(it.file());
      String hash = Sha256.of(bytes);
      try {
        return new Decoded(it, Images.resized(Images.decode(bytes), size), hash, null);
      } catch (IOException | RuntimeException e) {
        return new Decoded(it, null, hash, IoErrors.describe(e));
      }
    } catch (IOException e) {
      return new Decoded(it, null, null, "cannot read: " + IoErrors.describe(e));
    } finally {
      progress.step();
    }
  }

  private static <T> void shuffle(List<T> items, Rng rng) {
    for (int i = items.size() - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      T t = items.get(i);
      items.set(i, items.get(j));
      items.set(j, t);
    }
  }

  private static String relative(Path root, Path file) {
    return root.relativize(file).toString().replace('\\', '/');
  }

  /**
   * Extracts a zip into {@code dir}, replacing what an earlier extraction left there (images the
   * zip no longer has would otherwise join the set). It unpacks into a new folder beside {@code
   * dir} first, refusing entries that would land outside it, and replaces {@code dir} only once the
   * whole zip is out: a bad zip leaves the earlier extraction as it was.
   */
  static Path extract(Path zip, Path dir) {
    Path fresh = null;
    try {
      fresh = freshFolderFor(dir);
      try (InputStream in = Files.newInputStream(zip);
          ZipInputStream z = new ZipInputStream(in)) {
        for (ZipEntry e; (e = z.getNextEntry()) != null; ) {
          Path target = fresh.resolve(e.getName()).normalize();
          if (!target.startsWith(fresh)) {
            throw new DataException(
                zip + ": entry '" + e.getName() + "' would land outside " + dir);
          }
          if (e.isDirectory()) {
            Files.createDirectories(target);
          } else {
            Files.createDirectories(target.getParent());
            Files.copy(z, target, StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
      replaceFolder(fresh, dir);
      fresh = null;
      return dir.toRealPath();
    } catch (ZipException e) {
      throw new DataException(zip + ": not a readable zip (" + e.getMessage() + ")", e);
    } catch (IOException e) {
      throw new DataException(zip + ": cannot extract: " + IoErrors.describe(e), e);
    } finally {
      if (fresh != null) {
        try {
          Folders.deleteTree(fresh);
        } catch (IOException e) {
          // the failure being reported matters more; a leftover ".partial-" folder is harmless
        }
      }
    }
  }

  /**
   * A new empty folder beside {@code dir} to build its replacement in ({@code <name>.partial-*}),
   * after deleting the ones an interrupted run left: Ctrl-C ends the JVM without cleaning up, and a
   * partial processed set can be as large as the whole.
   */
  private static Path freshFolderFor(Path dir) {
    Path parent = dir.toAbsolutePath().getParent();
    String prefix = dir.getFileName() + ".partial-";
    try {
      Files.createDirectories(parent);
      try (Stream<Path> siblings = Files.list(parent)) {
        for (Path p : siblings.toList()) {
          if (p.getFileName().toString().startsWith(prefix)) {
            Folders.deleteTree(p);
          }
        }
      }
      Path fresh = Files.createTempDirectory(parent, prefix).toRealPath();
      try { // an ordinary folder once in place, not the owner-only one temporary folders start as
        Files.setPosixFilePermissions(fresh, PosixFilePermissions.fromString("rwxr-xr-x"));
      } catch (UnsupportedOperationException e) {
        // not a POSIX file system: keep its defaults
      }
      return fresh;
    } catch (IOException e) {
      throw new DataException("cannot write in " + parent + ": " + IoErrors.describe(e), e);
    }
  }

  /**
   * Puts {@code fresh} where {@code dir} is, replacing it whole: the old folder is renamed aside
   * first and deleted last (deleting a whole set takes seconds), so at no time is half of either
   * the one in place. What an interruption leaves aside is a {@code .partial-} folder.
   */
  private static void replaceFolder(Path fresh, Path dir) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
      return;
    }
    Path old = dir.resolveSibling(dir.getFileName() + ".partial-old-" + System.nanoTime());
    Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
    Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
    try {
      Folders.deleteTree(old);
    } catch (IOException e) {
      // the new folder is in place; the next preparation removes the old one
    }
  }

  /** Progress that shows nothing. */
  public static final Progress NO_PROGRESS =
      new Progress() {
        @Override
        public void start(long total) {}

        @Override
        public void step() {}

        @Override
        public void finish() {}
      };
}
