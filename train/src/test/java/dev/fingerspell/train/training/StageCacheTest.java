package dev.fingerspell.train.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.SynthData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StageCacheTest {
  @TempDir static Path shared;
  static PreparedData data;
  static final Preprocess PRE =
      new Preprocess(32, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
  static FrozenResNet18 frozen;
  static FrozenResNet18 other;

  @TempDir Path dir;

  @BeforeAll
  static void prepare() {
    SynthData.write(shared.resolve("raw"), 3, 7);
    data =
        PreparedData.open(
            DataPrepare.run(
                new DataPrepare.Options(
                    shared.resolve("raw"), shared.resolve("processed"), 32, 0.2, 1, 40, 2),
                DataPrepare.NO_PROGRESS));
    frozen = FrozenResNet18.of(new ResNet18(29, new Rng(5)));
    other = FrozenResNet18.of(new ResNet18(29, new Rng(6)));
  }

  /**
   * Each image's cached output is what the stages make of it in a shuffled training batch, as
   * training without the cache ran them, and its label stays with it.
   */
  @Test
  void eachImageGetsItsOwnStageOutputAndLabel() {
    assertTrue(data.shardFiles("train").size() >= 2, "several shards");
    StageCache cache = new StageCache(dir, "weights", data, PRE);
    cache.open();
    StageCache.Maps maps = cache.shard(1, frozen, () -> false);
    PreparedData.Shard shard = data.shard("train", 1);
    assertEquals(shard.count(), maps.labels().length);
    assertArrayEquals(new int[] {shard.count(), 256, 2, 2}, maps.shape());
    assertArrayEquals(shard.labels(), maps.labels());

    int[] perm = Batches.permutation(shard.count(), new Rng(3));
    int n = 16;
    try (GradMode g = GradMode.noGrad()) {
      float[] want =
          frozen
              .forwardThrough(Batches.of(shard, perm, 0, n, PRE, null), StageCache.LAYER - 1)
              .toFloatArray();
      Tensor got = maps.batch(perm, 0, n);
      assertArrayEquals(new int[] {n, 256, 2, 2}, got.shape());
      assertArrayEquals(want, got.toFloatArray(), 1e-4f); // batch sizes differ
    }
  }

  /** A later run reads the output back instead of running the stages. */
  @Test
  void aLaterRunReadsTheCacheInsteadOfRunningTheStages() throws IOException {
    StageCache first = new StageCache(dir, "weights", data, PRE);
    String opened = first.open(); // once: a second open would be a second decision
    assertTrue(opened.contains("run once"), opened);
    int shards = data.shardFiles("train").size();
    float[][] computed = new float[shards][];
    for (int i = 0; i < shards; i++) {
      computed[i] = first.shard(i, frozen, () -> false).values();
    }
    assertEquals(shards, files().size(), "one file a shard");

    StageCache later = new StageCache(dir, "weights", data, PRE);
    String reopened = later.open();
    assertTrue(reopened.contains("run from their cache"), reopened);
    for (int i = 0; i < shards; i++) {
      // other stages would give other values: these are read back
      assertArrayEquals(computed[i], later.shard(i, other, () -> false).values(), "shard " + i);
    }
    // other weights: computed, not read, and kept in place of the first set
    StageCache otherWeights = new StageCache(dir, "other weights", data, PRE);
    String line = otherWeights.open();
    assertTrue(line.contains("in place of the cache of other weights, data or image size"), line);
    assertTrue(files().isEmpty(), "the other set is removed: " + files());
    float[] fresh = otherWeights.shard(0, other, () -> false).values();
    assertFalse(java.util.Arrays.equals(computed[0], fresh));
    assertEquals(1, files().size());
  }

  /** A damaged file is computed again and replaced; a stopped computation leaves no file. */
  @Test
  void aDamagedFileIsComputedAgainAndAStoppedOneLeavesNone() throws IOException {
    StageCache cache = new StageCache(dir, "weights", data, PRE);
    cache.open();
    assertNull(cache.shard(0, frozen, () -> true));
    assertTrue(files().isEmpty(), "nothing kept of a stopped shard");

    float[] good = cache.shard(0, frozen, () -> false).values();
    Path file = files().get(0);
    Files.write(file, new byte[] {1, 2, 3});
    assertArrayEquals(good, cache.shard(0, frozen, () -> false).values());
    assertTrue(Files.size(file) > 1000, "the damaged file is replaced");
  }

  /** Without a cache folder the output is computed as with one, and the user is told. */
  @Test
  void withoutRoomTheOutputIsStillComputedTheSameWay() throws IOException {
    StageCache kept = new StageCache(dir.resolve("kept"), "weights", data, PRE);
    kept.open();
    float[] want = kept.shard(0, frozen, () -> false).values();

    Path notAFolder = Files.writeString(dir.resolve("file"), "x");
    StageCache none = new StageCache(notAFolder.resolve("layer3"), "weights", data, PRE);
    String line = none.open();
    assertTrue(line.startsWith("the frozen stages' output is not cached: "), line);
    assertArrayEquals(want, none.shard(0, frozen, () -> false).values());
  }

  /** A disk without room for the set: computed as ever, nothing kept, the user told why. */
  @Test
  void aFullDiskKeepsNothingAndSaysHowMuchWasNeeded() throws IOException {
    StageCache full = new StageCache(dir, "weights", data, PRE, Long.MAX_VALUE / 2);
    String line = full.open();
    assertTrue(line.startsWith("the frozen stages' output is not cached: it needs "), line);
    assertTrue(line.contains("each epoch runs them again (`fingerspell cache`"), line);
    StageCache kept = new StageCache(dir.resolve("kept"), "weights", data, PRE);
    kept.open();
    assertArrayEquals(
        kept.shard(0, frozen, () -> false).values(), full.shard(0, frozen, () -> false).values());
    assertTrue(files().isEmpty(), "nothing kept");
  }

  private List<Path> files() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.toString().endsWith(".safetensors")).toList();
    }
  }
}
