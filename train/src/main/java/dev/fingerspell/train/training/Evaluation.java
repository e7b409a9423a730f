package dev.fingerspell.train.training;

import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.train.data.DataException;
import dev.fingerspell.train.data.Images;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.SourceLayout;
import dev.fingerspell.train.report.Confusion;
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
  public record Result(
      String split, Confusion confusion, List<String> skipped, List<Mistake> mistakes) {}

  /** An image of a raw folder the model got wrong: its file, its class and the class predicted. */
  public record Mistake(Path file, String label, String predicted) {}

  /** The default split of a prepared set: test when it has one, else val. */
  public static String defaultSplit(PreparedData data) {
    return data.has("test") ? "test" : "val";
  }

  /**
   * Scores {@code split} ({@code train}, {@code val}, {@code test} or {@code all}) of a prepared
   * set.
   */
  public static Result prepared(AslClassifier model, PreparedData data, String split) {
    List<String> splits = splitsOf(split);
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
    return new Result(split, c, List.of(), List.of()); // shards keep no file names
  }

  /** The images of a prepared split ({@code all}: every split), before scoring. */
  public static int count(PreparedData data, String split) {
    return splitsOf(split).stream().mapToInt(data::count).sum();
  }

  /** The prepared splits {@code split} names: itself, or all three for {@code all}. */
  private static List<String> splitsOf(String split) {
    return split.equals("all") ? List.of("train", "val", "test") : List.of(split);
  }

  /** The labelled images of a raw folder's split, in the order they are scored. */
  public record RawSplit(String split, List<Path> files, List<String> classes) {}

  /**
   * Lists the images of a raw folder. {@code split}: {@code test} (the flat test folder), {@code
   * train} (the class folders), {@code all} (both), or {@code default} (test when there is one).
   */
  public static RawSplit rawSplit(Path dir, String split) {
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
    return new RawSplit(chosen, files, names);
  }

  /** Scores the images of a raw folder's split ({@link #rawSplit}). */
  public static Result raw(AslClassifier model, RawSplit set) {
    List<Path> files = set.files();
    List<String> names = set.classes();
    Confusion c = new Confusion(model.labels());
    List<String> skipped = new ArrayList<>();
    List<Mistake> mistakes = new ArrayList<>();
    Preprocess pre = model.info().preprocess();
    int batchSize = Batches.inferenceBatch();
    int[] labels = new int[files.size()];
    for (int i = 0; i < labels.length; i++) {
      labels[i] = model.labels().indexOf(names.get(i));
      if (labels[i] < 0) {
        throw new DataException("class '" + names.get(i) + "' is not among the model's labels");
      }
    }
    for (int from = 0; from < files.size(); from += batchSize) {
      int to = Math.min(from + batchSize, files.size());
      Images.Batch batch = Images.batch(files.subList(from, to), pre);
      skipped.addAll(batch.errors());
      if (!batch.good().isEmpty()) {
        int[] t = new int[batch.index().length];
        for (int k = 0; k < t.length; k++) {
          t[k] = labels[from + batch.index()[k]];
        }
        int[] pred = addPredictions(model, batch.tensor(pre), t, c);
        for (int k = 0; k < t.length; k++) {
          if (pred[k] != t[k]) {
            List<String> classes = model.labels();
            mistakes.add(
                new Mistake(batch.good().get(k).file(), classes.get(t[k]), classes.get(pred[k])));
          }
        }
      }
    }
    return new Result(set.split(), c, skipped, mistakes);
  }

  /** Scores a batch into {@code c}; returns the predicted classes. */
  private static int[] addPredictions(AslClassifier model, Tensor x, int[] truth, Confusion c) {
    float[] logits = model.logits(x).toFloatArray();
    int[] pred = Batches.argmax(logits, truth.length, model.labels().size());
    for (int i = 0; i < truth.length; i++) {
      c.add(truth[i], pred[i]);
    }
    return pred;
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
