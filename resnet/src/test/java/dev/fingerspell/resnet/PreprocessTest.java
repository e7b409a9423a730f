package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

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
}
