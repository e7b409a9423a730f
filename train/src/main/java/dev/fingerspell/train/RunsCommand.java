package dev.fingerspell.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.report.Comparison;
import dev.fingerspell.train.report.Report;
import dev.fingerspell.train.training.RunEvaluations;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code fingerspell runs [FOLDER ...] [--json] [--html FILE]}: the runs side by side, as W&B's
 * runs table shows them (and, with {@code --html}, its comparison page: {@link Comparison}): status
 * (running while a process trains in the folder), epochs, best validation accuracy (training
 * accuracy, marked, for a data set without validation images), recipe and time, read from each run
 * folder's {@code config.yaml}, {@code metrics.jsonl} and {@code run.json}.
 */
@Command(
    name = "runs",
    mixinStandardHelpOptions = true,
    description = {
      "List training runs: status, epochs, best validation accuracy, recipe, time.",
      "Each FOLDER is a run folder or a folder of them (default: runs)."
    })
final class RunsCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Parameters(paramLabel = "FOLDER", arity = "0..*", description = "run folders, or their parent")
  List<Path> folders = new ArrayList<>();

  @Option(names = "--json", description = "print one JSON array instead of a table")
  boolean json;

  @Option(
      names = "--best",
      description =
          "print only the folder of the run with the best validation accuracy (for"
              + " `serve --model $(fingerspell runs --best)`)")
  boolean bestOnly;

  @Option(
      names = "--html",
      paramLabel = "FILE",
      description =
          "also write one page comparing the runs: their table, the settings that differ, and"
              + " the learning curves with a line per run")
  Path html;

  /** The runs table's columns, on the console and on the comparison page. */
  static final List<String> COLUMNS =
      List.of(
          "run",
          "status",
          "epochs",
          "best acc",
          "evaluated",
          "trains",
          "optimizer",
          "size",
          "time");

  /** What a run folder says of its run; NaN and -1 where it says nothing. */
  record Run(
      String name,
      Path dir,
      String status,
      int epochs,
      int epochsTotal,
      double bestAccuracy,
      int bestEpoch,
      boolean bestByTraining,
      String trainable,
      String optimizer,
      double lr,
      int imageSize,
      double seconds,
      boolean resumable,
      String dataFingerprint,
      String weightsSha256,
      String ranOn,
      List<Report.Epoch> metrics,
      List<RunEvaluations.Entry> evaluations,
      Boolean dataChanged,
      Map<String, String> settings,
      Map<String, String> inputs) {}

  @Override
  public Integer call() {
    PrintWriter out = main.cli().out();
    List<Path> roots = folders.isEmpty() ? List.of(Path.of("runs")) : folders;
    String where = String.join(", ", roots.stream().map(Path::toString).toList());
    List<Run> runs = new ArrayList<>();
    for (Path root : roots) {
      if (isRun(root)) {
        runs.add(read(root, root.getFileName().toString()));
      } else if (Files.isDirectory(root)) {
        collect(root, root, 0, runs);
      } else {
        throw new IllegalArgumentException(
            root + " is not a folder" + (folders.isEmpty() ? " (no runs here yet)" : ""));
      }
    }
    if (html != null && runs.isEmpty()) {
      throw new IllegalArgumentException("no runs to compare in " + where);
    }
    if (bestOnly) {
      if (json || html != null) {
        throw new IllegalArgumentException(
            "--best prints one folder: give it without --json and --html");
      }
      Run best =
          best(runs)
              .orElseThrow(
                  () ->
                      new IllegalArgumentException("no run in " + where + " has a best epoch yet"));
      out.println(best.dir());
      return 0;
    }
    if (json) {
      out.println(toJson(runs));
    } else if (runs.isEmpty()) {
      out.println("no runs in " + where);
    } else {
      table(out, runs);
    }
    if (html != null) {
      compare(html, runs);
      if (!json) {
        out.println("comparison: " + html.toAbsolutePath());
      }
    }
    return 0;
  }

  /**
   * The run with the best validation accuracy (the first of equals); where none was validated, the
   * best by training accuracy. Empty when no run has a best epoch.
   */
  static Optional<Run> best(List<Run> runs) {
    List<Run> validated =
        runs.stream().filter(r -> r.bestEpoch() > 0 && !r.bestByTraining()).toList();
    List<Run> candidates =
        validated.isEmpty() ? runs.stream().filter(r -> r.bestEpoch() > 0).toList() : validated;
    Run best = null;
    for (Run r : candidates) {
      if (best == null || r.bestAccuracy() > best.bestAccuracy()) {
        best = r;
      }
    }
    return Optional.ofNullable(best);
  }

  /** "NAME: validation accuracy 0.9655 at epoch 6", for the best run. */
  private static String bestLine(Run r) {
    return String.format(
        Locale.ROOT,
        "%s: %s accuracy %.4f at epoch %d",
        r.name(),
        r.bestByTraining() ? "training" : "validation",
        r.bestAccuracy(),
        r.bestEpoch());
  }

  /** Whether {@code dir} is a run folder (training wrote its config.yaml there). */
  static boolean isRun(Path dir) {
    return Files.isRegularFile(dir.resolve("config.yaml"));
  }

  /**
   * The run folders in {@code dir}, and in its folders that are not runs (a multirun's), three
   * levels down at most, by name: each named by its path from {@code root}.
   */
  private static void collect(Path root, Path dir, int depth, List<Run> runs) {
    List<Path> children;
    try (Stream<Path> list = Files.list(dir)) {
      children = list.filter(Files::isDirectory).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir + ": " + IoErrors.describe(e), e);
    }
    for (Path child : children) {
      if (isRun(child)) {
        runs.add(read(child, root.relativize(child).toString()));
      } else if (depth < 2) {
        collect(root, child, depth + 1, runs);
      }
    }
  }

  /** Writes {@code html}: the runs side by side ({@link Comparison}). */
  static void compare(Path html, List<Run> runs) {
    List<Comparison.Run> compared = new ArrayList<>();
    for (Run r : runs) {
      Path report = r.dir().resolve("report.html");
      compared.add(
          new Comparison.Run(
              r.name(),
              cells(r),
              r.metrics(),
              r.settings(),
              r.inputs(),
              Files.isRegularFile(report) ? report : null,
              r.bestEpoch() > 0 ? r.bestAccuracy() : Double.NaN));
    }
    Comparison.write(html, COLUMNS, compared, best(runs).map(RunsCommand::bestLine).orElse(null));
  }

  /** What a run was started with: its config flattened to dotted keys, less run.dir (its own). */
  private static Map<String, String> settings(JsonNode config) {
    Map<String, String> out = new LinkedHashMap<>();
    flatten("", config, out);
    out.remove("run.dir");
    return out;
  }

  /** From a run's record: the versions of its inputs and what it ran on. */
  private static Map<String, String> inputs(JsonNode record) {
    Map<String, String> out = new LinkedHashMap<>();
    String data = record.path("data_fingerprint").asText(null);
    if (data != null) {
      out.put("data version", abbreviated(data));
    }
    String weights = record.path("weights_sha256").asText(null);
    if (weights != null) {
      out.put("starting weights (sha256)", abbreviated(weights));
    }
    String ranOn = record.path("ran_on").asText(null);
    if (ranOn != null) {
      out.put("ran on", ranOn);
    }
    return out;
  }

  /** A hash as git abbreviates one: its first 12 digits tell runs apart. */
  private static String abbreviated(String hash) {
    return hash.substring(0, Math.min(12, hash.length()));
  }

  private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
    if (node.isObject()) {
      node.properties().forEach(e -> flatten(prefix + e.getKey() + ".", e.getValue(), out));
    } else if (!prefix.isEmpty()) {
      String value =
          node.isFloatingPointNumber() // 0.0005 as it was given, not as YAML wrote it (5.0E-4)
              ? node.decimalValue().stripTrailingZeros().toPlainString()
              : node.isNull() ? "" : node.asText();
      out.put(prefix.substring(0, prefix.length() - 1), value);
    }
  }

  /**
   * The model {@code --model} names: a file as it is; a run folder's best model, {@code
   * model.safetensors}. A run folder without one (no epoch validated yet) is one line saying what
   * it holds instead.
   */
  static Path model(Path given) {
    if (!Files.isDirectory(given) || !Files.isRegularFile(given.resolve("config.yaml"))) {
      return given; // a file, or no run folder: the loader says what it is
    }
    Path best = given.resolve("model.safetensors");
    if (Files.isRegularFile(best)) {
      return best;
    }
    Path last = given.resolve("last.safetensors");
    throw new IllegalArgumentException(
        given
            + " is a run folder without a best model yet (no epoch validated)"
            + (Files.isRegularFile(last) ? "; its latest weights are in " + last : ""));
  }

  /**
   * The data set a run folder's config trained on, for {@code evaluate --model RUN} without {@code
   * --data}; a model file names none, so then {@code --data} is needed.
   */
  static Path trainedOn(Path given) {
    JsonNode dir =
        Files.isDirectory(given)
            ? tree(new YAMLMapper(), given.resolve("config.yaml")).path("data").path("dir")
            : null;
    if (dir == null || !dir.isTextual() || dir.asText().isBlank()) {
      throw new IllegalArgumentException(
          "--data is needed: " + given + " is not a run folder whose config names its data set");
    }
    return Path.of(dir.asText());
  }

  /** A run folder's record, called {@code name}; what is missing or unreadable is unknown. */
  static Run read(Path dir, String name) {
    JsonNode config = tree(new YAMLMapper(), dir.resolve("config.yaml"));
    JsonNode record = tree(new ObjectMapper(), dir.resolve("run.json"));
    List<Report.Epoch> metrics = Report.metrics(dir.resolve("metrics.jsonl"));
    int epochs = metrics.size();
    double best = Double.NaN;
    int bestEpoch = -1;
    double bestTrain = Double.NaN; // what chose the best epoch of a data set without validation
    int bestTrainEpoch = -1;
    double seconds = 0;
    for (Report.Epoch m : metrics) {
      seconds += Double.isNaN(m.seconds()) ? 0 : m.seconds();
      if (!Double.isNaN(m.valAcc()) && !(m.valAcc() <= best)) { // the first best, as runs keep
        best = m.valAcc();
        bestEpoch = m.epoch();
      }
      if (!Double.isNaN(m.trainAcc()) && !(m.trainAcc() <= bestTrain)) {
        bestTrain = m.trainAcc();
        bestTrainEpoch = m.epoch();
      }
    }
    String status = record.path("status").asText("");
    boolean running = dev.fingerspell.train.training.Trainer.training(dir);
    if (running) {
      status = "running"; // a resumed run's record still says how it stopped before
    } else if (status.isEmpty()) {
      status = epochs == 0 ? "not started" : "killed"; // no record, and nobody trains there
    } else if (status.equals("completed") && record.has("stopped_early_after")) {
      status = "stopped early"; // completed before its last epoch, by early_stopping_patience
    }
    JsonNode train = config.path("train");
    return new Run(
        name,
        dir,
        status,
        epochs,
        train.path("epochs").asInt(-1),
        bestEpoch < 0 ? bestTrain : best,
        bestEpoch < 0 ? bestTrainEpoch : bestEpoch,
        bestEpoch < 0 && bestTrainEpoch >= 0,
        config.path("model").path("trainable").asText("?"),
        train.path("optimizer").asText("?"),
        train.path("lr").asDouble(Double.NaN),
        config.path("data").path("image_size").asInt(-1),
        seconds,
        !running && dev.fingerspell.train.training.Trainer.resumable(dir),
        record.path("data_fingerprint").asText(null),
        record.path("weights_sha256").asText(null),
        record.path("ran_on").asText(null),
        metrics,
        RunEvaluations.current(dir),
        dataChanged(config, record.path("data_fingerprint").asText(null)),
        settings(config),
        inputs(record));
  }

  /**
   * Whether the data set in the run's data.dir is another version than the one it trained on, as
   * dvc status tells a stage whose input changed; null where that cannot be told (no version
   * recorded, or the folder is not there from here).
   */
  private static Boolean dataChanged(JsonNode config, String trainedOn) {
    String dir = config.path("data").path("dir").asText("");
    if (trainedOn == null || dir.isEmpty()) {
      return null;
    }
    try {
      return !PreparedData.open(Path.of(dir)).fingerprint().equals(trainedOn);
    } catch (RuntimeException e) {
      return null; // no set there from here, or an unreadable one: data status says which
    }
  }

  private static JsonNode tree(ObjectMapper mapper, Path file) {
    try {
      JsonNode n = Files.isRegularFile(file) ? mapper.readTree(file.toFile()) : null;
      return n == null ? mapper.createObjectNode() : n;
    } catch (IOException e) {
      return mapper.createObjectNode(); // unreadable: shown as unknown
    }
  }

  static void table(PrintWriter out, List<Run> runs) {
    int width = "run".length();
    for (Run r : runs) {
      width = Math.max(width, r.name().length());
    }
    String row = "%-" + width + "s  %-13s  %-6s  %-15s  %-15s  %-7s  %-15s  %5s  %9s%n";
    out.printf(Locale.ROOT, row, COLUMNS.toArray());
    for (Run r : runs) {
      out.printf(Locale.ROOT, row, cells(r).toArray());
    }
    if (runs.size() > 1) {
      best(runs).ifPresent(r -> out.println("best: " + bestLine(r)));
    }
    if (runs.stream().anyMatch(Run::resumable)) {
      out.println("* fingerspell train --resume FOLDER goes on with it");
    }
    if (runs.stream().anyMatch(r -> Boolean.TRUE.equals(r.dataChanged()))) {
      out.println(
          "! its data.dir holds another version of the data set than it trained on"
              + " (fingerspell data status DIR)");
    }
  }

  /** A run's row of the table, under {@link #COLUMNS}. */
  private static List<String> cells(Run r) {
    return List.of(
        r.name(),
        r.status() + (r.resumable() ? "*" : "") + (Boolean.TRUE.equals(r.dataChanged()) ? "!" : ""),
        r.epochs() + "/" + (r.epochsTotal() < 0 ? "?" : r.epochsTotal()),
        r.bestEpoch() < 0
            ? "-"
            : String.format(
                Locale.ROOT,
                "%.4f (ep %d%s)",
                r.bestAccuracy(),
                r.bestEpoch(),
                r.bestByTraining() ? ", train" : ""),
        r.evaluations().isEmpty() // the latest score of the model now in the folder
            ? "-"
            : String.format(
                Locale.ROOT,
                "%.4f (%s)",
                r.evaluations().getFirst().accuracy(),
                r.evaluations().getFirst().split()),
        r.trainable(),
        r.optimizer() + (Double.isNaN(r.lr()) ? "" : " " + plain(r.lr())),
        r.imageSize() < 0 ? "?" : Integer.toString(r.imageSize()),
        String.format(Locale.ROOT, "%.1fs", r.seconds()));
  }

  /** A learning rate as it was written: 0.001, not 1.00e-03. */
  private static String plain(double v) {
    return new java.math.BigDecimal(String.format(Locale.ROOT, "%.3g", v))
        .stripTrailingZeros()
        .toPlainString();
  }

  private static String toJson(List<Run> runs) {
    ObjectMapper mapper = new ObjectMapper();
    ArrayNode array = mapper.createArrayNode();
    for (Run r : runs) {
      ObjectNode o = array.addObject();
      o.put("run", r.dir().toString());
      o.put("status", r.status());
      o.put("epochs", r.epochs());
      putKnown(o, "epochs_total", r.epochsTotal());
      if (r.bestEpoch() < 0) {
        o.putNull("best_val_acc");
        o.putNull("best_epoch");
        o.putNull("best_by");
      } else {
        if (r.bestByTraining()) {
          o.putNull("best_val_acc");
          o.put("best_train_acc", r.bestAccuracy());
        } else {
          o.put("best_val_acc", r.bestAccuracy());
        }
        o.put("best_epoch", r.bestEpoch());
        o.put("best_by", r.bestByTraining() ? "training" : "validation");
      }
      o.put("trainable", r.trainable());
      o.put("optimizer", r.optimizer());
      if (Double.isNaN(r.lr())) {
        o.putNull("lr");
      } else {
        o.put("lr", r.lr());
      }
      putKnown(o, "image_size", r.imageSize());
      o.put("seconds", Math.round(r.seconds() * 1000) / 1000.0);
      o.put("resumable", r.resumable());
      o.put("data_fingerprint", r.dataFingerprint());
      o.put("weights_sha256", r.weightsSha256());
      o.put("ran_on", r.ranOn());
      o.put("data_changed", r.dataChanged());
      ArrayNode evaluations = o.putArray("evaluations");
      r.evaluations().forEach(e -> evaluations.add(e.score()));
    }
    return array.toString();
  }

  private static void putKnown(ObjectNode o, String key, int value) {
    if (value < 0) {
      o.putNull(key);
    } else {
      o.put(key, value);
    }
  }
}
