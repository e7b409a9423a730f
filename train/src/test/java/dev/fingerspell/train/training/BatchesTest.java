package dev.fingerspell.train.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.train.data.PreparedData;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Training batches from a shard's shuffled images, with and without augmentation. */
class BatchesTest {
  private static final int SIZE = 16;
  private static final int PER = 3 * SIZE * SIZE;
  private static final Preprocess PRE =
      new Preprocess(SIZE, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);

  /** Seven images of different content, each a gradient from its own starting value. */
  private static PreparedData.Shard shard() {
    int count = 7;
    byte[] images = new byte[count * PER];
    for (int i = 0; i < images.length; i++) {
      images[i] = (byte) (i / PER * 31 + i % 97);
    }
    return new PreparedData.Shard(MemorySegment.ofArray(images), new long[count], count, SIZE);
  }

  @Test
  void aShuffledBatchHoldsTheImagesInTheGivenOrder() {
    PreparedData.Shard shard = shard();
    int[] order = {6, 2, 5, 0, 3, 1, 4};
    float[] got = Batches.of(shard, order, 2, 3, PRE, null).toFloatArray();
    byte[] expected = new byte[3 * PER];
    for (int i = 0; i < 3; i++) {
      System.arraycopy(shard.image(order[2 + i]), 0, expected, i * PER, PER);
    }
    assertArrayEquals(
        PRE.batchFromRgb(MemorySegment.ofArray(expected), 3, SIZE, SIZE).toFloatArray(), got);
  }

  /**
   * Augmenting straight from the shard gives, draw for draw, what augmenting the gathered images
   * gave before (one copy of the batch fewer).
   */
  @Test
  void augmentingFromTheShardEqualsAugmentingTheGatheredImages() {
    PreparedData.Shard shard = shard();
    int[] order = {6, 2, 5, 0, 3, 1, 4};
    MemorySegment gathered = MemorySegment.ofArray(shard.gather(order, 1, 5));
    float[] before =
        Batches.of(new PreparedData.Batch(gathered, new long[5], SIZE), PRE, new Rng(11), null)
            .toFloatArray();
    float[] now = Batches.of(shard, order, 1, 5, PRE, new Rng(11)).toFloatArray();
    assertArrayEquals(before, now);
    float[] plain = Batches.of(shard, order, 1, 5, PRE, null).toFloatArray();
    assertFalse(Arrays.equals(plain, now), "augmentation changed the images");
    float[] otherDraw = Batches.of(shard, order, 1, 5, PRE, new Rng(12)).toFloatArray();
    assertFalse(Arrays.equals(otherDraw, now), "another seed, other draws");
  }

  /**
   * A uniform image stays uniform under the shift (edges are repeated, nothing black slides in),
   * and its value moves by at most the ±20% of brightness and contrast.
   */
  @Test
  void augmentationRepeatsEdgesAndBoundsTheColourChange() {
    byte[] grey = new byte[PER];
    Arrays.fill(grey, (byte) 100);
    Rng rng = new Rng(3);
    for (int trial = 0; trial < 50; trial++) {
      byte[] out = new byte[PER];
      Batches.augment(MemorySegment.ofArray(grey), 0, SIZE, rng, out, 0);
      int v = out[0] & 0xff;
      for (byte b : out) {
        assertEquals(v, b & 0xff, "uniform after the shift");
      }
      // ((100/255 - 0.5) * c + 0.5) * b with c, b in [0.8, 1.2]
      assertTrue(v >= 71 && v <= 129, "value " + v);
    }
  }
}
