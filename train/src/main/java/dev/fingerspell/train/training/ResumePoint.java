package dev.fingerspell.train.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.Optimizer;
import dev.fingerspell.train.report.Confusion;
import dev.fingerspell.train.report.Report;
import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import dev.fingerspell.weights.SafetensorsException;
import dev.fingerspell.weights.SafetensorsFile;
import dev.fingerspell.weights.SafetensorsWriter;
import dev.fingerspell.weights.TensorInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a run needs to go on after its last completed epoch exactly as if it had never stopped:
 * {@code resume.safetensors} in the run folder, rewritten atomically after every completed epoch
 * but the last and removed when the run completes. It holds what training changes: the trainable
 * part of the model ({@code model.} + {@link ResNet18#trainableState()}'s names), the optimizer's
 * state ({@code optimizer.<i>.<name>}, PyTorch's names), and the best and last validation confusion
 * matrices; its metadata holds the epoch, the best epoch and accuracy, and fingerprints of what the
 * rest came from (the config, the prepared data, the starting weights). Each epoch draws its random
 * numbers from the seed and its own number, so nothing else is needed.
 */
final class ResumePoint {
  static final String FILE = "resume.safetensors";

  private ResumePoint() {}

  /** Where a run stands after a completed epoch; the matrices may be null. */
  record Standing(int epoch, int bestEpoch, double bestAcc, Confusion best, Confusion last) {}

  /** Fingerprints of the run's other inputs: were one to change, the rest would be another run. */
  record Sources(String config, String data, String weights) {}

  /** A run picked up again: where it stood, and the metrics of its epochs so far. */
  record Resumed(Standing standing, List<Report.Epoch> history) {}

  /** Records {@code standing} with the model's and the optimizer's state. */
  static void write(Path run, Standing standing, Sources sources, ResNet18 model, Optimizer opt) {
    List<SafetensorsWriter.Entry> entries = new ArrayList<>();
    model
        .trainableState()
        .forEach((name, t) -> entries.add(SafetensorsWriter.Entry.of("model." + name, t)));
    for (int i = 0; i < opt.parameters().size(); i++) {
      for (Map.Entry<String, Tensor> slot : opt.state(i).entrySet()) {
        entries.add(
            SafetensorsWriter.Entry.of("optimizer." + i + "." + slot.getKey(), slot.getValue()));
      }
    }
    confusion(entries, "confusion.best", standing.best());
    confusion(entries, "confusion.last", standing.last());
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("fingerspell.resume", "1");
    meta.put("epoch", Integer.toString(standing.epoch()));
    meta.put("best_epoch", Integer.toString(standing.bestEpoch()));
    meta.put("best_acc", Double.toString(standing.bestAcc()));
    meta.put("optimizer_params", Integer.toString(opt.parameters().size()));
    meta.put("config", sources.config());
    meta.put("data", sources.data());
    meta.put("weights", sources.weights());
    SafetensorsWriter.write(run.resolve(FILE), entries, meta);
  }

  private static void confusion(List<SafetensorsWriter.Entry> entries, String name, Confusion c) {
    if (c == null) {
      return;
    }
    long[][] m = c.matrix();
    long[] flat = new long[m.length * m.length];
    for (int i = 0; i < m.length; i++) {
      System.arraycopy(m[i], 0, flat, i * m.length, m.length);
    }
    entries.add(SafetensorsWriter.Entry.i64(name, new int[] {m.length, m.length}, flat));
  }

  /**
   * Restores the run in {@code run} into {@code model} and {@code opt} (made as the run made them)
   * and trims its {@code metrics.jsonl} to the epochs the resume point covers (an epoch cut short
   * in its validation is done again). Refuses a run whose config, data or starting weights changed
   * since it started, naming which.
   */
  static Resumed read(
      Path run, Sources expected, ResNet18 model, Optimizer opt, List<String> classes) {
    Path file = run.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      throw new ResumeException(nothingToResume(run));
    }
    Standing standing;
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      Map<String, String> meta = f.metadata();
      if (!"1".equals(meta.get("fingerspell.resume"))) {
        throw new ResumeException(file + " is not a Fingerspell resume point");
      }
      String changed =
          !expected.config().equals(meta.get("config"))
              ? run.resolve("config.yaml") + " changed"
              : !expected.data().equals(meta.get("data"))
                  ? "the prepared data set changed (prepared again?)"
                  : !expected.weights().equals(meta.get("weights"))
                      ? "the starting weights (model.weights) changed"
                      : null;
      if (changed != null) {
        throw new ResumeException(
            "cannot resume "
                + run
                + ": "
                + changed
                + " since the run started, so its remaining epochs would make another run;"
                + " start a new one");
      }
      Map<String, TensorInfo> stored = f.tensors();
      for (Map.Entry<String, Tensor> e : model.trainableState().entrySet()) {
        String name = "model." + e.getKey();
        if (!stored.containsKey(name)) {
          throw new ResumeException(file + " has no " + name + ": it is not this run's");
        }
        Tensor saved = f.tensor(name);
        if (!java.util.Arrays.equals(saved.shape(), e.getValue().shape())) {
          throw new ResumeException(
              file + ": " + name + " has another shape: it is not this run's");
        }
        e.getValue().copyFrom(saved);
      }
      if (!Integer.toString(opt.parameters().size()).equals(meta.get("optimizer_params"))) {
        throw new ResumeException(file + " holds another optimizer's state: it is not this run's");
      }
      Map<Integer, Map<String, Tensor>> slots = new HashMap<>();
      for (String name : stored.keySet()) {
        if (name.startsWith("optimizer.")) {
          String[] parts = name.split("\\.", 3);
          slots
              .computeIfAbsent(Integer.parseInt(parts[1]), i -> new HashMap<>())
              .put(parts[2], f.tensor(name));
        }
      }
      for (int i = 0; i < opt.parameters().size(); i++) {
        opt.loadState(i, slots.getOrDefault(i, Map.of()));
      }
      standing =
          new Standing(
              Integer.parseInt(value(meta, "epoch")),
              Integer.parseInt(value(meta, "best_epoch")),
              Double.parseDouble(value(meta, "best_acc")),
              confusion(f, "confusion.best", classes),
              confusion(f, "confusion.last", classes));
    } catch (SafetensorsException | IllegalArgumentException e) {
      // a damaged or foreign file; a ResumeException above already says what it is
      throw new ResumeException(file + " cannot be resumed from: " + IoErrors.describe(e));
    }
    return new Resumed(standing, metrics(run, standing.epoch()));
  }

  private static String value(Map<String, String> meta, String key) {
    String v = meta.get(key);
    if (v == null) {
      throw new IllegalArgumentException("no " + key + " in its metadata");
    }
    return v;
  }

  private static Confusion confusion(SafetensorsFile f, String name, List<String> classes) {
    if (!f.tensors().containsKey(name)) {
      return null;
    }
    long[] flat = f.readLongs(name);
    int n = classes.size();
    if (flat.length != n * n) {
      throw new IllegalArgumentException(name + " is not " + n + " × " + n);
    }
    long[][] m = new long[n][n];
    for (int i = 0; i < n; i++) {
      System.arraycopy(flat, i * n, m[i], 0, n);
    }
    return Confusion.of(classes, m);
  }

  /** The first {@code epochs} lines of metrics.jsonl, read back; the file keeps only those. */
  private static List<Report.Epoch> metrics(Path run, int epochs) {
    Path file = run.resolve("metrics.jsonl");
    try {
      List<String> lines = Files.exists(file) ? Files.readAllLines(file) : List.of();
      if (lines.size() < epochs) {
        throw new ResumeException(
            file + " holds " + lines.size() + " epochs, the resume point " + epochs);
      }
      List<String> kept = lines.subList(0, epochs);
      ObjectMapper json = new ObjectMapper();
      List<Report.Epoch> history = new ArrayList<>();
      for (String line : kept) {
        history.add(Report.epoch(json.readTree(line)));
      }
      String text = kept.isEmpty() ? "" : String.join("\n", kept) + "\n";
      AtomicFiles.write(file, text.getBytes(StandardCharsets.UTF_8));
      return history;
    } catch (IOException | RuntimeException e) {
      if (e instanceof ResumeException r) {
        throw r;
      }
      throw new ResumeException(file + " cannot be read back: " + IoErrors.describe(e));
    }
  }

  /** Why a run folder without a resume point has nothing to resume. */
  private static String nothingToResume(Path run) {
    String status = null;
    try {
      status =
          new ObjectMapper().readTree(run.resolve("run.json").toFile()).path("status").asText();
    } catch (IOException | RuntimeException e) {
      // no run.json (not a run folder, or one from before run.json): said below
    }
    if (!Files.isRegularFile(run.resolve("config.yaml"))) {
      throw new ResumeException(run + " is not a run folder (no config.yaml)");
    }
    if ("completed".equals(status)) {
      return run
          + " completed all its epochs: nothing to resume (to train on from its model, start a"
          + " new run with model.weights="
          + run.resolve("last.safetensors")
          + ")";
    }
    return run
        + " has no resume point: it stopped before its first epoch was done; start it again with"
        + " fingerspell train --config "
        + run.resolve("config.yaml");
  }

  /** Deletes the resume point of a run that completed: nothing is left to resume. */
  static void remove(Path run) {
    try {
      Files.deleteIfExists(run.resolve(FILE));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot remove " + run.resolve(FILE) + ": " + IoErrors.describe(e), e);
    }
  }
}
