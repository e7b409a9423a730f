package dev.fingerspell.train;

import dev.fingerspell.resnet.AslLabels;
import dev.fingerspell.resnet.ModelFile;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Rng;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** What the command-line tests make: seeded untrained models and images of seeded noise. */
public final class Fixtures {
  private Fixtures() {}

  /**
   * An untrained ResNet18 drawn from {@code seed}, with the 29 ASL labels and ImageNet statistics
   * at {@code size}², saved to {@code file}.
   */
  public static Path randomModel(Path file, long seed, int size) {
    ModelFile.save(
        new ResNet18(29, new Rng(seed)),
        file,
        new ModelFile.Info(
            AslLabels.NAMES,
            new Preprocess(size, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD),
            null));
    return file;
  }

  /** A PNG, {@code w × h}, of noise drawn from {@code seed}. */
  public static byte[] noisePng(long seed, int w, int h) throws IOException {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Rng rng = new Rng(seed);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, (int) (rng.nextLong() >>> 40));
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }
}
