package dev.fingerspell.train.training;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * {@code evaluations.json} in a run folder: the scores {@code evaluate} gave the run's model, as
 * W&B keeps a run's test metrics in its summary, so that {@code runs} shows them beside the
 * training's. Each names the model file's size and time, so a score of a model trained again or
 * resumed since is not shown as the new model's.
 */
public final class RunEvaluations {
  static final String FILE = "evaluations.json";

  /** The file's entries are {@link Entry}s, their fields in snake case: {@code model_bytes}. */
  static final ObjectMapper JSON =
      new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

  private RunEvaluations() {}

  /**
   * One evaluation.
   *
   * @param split the split scored (test, val, train, all, or a raw folder's)
   * @param data the prepared set or raw folder, as given
   * @param dataFingerprint a prepared set's version; null for a raw folder
   * @param count images scored
   * @param accuracy their accuracy
   * @param at when, ISO-8601
   * @param modelBytes the model file's size then
   * @param modelModified its modification time then, in milliseconds
   */
  public record Entry(
      String split,
      String data,
      String dataFingerprint,
      long count,
      double accuracy,
      String at,
      long modelBytes,
      long modelModified) {
    /** As JSON, less what identifies the model file: the score, for {@code runs --json}. */
    public ObjectNode score() {
      ObjectNode o = JSON.valueToTree(this);
      o.remove(List.of("model_bytes", "model_modified"));
      return o;
    }
  }

  /**
   * Records an evaluation of {@code run}'s model.safetensors now in place: it replaces an earlier
   * one of the same data and split. Returns the file written.
   */
  public static Path record(
      Path run, String split, String data, String dataFingerprint, long count, double accuracy) {
    Path model = run.resolve("model.safetensors");
    List<Entry> entries = read(run);
    entries.removeIf(e -> e.split().equals(split) && e.data().equals(data));
    try {
      entries.add(
          new Entry(
              split,
              data,
              dataFingerprint,
              count,
              accuracy,
              Instant.now().toString(),
              Files.size(model),
              Files.getLastModifiedTime(model).toMillis()));
      Path file = run.resolve(FILE);
      AtomicFiles.write(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(entries));
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot record the evaluation in " + run + ": " + IoErrors.describe(e), e);
    }
  }

  /** The evaluations of the model now in {@code run}, the latest first; none when unreadable. */
  public static List<Entry> current(Path run) {
    Path model = run.resolve("model.safetensors");
    long bytes;
    long modified;
    try {
      bytes = Files.size(model);
      modified = Files.getLastModifiedTime(model).toMillis();
    } catch (IOException e) {
      return List.of(); // no model: nothing it was scored on
    }
    return read(run).stream()
        .filter(e -> e.modelBytes() == bytes && e.modelModified() == modified)
        .sorted(Comparator.comparing(Entry::at).reversed())
        .toList();
  }

  private static List<Entry> read(Path run) {
    Path file = run.resolve(FILE);
    if (!Files.isRegularFile(file)) {
      return new ArrayList<>();
    }
    try {
      List<Entry> entries = JSON.readValue(file.toFile(), new TypeReference<List<Entry>>() {});
      entries.removeIf(e -> e.split() == null || e.data() == null || e.at() == null);
      return entries;
    } catch (IOException | RuntimeException e) {
      return new ArrayList<>(); // a damaged record is no record; the next evaluation writes one
    }
  }
}
