package dev.fingerspell.train.data;

import dev.fingerspell.resnet.Preprocess;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import javax.imageio.ImageIO;

/** Decoding to planar 8-bit RGB, and resizing that stays in 8 bits (for prepared shards). */
public final class Images {
  private Images() {}

  /** A decoded image: planar RGB {@code [3, height, width]}. */
  public record Rgb(byte[] chw, int height, int width) {}

  /** Decodes JPEG/PNG/BMP/GIF bytes; throws with a one-line reason when it cannot. */
  public static Rgb decode(byte[] bytes) throws IOException {
    BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
    if (img == null) {
      throw new IOException("not a decodable image");
    }
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
    float[] f = new float[img.chw().length];
    for (int i = 0; i < f.length; i++) {
      f[i] = img.chw()[i] & 0xff;
    }
    float[] r = Preprocess.resizeBilinear(f, 3, img.height(), img.width(), size, size);
    byte[] out = new byte[r.length];
    for (int i = 0; i < r.length; i++) {
      out[i] = (byte) Math.max(0, Math.min(255, Math.round(r[i])));
    }
    return out;
  }
}
