package dev.fingerspell.train.data;

import dev.fingerspell.resnet.AslLabels;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.weights.IoErrors;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.RoundRectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import javax.imageio.ImageIO;

/**
 * A synthetic ASL-like data set in the Kaggle layout, for the demo and the tests. Each class is a
 * "hand": a palm with five fingers, each extended or folded by the bits of the class's code, drawn
 * with random skin tone, position, size, rotation and a noisy background; {@code nothing} has no
 * hand. 200×200 JPEGs, as the real set.
 *
 * <pre>
 *   OUT/asl_alphabet_train/asl_alphabet_train/CLASS/CLASS{i}.jpg   (per class)
 *   OUT/asl_alphabet_test/asl_alphabet_test/CLASS_test.jpg         (28: no del, as the real set)
 * </pre>
 */
public final class SynthData {
  /** The real set's image size. */
  public static final int SIZE = 200;

  private static final Color[] SKIN = {
    new Color(0xF1C27D),
    new Color(0xE0AC69),
    new Color(0xC68642),
    new Color(0x8D5524),
    new Color(0xFFDBAC),
    new Color(0xD1A37C)
  };

  private SynthData() {}

  /** Writes the set; returns the number of images written. Images are drawn in parallel. */
  public static int write(Path out, int perClass, long seed) {
    if (perClass < 1) {
      throw new IllegalArgumentException("--per-class must be at least 1");
    }
    List<String> classes = AslLabels.NAMES;
    Path train = out.resolve("asl_alphabet_train").resolve("asl_alphabet_train");
    Path test = out.resolve("asl_alphabet_test").resolve("asl_alphabet_test");
    try {
      for (String c : classes) {
        Files.createDirectories(train.resolve(c));
      }
      Files.createDirectories(test);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot create the synthetic set: " + IoErrors.describe(e), e); // names the path
    }
    int n = classes.size() * perClass;
    IntStream.range(0, n)
        .parallel()
        .forEach(
            k -> {
              int c = k / perClass;
              int i = k % perClass + 1;
              String name = classes.get(c);
              save(
                  draw(c, new Rng(seed * 1_000_003L + k)),
                  train.resolve(name).resolve(name + i + ".jpg"));
            });
    int tests = 0;
    for (int c = 0; c < classes.size(); c++) {
      if (classes.get(c).equals("del")) {
        continue; // the real test folder has no del image
      }
      save(draw(c, new Rng(~seed * 7919L + c)), test.resolve(classes.get(c) + "_test.jpg"));
      tests++;
    }
    return n + tests;
  }

  private static void save(BufferedImage img, Path file) {
    try {
      if (!ImageIO.write(img, "jpg", file.toFile())) {
        throw new IOException("no JPEG writer");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file + ": " + IoErrors.describe(e), e);
    }
  }

  /** One image of class {@code c}. */
  static BufferedImage draw(int c, Rng rng) {
    BufferedImage img = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    // background: a vertical gradient of two random muted colours, plus speckle
    Color top = new Color(rng.nextInt(140), rng.nextInt(140), rng.nextInt(140));
    Color bottom = new Color(rng.nextInt(140), rng.nextInt(140), rng.nextInt(140));
    for (int y = 0; y < SIZE; y++) {
      float t = y / (float) SIZE;
      g.setColor(mix(top, bottom, t));
      g.drawLine(0, y, SIZE, y);
    }
    for (int k = 0; k < 400; k++) {
      int v = rng.nextInt(60);
      g.setColor(new Color(v, v, v));
      g.fillRect(rng.nextInt(SIZE), rng.nextInt(SIZE), 2, 2);
    }
    if (!AslLabels.NAMES.get(c).equals("nothing")) {
      int code = c + 1; // 1..29: a distinct non-zero 5-bit finger pattern per class
      Color skin = SKIN[rng.nextInt(SKIN.length)];
      double scale = 0.8 + 0.4 * rng.nextDouble();
      double angle = Math.toRadians(-20 + 40 * rng.nextDouble());
      double cx = SIZE / 2.0 + (rng.nextDouble() - 0.5) * 40;
      double cy = SIZE / 2.0 + 20 + (rng.nextDouble() - 0.5) * 30;
      AffineTransform saved = g.getTransform();
      g.translate(cx, cy);
      g.rotate(angle);
      g.scale(scale, scale);
      g.setColor(skin);
      g.fill(new Ellipse2D.Double(-38, -30, 76, 70)); // palm
      for (int f = 0; f < 5; f++) {
        boolean extended = ((code >> f) & 1) == 1;
        double fingerAngle = Math.toRadians(-70 + f * 35);
        double length = extended ? 62 : 22;
        AffineTransform palm = g.getTransform();
        g.rotate(fingerAngle);
        g.setColor(skin);
        g.fill(new RoundRectangle2D.Double(-8, -30 - length, 16, length + 6, 14, 14));
        g.setColor(skin.darker());
        g.setStroke(new BasicStroke(1.5f));
        g.draw(new RoundRectangle2D.Double(-8, -30 - length, 16, length + 6, 14, 14));
        g.setTransform(palm);
      }
      g.setTransform(saved);
    }
    g.dispose();
    return img;
  }

  private static Color mix(Color a, Color b, float t) {
    return new Color(
        Math.round(a.getRed() + (b.getRed() - a.getRed()) * t),
        Math.round(a.getGreen() + (b.getGreen() - a.getGreen()) * t),
        Math.round(a.getBlue() + (b.getBlue() - a.getBlue()) * t));
  }
}
