package dev.fingerspell.train.report;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * A page that puts runs side by side, as W&B's run comparison does: their table, the settings in
 * which they differ, and each learning curve with one line per run. Self-contained like {@code
 * report.html}: plots embedded, no scripts, works offline.
 */
public final class Comparison {
  private Comparison() {}

  /**
   * One run on the page.
   *
   * @param name what its lines and columns are called (its folder's name)
   * @param cells its row of the runs table
   * @param epochs its metrics, epoch by epoch
   * @param settings its configuration flattened ({@code train.lr} → {@code 0.001}), and what pins
   *     its inputs (data version, starting weights)
   */
  public record Run(
      String name, List<String> cells, List<Report.Epoch> epochs, Map<String, String> settings) {}

  /** Writes the page atomically: the runs table under {@code columns}, then what differs. */
  public static void write(Path html, List<String> columns, List<Run> runs) {
    StringBuilder b = new StringBuilder();
    Report.head(b, runs.size() + " runs compared");
    b.append("<table><tr>");
    for (String c : columns) {
      b.append("<th>").append(Report.esc(c)).append("</th>");
    }
    b.append("</tr>");
    for (Run r : runs) {
      b.append("<tr>");
      for (String cell : r.cells()) {
        b.append("<td>").append(Report.esc(cell)).append("</td>");
      }
      b.append("</tr>");
    }
    b.append("</table>\n<h2>Settings that differ</h2>");
    List<String> differing = differing(runs);
    if (differing.isEmpty()) {
      b.append("<p>None: the runs were started with the same settings.</p>");
    } else {
      b.append("<table><tr><th>setting</th>");
      for (Run r : runs) {
        b.append("<th>").append(Report.esc(r.name())).append("</th>");
      }
      b.append("</tr>");
      for (String key : differing) {
        b.append("<tr><td>").append(Report.esc(key)).append("</td>");
        for (Run r : runs) {
          b.append("<td>")
              .append(Report.esc(r.settings().getOrDefault(key, "(not set)")))
              .append("</td>");
        }
        b.append("</tr>");
      }
      b.append("</table>");
    }
    b.append("\n<h2>Learning curves</h2><div class=\"plots\">");
    curve(b, runs, "Validation accuracy", "accuracy", Report.Epoch::valAcc);
    curve(b, runs, "Validation loss", "cross-entropy", Report.Epoch::valLoss);
    curve(b, runs, "Training accuracy", "accuracy", Report.Epoch::trainAcc);
    curve(b, runs, "Training loss", "cross-entropy", Report.Epoch::trainLoss);
    b.append("</div>\n");
    Report.end(b, html);
  }

  /**
   * The settings not the same in every run (one that some run lacks among them), in the order the
   * first run that has them lists them.
   */
  static List<String> differing(List<Run> runs) {
    Set<String> keys = new LinkedHashSet<>();
    for (Run r : runs) {
      keys.addAll(r.settings().keySet());
    }
    List<String> out = new ArrayList<>();
    for (String key : keys) {
      String first = runs.getFirst().settings().get(key);
      if (runs.stream().anyMatch(r -> !Objects.equals(first, r.settings().get(key)))) {
        out.add(key);
      }
    }
    return out;
  }

  private static void curve(
      StringBuilder b,
      List<Run> runs,
      String title,
      String yLabel,
      ToDoubleFunction<Report.Epoch> metric) {
    List<Plots.Series> series = new ArrayList<>();
    for (Run r : runs) {
      series.add(new Plots.Series(r.name(), r.epochs().stream().mapToDouble(metric).toArray()));
    }
    if (series.stream()
        .flatMapToDouble(s -> java.util.Arrays.stream(s.values()))
        .anyMatch(Double::isFinite)) {
      Report.img(b, Plots.curves(null, title, yLabel, series), title);
    }
  }
}
