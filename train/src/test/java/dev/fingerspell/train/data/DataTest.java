package dev.fingerspell.train.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.resnet.AslLabels;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataTest {
  @TempDir static Path dir;
  static Path raw;

  @BeforeAll
  static void synth() throws IOException {
    raw = dir.resolve("raw");
    assertEquals(29 * 5 + 28, SynthData.write(raw, 5, 3));
    // what real downloads carry besides images, and one broken image
    Path a = raw.resolve("asl_alphabet_train/asl_alphabet_train/A");
    Files.writeString(a.resolve(".DS_Store"), "junk");
    Files.writeString(a.resolve("A999.jpg"), "not really a jpeg");
    // and one cut short, as an interrupted copy leaves it: ImageIO alone decodes it, gray below
    Path b = raw.resolve("asl_alphabet_train/asl_alphabet_train/B");
    byte[] whole = Files.readAllBytes(b.resolve("B1.jpg"));
    Files.write(b.resolve("B999.jpg"), java.util.Arrays.copyOf(whole, whole.length * 2 / 3));
    // and a phone's HEIC, which no reader here knows: listed with what to do, not ignored
    Path c = raw.resolve("asl_alphabet_train/asl_alphabet_train/C");
    Files.write(c.resolve("C999.heic"), "\0\0\0\u0018ftypheic\0\0\0\0".getBytes("ISO-8859-1"));
  }

  private static Path prepare(Path src, String name, long seed) {
    return DataPrepare.run(
        new DataPrepare.Options(src, dir.resolve(name), 32, 0.2, seed, 50, 2),
        DataPrepare.NO_PROGRESS);
  }

  @Test
  void synthWritesTheKaggleLayout() throws IOException {
    Path test = raw.resolve("asl_alphabet_test/asl_alphabet_test");
    try (Stream<Path> s = Files.list(test)) {
      assertEquals(28, s.count());
    }
    assertFalse(Files.exists(test.resolve("del_test.jpg")));
    assertTrue(
        Files.isRegularFile(raw.resolve("asl_alphabet_train/asl_alphabet_train/space/space5.jpg")));
  }

  @Test
  void prepareWritesShardsAndAManifestAndSkipsTheBrokenImage() throws IOException {
    Path processed = prepare(raw, "p1", 42);
    JsonNode m = new ObjectMapper().readTree(processed.resolve("manifest.json").toFile());
    assertEquals(AslLabels.NAMES.size(), m.get("classes").size());
    assertEquals("A", m.get("classes").get(0).asText());
    assertEquals("space", m.get("classes").get(28).asText());
    assertEquals(3, m.get("skipped_count").asInt(), m.toString());
    java.util.Map<String, String> skipped = new java.util.TreeMap<>();
    for (JsonNode s : m.get("skipped")) {
      String file = s.get("file").asText();
      skipped.put(
          file.substring(file.lastIndexOf('/', file.lastIndexOf('/') - 1) + 1), s.toString());
    }
    assertEquals(
        java.util.Set.of("A/A999.jpg", "B/B999.jpg", "C/C999.heic"),
        skipped.keySet(),
        m.toString());
    assertTrue(skipped.get("B/B999.jpg").contains("cut short"), skipped.get("B/B999.jpg"));
    assertTrue(
        skipped.get("C/C999.heic").contains("a HEIC image, which this reader does not know"),
        skipped.get("C/C999.heic"));
    assertEquals(1, m.get("ignored_non_images").asInt());
    JsonNode splits = m.get("splits");
    // 5 good files a class (A, B, C have a sixth, broken): round(0.2 * 5) = 1 held out per class
    assertEquals(29, splits.get("val").get("count").asInt());
    assertEquals(29 * 4, splits.get("train").get("count").asInt());
    assertEquals(28, splits.get("test").get("count").asInt());
    assertEquals(1, splits.get("val").get("per_class").get("Z").asInt());
    assertEquals(3, splits.get("train").get("shards").size()); // 116 images in shards of 50
    assertEquals(64, splits.get("train").get("shards").get(0).get("sha256").asText().length());

    PreparedData data = PreparedData.open(dir.resolve("p1"));
    assertEquals(32, data.imageSize());
    PreparedData.Shard shard = data.shard("train", 0);
    assertEquals(50, shard.count());
    assertEquals(3 * 32 * 32, shard.image(0).length);
    // a shard is a sample of all classes, not a run of one: training reads one shard at a time
    assertTrue(java.util.Arrays.stream(shard.labels()).distinct().count() >= 20, "mixed classes");
  }

  @Test
  void theSplitDependsOnTheSeedOnly() throws IOException {
    Path a = prepare(raw, "s1", 7);
    Path b = prepare(raw, "s2", 7);
    Path c = prepare(raw, "s3", 8);
    assertEquals(shardHash(a), shardHash(b));
    assertFalse(shardHash(a).equals(shardHash(c)));
  }

  private static String shardHash(Path processed) throws IOException {
    JsonNode m = new ObjectMapper().readTree(processed.resolve("manifest.json").toFile());
    return m.get("splits").get("val").get("shards").get(0).get("sha256").asText();
  }

  @Test
  void aZipWithoutTheDoubledFolderWorksToo() throws IOException {
    Path zip = dir.resolve("asl.zip");
    Path train = raw.resolve("asl_alphabet_train/asl_alphabet_train");
    try (OutputStream out = Files.newOutputStream(zip);
        ZipOutputStream z = new ZipOutputStream(out);
        Stream<Path> files = Files.walk(train)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        z.putNextEntry(new ZipEntry("asl_alphabet_train/" + train.relativize(f)));
        Files.copy(f, z);
        z.closeEntry();
      }
      z.putNextEntry(new ZipEntry("README.txt"));
      z.write("extra".getBytes());
      z.closeEntry();
    }
    Path processed = prepare(zip, "z1", 42);
    JsonNode m = new ObjectMapper().readTree(processed.resolve("manifest.json").toFile());
    assertEquals("zip", m.get("source").get("kind").asText());
    assertEquals(29 * 4, m.get("splits").get("train").get("count").asInt());
    assertFalse(m.get("splits").has("test"));
    assertTrue(Files.isDirectory(dir.resolve("z1/interim/asl_alphabet_train/A")));
  }

  /** A zip of the training images whose names {@code keep} accepts, under one top folder. */
  private static Path zipOf(String name, java.util.function.Predicate<String> keep)
      throws IOException {
    Path zip = dir.resolve(name);
    Path train = raw.resolve("asl_alphabet_train/asl_alphabet_train");
    try (OutputStream out = Files.newOutputStream(zip);
        ZipOutputStream z = new ZipOutputStream(out);
        Stream<Path> files = Files.walk(train)) {
      for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
        if (keep.test(f.getFileName().toString())) {
          z.putNextEntry(new ZipEntry("asl_alphabet_train/" + train.relativize(f)));
          Files.copy(f, z);
          z.closeEntry();
        }
      }
    }
    return zip;
  }

  /**
   * A prepared set is up to date with its source while the source's images (by content) and the
   * settings are the same and its shards are in place, as dvc repro tells an unchanged stage: a zip
   * by its own hash, a folder by its images hashed again.
   */
  @Test
  void aSetIsUpToDateUntilItsImagesOrSettingsChange() throws IOException {
    Path source = dir.resolve("changing");
    try (Stream<Path> files = Files.walk(raw)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Path to = source.resolve(raw.relativize(f).toString());
        Files.createDirectories(to.getParent());
        Files.copy(f, to);
      }
    }
    DataPrepare.Options options =
        new DataPrepare.Options(source, dir.resolve("fresh"), 32, 0.2, 42, 50, 2);
    assertFalse(DataPrepare.upToDate(options), "nothing prepared yet");
    Path processed = DataPrepare.run(options, DataPrepare.NO_PROGRESS);
    assertTrue(DataPrepare.upToDate(options));
    for (DataPrepare.Options other :
        List.of(
            new DataPrepare.Options(source, dir.resolve("fresh"), 48, 0.2, 42, 50, 2),
            new DataPrepare.Options(source, dir.resolve("fresh"), 32, 0.1, 42, 50, 2),
            new DataPrepare.Options(source, dir.resolve("fresh"), 32, 0.2, 7, 50, 2),
            new DataPrepare.Options(source, dir.resolve("fresh"), 32, 0.2, 42, 40, 2))) {
      assertFalse(DataPrepare.upToDate(other), other.toString());
    }
    assertTrue(
        DataPrepare.upToDate(
            new DataPrepare.Options(source, dir.resolve("fresh"), 32, 0.2, 42, 50, 1)),
        "the threads decoding change nothing made");
    Path image = source.resolve("asl_alphabet_train/asl_alphabet_train/D/D2.jpg");
    Files.copy(
        source.resolve("asl_alphabet_train/asl_alphabet_train/D/D3.jpg"),
        image,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertFalse(DataPrepare.upToDate(options), "an image changed");
    DataPrepare.run(options, DataPrepare.NO_PROGRESS);
    assertTrue(DataPrepare.upToDate(options));
    Files.delete(processed.resolve("val-00000.safetensors"));
    assertFalse(DataPrepare.upToDate(options), "a shard is missing");

    Path zip = zipOf("uptodate.zip", name -> true);
    DataPrepare.Options fromZip =
        new DataPrepare.Options(zip, dir.resolve("zipped"), 32, 0.2, 42, 50, 2);
    DataPrepare.run(fromZip, DataPrepare.NO_PROGRESS);
    assertTrue(DataPrepare.upToDate(fromZip));
    zipOf("uptodate.zip", name -> !name.equals("E1.jpg"));
    assertFalse(DataPrepare.upToDate(fromZip), "the zip changed");
  }

  private static int trainAndVal(Path processed) throws IOException {
    JsonNode splits =
        new ObjectMapper().readTree(processed.resolve("manifest.json").toFile()).get("splits");
    return splits.get("train").get("count").asInt() + splits.get("val").get("count").asInt();
  }

  /**
   * Preparing again into the same folder from another zip takes that zip's images only: the images
   * of the first extraction, that the second zip no longer has, are gone.
   */
  @Test
  void aSecondZipReplacesTheFirstOnesImages() throws IOException {
    Path all = zipOf("all.zip", n -> true);
    Path fewer = zipOf("fewer.zip", n -> !n.matches(".*[12]\\.jpg"));
    int alone = trainAndVal(prepare(fewer, "fewer-alone", 42));
    assertEquals(trainAndVal(prepare(all, "again", 42)) - 2 * 29, alone);
    assertEquals(alone, trainAndVal(prepare(fewer, "again", 42)));
    assertFalse(Files.exists(dir.resolve("again/interim/asl_alphabet_train/A/A1.jpg")));
    assertEquals(
        "rwxr-xr-x",
        java.nio.file.attribute.PosixFilePermissions.toString(
            Files.getPosixFilePermissions(dir.resolve("again/interim"))));
    try (Stream<Path> s = Files.list(dir.resolve("again"))) {
      assertEquals(
          List.of("interim", "processed"),
          s.map(p -> p.getFileName().toString()).sorted().toList());
    }
  }

  /**
   * A user's own folder of class folders, not named as Kaggle names them and one level down, is the
   * training set; its classes are the folder names in ImageFolder's order (uppercase before
   * lowercase), and a folder without images is not a class.
   */
  @Test
  void aFolderOfClassFoldersIsATrainingSet() throws IOException {
    Path src = raw.resolve("asl_alphabet_train/asl_alphabet_train");
    Path mine = dir.resolve("mine/photos");
    String[][] copies = {{"b", "B"}, {"a", "A"}, {"Z", "Z"}};
    for (String[] c : copies) {
      Files.createDirectories(mine.resolve(c[0]));
      for (int i = 1; i <= 4; i++) {
        Files.copy(
            src.resolve(c[1]).resolve(c[1] + i + ".jpg"), mine.resolve(c[0]).resolve(i + ".jpg"));
      }
    }
    Files.createDirectories(mine.resolve("empty"));
    Files.writeString(mine.resolve("notes.txt"), "not a class");
    SourceLayout layout = SourceLayout.find(dir.resolve("mine"));
    assertEquals(mine, layout.trainRoot());
    assertEquals(List.of("Z", "a", "b"), layout.classes());
    Path processed =
        DataPrepare.run(
            new DataPrepare.Options(
                dir.resolve("mine"), dir.resolve("mine-out"), 32, 0.25, 1, 50, 2),
            DataPrepare.NO_PROGRESS);
    JsonNode m = new ObjectMapper().readTree(processed.resolve("manifest.json").toFile());
    assertEquals("[\"Z\",\"a\",\"b\"]", m.get("classes").toString());
    assertEquals(9, m.get("splits").get("train").get("count").asInt());
    assertEquals(3, m.get("splits").get("val").get("count").asInt());
    assertFalse(m.get("splits").has("test"));
    DataException none =
        assertThrows(DataException.class, () -> SourceLayout.find(mine.resolve("empty")));
    assertTrue(none.getMessage().contains("a folder of class folders"), none.getMessage());
  }

  /**
   * Preparing again into the same folder with larger shards leaves only the new shards: the old
   * ones, which the manifest no longer names, are deleted.
   */
  @Test
  void preparingAgainLeavesOnlyTheShardsTheManifestNames() throws IOException {
    Path small =
        DataPrepare.run(
            new DataPrepare.Options(raw, dir.resolve("reshard"), 32, 0.2, 42, 10, 2),
            DataPrepare.NO_PROGRESS);
    try (Stream<Path> s = Files.list(small)) {
      assertTrue(s.count() > 10, "many small shards first");
    }
    Path large = prepare(raw, "reshard", 42);
    JsonNode splits =
        new ObjectMapper().readTree(large.resolve("manifest.json").toFile()).get("splits");
    List<String> named = new ArrayList<>(List.of("manifest.json"));
    splits.forEach(split -> split.get("shards").forEach(s -> named.add(s.get("file").asText())));
    try (Stream<Path> s = Files.list(large)) {
      assertEquals(
          named.stream().sorted().toList(),
          s.map(p -> p.getFileName().toString()).sorted().toList());
    }
    assertEquals(6, named.size(), "train 116 and val 29 images in shards of 50, test 28");
  }

  /**
   * With more shards than may wait for the writers (3 threads: 2 writers, 3 shards in flight),
   * every shard is written whole, in its split's order, with the hash of its bytes on disk.
   */
  @Test
  void manyShardsAreEachWrittenWholeWithTheirHash() throws IOException {
    Path processed =
        DataPrepare.run(
            new DataPrepare.Options(raw, dir.resolve("many"), 32, 0.2, 42, 3, 3),
            DataPrepare.NO_PROGRESS);
    JsonNode splits =
        new ObjectMapper().readTree(processed.resolve("manifest.json").toFile()).get("splits");
    int images = 0;
    for (String split : List.of("train", "val", "test")) {
      JsonNode shards = splits.get(split).get("shards");
      int count = 0;
      for (int i = 0; i < shards.size(); i++) {
        JsonNode shard = shards.get(i);
        assertEquals(String.format("%s-%05d.safetensors", split, i), shard.get("file").asText());
        assertEquals(
            shard.get("sha256").asText(), Sha256.of(processed.resolve(shard.get("file").asText())));
        count += shard.get("count").asInt();
      }
      assertEquals(splits.get(split).get("count").asInt(), count);
      assertEquals((count + 2) / 3, shards.size(), split);
      images += count;
    }
    assertEquals(29 * 5 + 28, images);
    assertEquals(29 * 4, PreparedData.open(dir.resolve("many")).count("train"));
  }

  /**
   * A shard that cannot be written (here a folder stands where it goes, put there once the run has
   * made its new folder) is one line naming it, and the set prepared before is left as it was: a
   * failed preparation does not cost the one that worked. Nothing of the failed run stays behind.
   */
  @Test
  void aShardThatCannotBeWrittenIsOneLineAndTheEarlierSetStays() throws IOException {
    Path earlier = prepare(raw, "blocked", 42);
    String manifest = Files.readString(earlier.resolve("manifest.json"));
    Path[] blocked = new Path[1];
    DataPrepare.Progress blockVal =
        new DataPrepare.Progress() {
          @Override
          public void start(long total) {
            try (Stream<Path> s = Files.list(dir.resolve("blocked"))) {
              Path fresh =
                  s.filter(p -> p.getFileName().toString().startsWith("processed.partial-"))
                      .findFirst()
                      .orElseThrow();
              blocked[0] = fresh.resolve("val-00000.safetensors");
              Files.createDirectories(blocked[0].resolve("in-the-way"));
            } catch (IOException e) {
              throw new java.io.UncheckedIOException(e);
            }
          }

          @Override
          public void step() {}

          @Override
          public void finish() {}
        };
    DataException e =
        assertThrows(
            DataException.class,
            () ->
                DataPrepare.run(
                    new DataPrepare.Options(raw, dir.resolve("blocked"), 32, 0.2, 7, 50, 2),
                    blockVal));
    assertTrue(e.getMessage().startsWith("cannot write " + blocked[0] + ": "), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    assertEquals(manifest, Files.readString(earlier.resolve("manifest.json")));
    PreparedData.open(earlier).verify("train"); // every shard as the manifest says
    PreparedData.open(earlier).verify("val");
    try (Stream<Path> s = Files.list(dir.resolve("blocked"))) {
      assertEquals(List.of("processed"), s.map(p -> p.getFileName().toString()).toList());
    }
  }

  /**
   * Ctrl-C ends the JVM without cleaning up: what an interrupted preparation left beside the set
   * (its partial new folder, or the old set renamed aside) is removed by the next one.
   */
  @Test
  void whatAnInterruptedPreparationLeftIsRemovedByTheNext() throws IOException {
    Path earlier = prepare(raw, "leftover", 42);
    Path partial = dir.resolve("leftover/processed.partial-123");
    Files.createDirectories(partial);
    Files.write(partial.resolve("train-00000.safetensors"), new byte[1000]);
    Path prepared = prepare(raw, "leftover", 43);
    assertEquals(earlier, prepared);
    assertFalse(Files.exists(partial));
    try (Stream<Path> s = Files.list(dir.resolve("leftover"))) {
      assertEquals(List.of("processed"), s.map(p -> p.getFileName().toString()).toList());
    }
    PreparedData.open(prepared).verify("train");
  }

  /**
   * A zip entry that would land outside the folder (zip slip) is refused before anything of the zip
   * is used, and the folder's earlier extraction and prepared set stay as they were.
   */
  @Test
  void aZipEntryOutsideTheFolderIsRefusedAndNothingIsLost() throws IOException {
    Path good = zipOf("good.zip", n -> true);
    Path prepared = prepare(good, "kept", 42);
    int before = trainAndVal(prepared);
    for (String entry :
        List.of("../escaped.txt", "asl_alphabet_train/../../escaped.txt", "/tmp/escaped.txt")) {
      Path evil = dir.resolve("evil.zip");
      try (OutputStream out = Files.newOutputStream(evil);
          ZipOutputStream z = new ZipOutputStream(out)) {
        z.putNextEntry(new ZipEntry("asl_alphabet_train/A/A1.jpg"));
        z.write("replaced".getBytes());
        z.closeEntry();
        z.putNextEntry(new ZipEntry(entry));
        z.write("outside".getBytes());
        z.closeEntry();
      }
      DataException e = assertThrows(DataException.class, () -> prepare(evil, "kept", 42));
      assertTrue(e.getMessage().contains("would land outside"), e.getMessage());
      assertFalse(Files.exists(dir.resolve("kept/escaped.txt")), entry);
      assertFalse(Files.exists(dir.resolve("escaped.txt")), entry);
    }
    assertEquals(before, trainAndVal(prepared));
    assertTrue(
        Files.size(dir.resolve("kept/interim/asl_alphabet_train/A/A1.jpg")) > 100,
        "the earlier extraction is intact");
    try (Stream<Path> s = Files.list(dir.resolve("kept"))) {
      assertEquals(
          List.of("interim", "processed"),
          s.map(p -> p.getFileName().toString()).sorted().toList());
    }
    Path notZip = dir.resolve("broken.zip");
    Files.write(notZip, new byte[] {'P', 'K', 3, 4, 1, 2, 3});
    assertThrows(DataException.class, () -> prepare(notZip, "kept", 42));
    assertEquals(before, trainAndVal(prepared));
  }

  /**
   * Batches come shard after shard in order, each a slice of its shard with its own labels, while
   * the next shard is read ahead; batch sizes that divide a shard and ones that do not.
   */
  @Test
  void batchesAreEveryShardsImagesInOrder() {
    prepare(raw, "b1", 42);
    PreparedData data = PreparedData.open(dir.resolve("b1"));
    int per = 3 * 32 * 32;
    for (int batchSize : new int[] {1, 7, 50, 64}) {
      int shard = 0;
      int at = 0;
      int batches = 0;
      PreparedData.Shard s = data.shard("train", 0);
      for (PreparedData.Batch b : data.batches("train", batchSize)) {
        if (at == s.count()) {
          s = data.shard("train", ++shard);
          at = 0;
        }
        assertTrue(b.count() <= batchSize && b.count() > 0);
        assertEquals(b.count() * (long) per, b.bytes().byteSize());
        for (int i = 0; i < b.count(); i++) {
          assertEquals(s.labels()[at + i], b.labels()[i], "label, batch size " + batchSize);
          assertTrue(
              java.util.Arrays.equals(
                  s.image(at + i),
                  b.bytes().asSlice((long) i * per, per).toArray(ValueLayout.JAVA_BYTE)),
              "image " + (at + i) + " of shard " + shard + ", batch size " + batchSize);
        }
        at += b.count();
        batches++;
      }
      assertEquals(2, shard, "every shard");
      assertEquals(s.count(), at, "to the end of the last shard");
      assertTrue(batches >= 3);
    }
  }

  /** Training's shuffled shard order, read ahead: each shard is the one asked for. */
  @Test
  void shardsComeInTheOrderAsked() {
    prepare(raw, "b3", 42);
    PreparedData data = PreparedData.open(dir.resolve("b3"));
    int[] order = {2, 0, 1, 0};
    int k = 0;
    for (PreparedData.Shard s : data.shards("train", order)) {
      PreparedData.Shard want = data.shard("train", order[k]);
      assertTrue(java.util.Arrays.equals(want.labels(), s.labels()), "shard " + order[k]);
      assertTrue(java.util.Arrays.equals(want.image(want.count() - 1), s.image(s.count() - 1)));
      k++;
    }
    assertEquals(order.length, k);
  }

  /** A shard that breaks after the check fails its read-ahead with the one-line message. */
  @Test
  void aShardThatCannotBeReadAheadIsTheSameOneLineError() throws IOException {
    Path processed = prepare(raw, "b2", 42);
    PreparedData data = PreparedData.open(processed);
    Iterable<PreparedData.Batch> batches = data.batches("train", 50); // checked here
    Files.write(processed.resolve("train-00001.safetensors"), new byte[] {1, 2, 3});
    int seen = 0;
    DataException e = null;
    try {
      for (PreparedData.Batch b : batches) {
        seen += b.count();
      }
    } catch (DataException thrown) {
      e = thrown;
    }
    assertTrue(e != null, "the broken shard fails");
    assertTrue(e.getMessage().contains("train-00001.safetensors"), e.getMessage());
    assertEquals(
        e.getMessage().indexOf("train-00001"),
        e.getMessage().lastIndexOf("train-00001"),
        "the file is named once: " + e.getMessage());
    assertEquals(50, seen, "the first shard's images came before");
  }

  @Test
  void aTamperedShardIsAnErrorThatNamesIt() throws IOException {
    Path processed = prepare(raw, "t1", 42);
    Path shard = processed.resolve("val-00000.safetensors");
    byte[] bytes = Files.readAllBytes(shard);
    bytes[bytes.length - 1] ^= 1;
    Files.write(shard, bytes);
    PreparedData data = PreparedData.open(processed);
    DataException e = assertThrows(DataException.class, () -> data.verify("val"));
    assertTrue(
        e.getMessage().contains("val-00000.safetensors changed since it was prepared"),
        e.getMessage());
    data.verify("train"); // the other splits are intact
    Files.delete(processed.resolve("test-00000.safetensors"));
    DataException missing = assertThrows(DataException.class, () -> data.verify("test"));
    assertTrue(missing.getMessage().contains("is missing"), missing.getMessage());
  }

  @Test
  void sourcesWithoutImagesAndUnpreparedFoldersAreOneLine() throws IOException {
    Path empty = dir.resolve("empty");
    Files.createDirectories(empty);
    DataException e = assertThrows(DataException.class, () -> prepare(empty, "e1", 1));
    assertTrue(e.getMessage().contains("no images found"), e.getMessage());
    DataException notPrepared = assertThrows(DataException.class, () -> PreparedData.open(empty));
    assertTrue(notPrepared.getMessage().contains("run fingerspell data prepare first"));
  }
}
