package dev.fingerspell.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.report.Confusion;
import dev.fingerspell.train.report.Plots;
import dev.fingerspell.train.training.Evaluation;
import dev.fingerspell.train.training.RunEvaluations;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell evaluate --model FILE --data DIR}. */
@Command(
    name = "evaluate",
    mixinStandardHelpOptions = true,
    description =
        "Score a model on a prepared set or a raw folder: accuracy, per-class precision, recall"
            + " and F1, and a confusion-matrix PNG.")
final class EvaluateCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ModelOption model = new ModelOption();

  @Mixin DeviceOption device = new DeviceOption();

  @Option(
      names = "--data",
      paramLabel = "DIR",
      description =
          "a prepared set or a raw image folder (default with a run folder: the set it trained on)")
  Path data;

  @Option(
      names = "--split",
      paramLabel = "SPLIT",
      description = "test, val, train or all (default: test if present, else val)")
  String split;

  @Option(
      names = "--plot",
      paramLabel = "FILE",
      description = "confusion matrix PNG (default: confusion-SPLIT.png)")
  Path plot;

  @Option(names = "--json", description = "print one JSON object")
  boolean json;

  /** Misclassified images listed in the text output (all of them in --json). */
  private static final int SHOWN = 20;

  @Override
  public Integer call() throws Exception {
    Cli cli = main.cli();
    if (split != null && !Set.of("test", "val", "train", "all").contains(split)) {
      throw new IllegalArgumentException(
          "--split must be test, val, train or all, not '" + split + "'");
    }
    if (data == null) {
      data = RunsCommand.trainedOn(model.given);
    }
    device.apply(); // a device that cannot be had is said before the data is read
    Evaluation.Result r;
    String dataVersion = null;
    if (PreparedData.isPrepared(data)) {
      PreparedData d = PreparedData.open(data);
      dataVersion = d.fingerprint();
      String chosen = split == null ? Evaluation.defaultSplit(d) : split;
      device.apply(Evaluation.count(d, chosen)); // the Kaggle test split's 28: ND4J, cold
      r = Evaluation.prepared(AslClassifier.load(model.file()), d, chosen);
    } else {
      Evaluation.RawSplit images = Evaluation.rawSplit(data, split == null ? "default" : split);
      device.apply(images.files().size());
      r = Evaluation.raw(AslClassifier.load(model.file()), images);
    }
    for (String s : r.skipped()) {
      cli.err().println("fingerspell: skipped " + s);
    }
    Confusion c = r.confusion();
    Path png = plot != null ? plot : Path.of("confusion-" + r.split() + ".png");
    Plots.textProblem().ifPresent(problem -> cli.err().println("fingerspell: warning: " + problem));
    Plots.confusion(png, "Evaluation (" + r.split() + ")", c);
    // a run folder keeps its model's scores, which runs shows beside the training's
    Path recorded =
        RunsCommand.isRun(model.given)
            ? RunEvaluations.record(
                model.given, r.split(), data.toString(), dataVersion, c.total(), c.accuracy())
            : null;
    if (json) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("model", model.given.toString());
      o.put("data", data.toString());
      o.put("split", r.split());
      o.put("count", c.total());
      o.put("accuracy", c.accuracy());
      o.put("labels", c.labels());
      o.put("per_class", c.perClass());
      o.put("confusion_matrix", c.rows());
      o.put("confusion_png", png.toString());
      o.put("skipped", r.skipped().size());
      o.put("recorded", recorded == null ? null : recorded.toString());
      o.put(
          "mistakes",
          r.mistakes().stream()
              .map(
                  m ->
                      Map.of(
                          "file",
                          m.file().toString(),
                          "label",
                          m.label(),
                          "predicted",
                          m.predicted()))
              .toList());
      cli.out().println(new ObjectMapper().writeValueAsString(o));
    } else {
      cli.out().printf("%s split: %d images, accuracy %.4f%n", r.split(), c.total(), c.accuracy());
      cli.out().printf("%-8s %9s %9s %9s %8s%n", "class", "precision", "recall", "f1", "support");
      for (int i = 0; i < c.labels().size(); i++) {
        if (c.support(i) == 0 && c.precision(i) == 0) {
          continue;
        }
        cli.out()
            .printf(
                "%-8s %9.3f %9.3f %9.3f %8d%n",
                c.labels().get(i), c.precision(i), c.recall(i), c.f1(i), c.support(i));
      }
      cli.out().println("confusion matrix: " + png);
      if (recorded != null) {
        cli.out().println("recorded in " + recorded);
      }
      if (!r.mistakes().isEmpty()) {
        cli.out().println("misclassified (" + r.mistakes().size() + "):");
        for (Evaluation.Mistake m : r.mistakes().subList(0, Math.min(SHOWN, r.mistakes().size()))) {
          cli.out().println("  " + m.file() + ": " + m.label() + " taken for " + m.predicted());
        }
        if (r.mistakes().size() > SHOWN) {
          cli.out()
              .println("  ... and " + (r.mistakes().size() - SHOWN) + " more (--json lists all)");
        }
      }
    }
    return r.skipped().isEmpty() ? 0 : 1;
  }
}
