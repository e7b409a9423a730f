package dev.fingerspell.train.data;

import dev.fingerspell.resnet.ImageFiles;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.weights.IoErrors;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Image files decoded ({@link ImageFiles}): to planar 8-bit RGB resized in 8 bits (prepared
 * shards), and to preprocessed batches ({@code predict}, {@code evaluate} on a raw folder).
 */
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
   * A file's preprocessed pixels {@code [3, size, size]}, or why it has none (a line naming it).
   */
  public record Pixels(Path file, float[] values, String error) {}

  /**
   * A batch of files decoded: the images that decoded, with each one's index among the files, and a
   * line for each that did not.
   */
  public record Batch(List<Pixels> good, int[] index, List<String> errors) {
    /** The images that decoded, as one {@code [N, 3, size, size]} tensor on the default device. */
    public Tensor tensor(Preprocess pre) {
      return pre.batch(good.stream().map(Pixels::values).toList());
    }

    /** The files of the images that decoded, in order. */
    public List<Path> files() {
      return good.stream().map(Pixels::file).toList();
    }
  }

  /**
   * Each file decoded ({@link #decode}) and preprocessed, then split into those that decoded and
   * the errors. They are decoded on all cores: a phone photo takes longer to decode (0.3 s for 12
   * MP) than to classify. Only the small preprocessed pixels are kept, never a batch of full-size
   * images.
   */
  public static Batch batch(List<Path> files, Preprocess pre) {
    return batchOf(files.parallelStream().map(f -> pixels(f, pre)).toList());
  }

  /** {@code decoded} split into the images that decoded and the errors. */
  public static Batch batchOf(List<Pixels> decoded) {
    List<Pixels> good = new ArrayList<>();
    int[] index = new int[decoded.size()];
    List<String> errors = new ArrayList<>();
    for (int k = 0; k < decoded.size(); k++) {
      if (decoded.get(k).error() == null) {
        index[good.size()] = k;
        good.add(decoded.get(k));
      } else {
        errors.add(decoded.get(k).error());
      }
    }
    return new Batch(good, Arrays.copyOf(index, good.size()), errors);
  }

  private static Pixels pixels(Path file, Preprocess pre) {
    try {
      if (!Files.isRegularFile(file)) {
        String name = file.toString();
        return new Pixels(
            file,
            null,
            name.startsWith("http:/") || name.startsWith("https:/") // Path folds the "//"
                ? name.replaceFirst(":/+", "://")
                    + ": addresses are not fetched; pipe the image in: curl -s ADDRESS |"
                    + " fingerspell predict --model FILE -"
                : file + ": no such file");
      }
      return pixels(file, Files.readAllBytes(file), pre);
    } catch (FileSystemException e) {
      return new Pixels(file, null, IoErrors.describe(e)); // names the file itself
    } catch (IOException | RuntimeException e) {
      return new Pixels(file, null, file + ": " + IoErrors.describe(e));
    }
  }

  /** The pixels of an image file's bytes already read ({@code name} for messages). */
  public static Pixels pixels(Path name, byte[] bytes, Preprocess pre) {
    try {
      Rgb img = decode(bytes);
      return new Pixels(name, pre.fromRgb(img.chw(), img.height(), img.width()), null);
    } catch (IOException | RuntimeException e) {
      return new Pixels(name, null, name + ": " + IoErrors.describe(e));
    }
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
