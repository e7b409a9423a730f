package dev.fingerspell.resnet;

import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The embeddable inference API: no dependency beyond the JDK.
 *
 * <pre>{@code
 * AslClassifier asl = AslClassifier.load(Path.of("asl.safetensors"));
 * List<AslClassifier.Prediction> top = asl.predict(ImageFiles.read(file), 3);
 * }</pre>
 *
 * <p>{@link ImageFiles#read} turns a photo upright by its EXIF orientation, as the command line
 * does; {@code ImageIO.read} would hand a phone's portrait photo over lying on its side.
 *
 * <p>A loaded classifier may serve many threads: its passes run one at a time.
 */
public final class AslClassifier {
  /**
   * One class and its probability.
   *
   * @param label the class name
   * @param index the class index
   * @param probability softmax probability
   */
  public record Prediction(String label, int index, float probability) {}

  private final ResNet18 model;
  private final ModelFile.Info info;

  /** For a loaded file, its network frozen for inference (folded batch norm); else null. */
  private final FrozenResNet18 frozen;

  private AslClassifier(ResNet18 model, ModelFile.Info info, boolean freeze) {
    this.model = model;
    model.eval();
    this.frozen = freeze ? FrozenResNet18.of(model) : null;
    this.info = info;
  }

  /** Loads a model file (see {@link ModelFile}). */
  public static AslClassifier load(Path path) {
    ModelFile.Loaded l = ModelFile.load(path);
    return new AslClassifier(l.model(), l.info(), true);
  }

  /**
   * Wraps a model already in memory; it runs as it is at each call (no frozen copy is taken, so it
   * may go on training).
   */
  public static AslClassifier of(ResNet18 model, ModelFile.Info info) {
    return new AslClassifier(model, info, false);
  }

  /** The class names. */
  public List<String> labels() {
    return info.labels();
  }

  /** The model's info (labels, preprocessing). */
  public ModelFile.Info info() {
    return info;
  }

  /** The network. */
  public ResNet18 model() {
    return model;
  }

  /** The {@code topK} most probable classes of one image, most probable first. */
  public List<Prediction> predict(BufferedImage image, int topK) {
    return predict(List.of(image), topK).get(0);
  }

  /** The {@code topK} most probable classes of each image. */
  public List<List<Prediction>> predict(List<BufferedImage> images, int topK) {
    return top(Ops.softmax(logits(images)).toFloatArray(), images.size(), topK);
  }

  /**
   * The {@code topK} most probable classes of each image of a batch already preprocessed, {@code
   * [N, 3, size, size]} ({@link Preprocess#pixels} of each image, one after another).
   */
  public List<List<Prediction>> predict(Tensor batch, int topK) {
    return top(Ops.softmax(logits(batch)).toFloatArray(), batch.size(0), topK);
  }

  private List<List<Prediction>> top(float[] probs, int images, int topK) {
    int classes = info.labels().size();
    List<List<Prediction>> out = new ArrayList<>();
    for (int i = 0; i < images; i++) {
      List<Prediction> row = new ArrayList<>(classes);
      for (int c = 0; c < classes; c++) {
        row.add(new Prediction(info.labels().get(c), c, probs[i * classes + c]));
      }
      row.sort(Comparator.comparingDouble(Prediction::probability).reversed());
      out.add(List.copyOf(row.subList(0, Math.min(Math.max(topK, 1), classes))));
    }
    return out;
  }

  /** Softmax probabilities, {@code [images × classes]} row-major. */
  public float[] probabilities(List<BufferedImage> images) {
    return Ops.softmax(logits(images)).toFloatArray();
  }

  /** The logits of a batch, {@code [images × classes]}, no graph recorded. */
  public Tensor logits(List<BufferedImage> images) {
    if (images.isEmpty()) { // a server's batch may come up empty: nothing to run
      return Tensor.zeros(0, info.labels().size());
    }
    return logits(info.preprocess().apply(images));
  }

  /**
   * The logits of a preprocessed batch {@code [N, 3, size, size]} ({@link Preprocess}), no graph
   * recorded: through the folded network for a loaded file, else the model as it is now.
   */
  public Tensor logits(Tensor x) {
    if (frozen != null) {
      return frozen.forward(x);
    }
    model.eval();
    try (GradMode g = GradMode.noGrad()) {
      return model.forward(x);
    }
  }
}
