package dev.fingerspell.train.training;

import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.train.data.DataException;
import dev.fingerspell.train.data.Images;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.SourceLayout;
import dev.fingerspell.train.report.Confusion;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A model scored on labelled images: a split of a prepared set, or the images of a raw folder
 * (class folders, or the flat {@code CLASS_test.jpg} test folder).
 */
public final class Evaluation {
  private Evaluation() {}

  /**
   * The result.
   *
   * @param split what was evaluated
   * @param confusion the matrix over the model's labels
   * @param skipped raw images that could not be read
   */
  public record Result(String split, Confusion confusion, List<String> skipped) {}

  /** The default split of a prepared set: test when it has one, else val. */
  public static String defaultSplit(PreparedData data) {
    return data.has("test") ? "test" : "val";
  }

  /**
   * Scores {@code split} ({@code train}, {@code val}, {@code test} or {@code all}) of a prepared
   * set.
   */
  public static Result prepared(AslClassifier model, PreparedData data, String split) {
    List<String> splits = split.equals("all") ? List.of("train", "val", "test") : List.of(split);
    int[] toModel = labelMap(data.classes(), model.labels());
    Confusion c = new Confusion(model.labels());
    Preprocess pre = model.info().preprocess();
    for (String s : splits) {
      if (!data.has(s)) {
        if (split.equals("all")) {
          continue;
        }
        throw new DataException(data.dir() + " has no '" + s + "' split with images");
      }
      Tensor x = null;
      for (PreparedData.Batch b : data.batches(s, Batches.inferenceBatch())) {
        int[] truth = new int[b.labels().length];
        for (int i = 0; i < truth.length; i++) {
          truth[i] = toModel[(int) b.labels()[i]];
        }
        x = Batches.of(b, pre, null, x); // the last batch's input, done with once scored
        addPredictions(model, x, truth, c);
      }
    }
    return new Result(split, c, List.of());
  }

  /**
   * Scores the images of a raw folder. {@code split}: {@code test} (the flat test folder), {@code
   * train} (the class folders), {@code all} (both), or {@code default} (test when there is one).
   */
  public static Result raw(AslClassifier model, Path dir, String split) {
    SourceLayout layout = SourceLayout.find(dir);
    List<Path> files = new ArrayList<>();
    List<String> names = new ArrayList<>();
    String chosen = split.equals("default") ? (layout.test() ? "test" : "train") : split;
    boolean useTest = chosen.equals("test") || chosen.equals("all");
    boolean useTrain = chosen.equals("train") || chosen.equals("all");
    if (useTest) {
      for (Path f : layout.testFiles()) {
        String cls = layout.testClass(f);
        if (cls != null) {
          files.add(f);
          names.add(cls);
        }
      }
    }
    if (useTrain && layout.trainRoot() != null) {
      for (String cls : layout.classes()) {
        for (Path f : layout.classFiles(cls)) {
          files.add(f);
          names.add(cls);
        }
      }
    }
    if (files.isEmpty()) {
      throw new DataException("no labelled images for split '" + split + "' under " + dir);
    }
    Confusion c = new Confusion(model.labels());
    List<String> skipped = new ArrayList<>();
    Preprocess pre = model.info().preprocess();
    int batchSize = Batches.inferenceBatch();
    int[] labels = new int[files.size()];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = model.labels().indexOf(names.get(i));
      if (labels[i] < 0) {
        throw new DataException("class '" + names.get(i) + "' is not among the model's labels");
      }
    }
    int per = 3 * pre.size() * pre.size();
    for (int from = 0; from < files.size(); from += batchSize) {
      // decoded on all cores: a large photo takes longer to decode than to score
      List<Pixels> decoded =
          files.subList(from, Math.min(from + batchSize, files.size())).parallelStream()
              .map(f -> pixels(f, pre))
              .toList();
      List<float[]> batch = new ArrayList<>();
      List<Integer> truth = new ArrayList<>();
      for (int k = 0; k < decoded.size(); k++) {
        Pixels d = decoded.get(k);
        if (d.error() == null) {
          batch.add(d.values());
          truth.add(labels[from + k]);
        } else {
          skipped.add(files.get(from + k) + ": " + d.error());
        }
      }
      if (batch.isEmpty()) {
        continue;
      }
      float[] all = new float[batch.size() * per];
      for (int k = 0; k < batch.size(); k++) {
        System.arraycopy(batch.get(k), 0, all, k * per, per);
      }
      int[] t = truth.stream().mapToInt(Integer::intValue).toArray();
      addPredictions(model, Tensor.of(all, batch.size(), 3, pre.size(), pre.size()), t, c);
    }
    return new Result(chosen, c, skipped);
  }

  /** A file's preprocessed pixels, or why it has none. */
  private record Pixels(float[] values, String error) {}

  private static Pixels pixels(Path file, Preprocess pre) {
    try {
      Images.Rgb img = Images.decode(Files.readAllBytes(file));
      return new Pixels(pre.fromRgb(img.chw(), img.height(), img.width()), null);
    } catch (IOException | RuntimeException e) {
      return new Pixels(null, IoErrors.describe(e));
    }
  }

  private static void addPredictions(AslClassifier model, Tensor x, int[] truth, Confusion c) {
    float[] logits = model.logits(x).toFloatArray();
    int[] pred = Batches.argmax(logits, truth.length, model.labels().size());
    for (int i = 0; i < truth.length; i++) {
      c.add(truth[i], pred[i]);
    }
  }

  private static int[] labelMap(List<String> dataClasses, List<String> modelLabels) {
    int[] map = new int[dataClasses.size()];
    for (int i = 0; i < map.length; i++) {
      map[i] = modelLabels.indexOf(dataClasses.get(i));
      if (map[i] < 0) {
        throw new DataException(
            "data class '"
                + dataClasses.get(i)
                + "' is not among the model's labels "
                + modelLabels);
      }
    }
    return map;
  }
}
