package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Planar RGB from an image: the direct path for decoded JPEGs agrees with getRGB's. */
class PreprocessTest {
  @Test
  void bgrFastPathMatchesColourModelPath() {
    Random r = new Random(5);
    BufferedImage bgr = new BufferedImage(13, 7, BufferedImage.TYPE_3BYTE_BGR);
    BufferedImage argb = new BufferedImage(13, 7, BufferedImage.TYPE_INT_RGB); // getRGB path
    for (int y = 0; y < 7; y++) {
      for (int x = 0; x < 13; x++) {
        int rgb = r.nextInt(1 << 24);
        bgr.setRGB(x, y, rgb);
        argb.setRGB(x, y, rgb);
      }
    }
    assertArrayEquals(Preprocess.planarRgb(argb), Preprocess.planarRgb(bgr));
    // A sub-image shares its parent's buffer, so it must take the general path.
    assertArrayEquals(
        Preprocess.planarRgb(argb.getSubimage(2, 1, 5, 4)),
        Preprocess.planarRgb(bgr.getSubimage(2, 1, 5, 4)));
  }

  /** A batch of 8-bit images, at the model's size (bytes path) or not (resized), as fromRgb. */
  @Test
  void batchFromRgbIsEachImageFromRgb() {
    Preprocess pre = new Preprocess(8, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    Random rng = new Random(5);
    for (int side : new int[] {8, 11}) {
      java.util.List<byte[]> images = new java.util.ArrayList<>();
      float[] want = new float[3 * 3 * 8 * 8];
      for (int i = 0; i < 3; i++) {
        byte[] chw = new byte[3 * side * side];
        rng.nextBytes(chw);
        images.add(chw);
        System.arraycopy(pre.fromRgb(chw, side, side), 0, want, i * 3 * 64, 3 * 64);
      }
      dev.fingerspell.tensor.Tensor batch = pre.batchFromRgb(images, side, side);
      assertArrayEquals(new int[] {3, 3, 8, 8}, batch.shape());
      assertArrayEquals(want, batch.toFloatArray(), "side " + side);
      // the same images as a slice of a longer store, one other image before them
      int per = 3 * side * side;
      byte[] store = new byte[5 * per];
      rng.nextBytes(store);
      for (int i = 0; i < 3; i++) {
        System.arraycopy(images.get(i), 0, store, (i + 1) * per, per);
      }
      java.lang.foreign.MemorySegment slice =
          java.lang.foreign.MemorySegment.ofArray(store).asSlice(per, 3L * per);
      assertArrayEquals(
          want, pre.batchFromRgb(slice, 3, side, side).toFloatArray(), "slice, side " + side);
      assertThrows(IllegalArgumentException.class, () -> pre.batchFromRgb(slice, 2, side, side));
    }
  }
}
