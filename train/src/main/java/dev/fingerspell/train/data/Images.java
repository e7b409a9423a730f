package dev.fingerspell.train.data;

import dev.fingerspell.resnet.ImageFiles;
import dev.fingerspell.resnet.Preprocess;
import java.awt.image.BufferedImage;
import java.io.IOException;

/** Decoding to planar 8-bit RGB, and resizing that stays in 8 bits (for prepared shards). */
public final class Images {
  private Images() {}

  /** A decoded image: planar RGB {@code [3, height, width]}. */
  public record Rgb(byte[] chw, int height, int width) {}

  /**
   * Decodes an image file's bytes, turned upright by its EXIF orientation ({@link ImageFiles});
   * throws with a one-line reason when it cannot.
   */
  public static Rgb decode(byte[] bytes) throws IOException {
    BufferedImage img = ImageFiles.decode(bytes);
    return new Rgb(Preprocess.planarRgb(img), img.getHeight(), img.getWidth());
  }

  /**
   * {@code size × size} planar RGB: the same bilinear resize as evaluation preprocessing, rounded
   * back to 8 bits (the image itself when it already has that size).
   */
  public static byte[] resized(Rgb img, int size) {
    if (img.height() == size && img.width() == size) {
      return img.chw();
    }
    return Preprocess.resizeBilinear(img.chw(), 3, img.height(), img.width(), size, size);
  }
}
