package dev.fingerspell.train.report;

import java.io.File;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
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
   * @param cells its row of the runs table, its name first
   * @param epochs its metrics, epoch by epoch
   * @param settings its configuration flattened ({@code train.lr} → {@code 0.001})
   * @param inputs what pins its inputs and where it ran (data version, starting weights, ran on)
   * @param report its report.html, which its name links to; null when it has none
   * @param best the accuracy of its best epoch; NaN before one
   */
  public record Run(
      String name,
      List<String> cells,
      List<Report.Epoch> epochs,
      Map<String, String> settings,
      Map<String, String> inputs,
      Path report,
      double best) {}

  /**
   * Writes the page atomically: {@code best} (a line naming the best run, or null), the runs table
   * under {@code columns}, then what differs.
   */
  public static void write(Path html, List<String> columns, List<Run> runs, String best) {
    StringBuilder b = new StringBuilder();
    Report.head(b, runs.size() + " runs compared");
    if (best != null) {
      b.append("<p>Best: ").append(Report.esc(best)).append("</p>\n");
    }
    b.append("<table><tr>");
    for (String c : columns) {
      b.append("<th>").append(Report.esc(c)).append("</th>");
    }
    b.append("</tr>");
    for (Run r : runs) {
      b.append("<tr>");
      for (int i = 0; i < r.cells().size(); i++) {
        String cell = Report.esc(r.cells().get(i));
        if (i == 0 && r.report() != null) { // the page may move with the runs: a relative link
          String href = link(html.toAbsolutePath().getParent(), r.report().toAbsolutePath());
          cell = "<a href=\"" + Report.esc(href) + "\">" + cell + "</a>";
        }
        b.append("<td>").append(cell).append("</td>");
      }
      b.append("</tr>");
    }
    b.append("</table>\n<h2>Settings that differ</h2>");
    List<String> differing = differing(runs, Run::settings);
    List<String> inputs = differing(runs, Run::inputs);
    if (differing.isEmpty() && inputs.isEmpty()) {
      b.append("<p>None: the runs were started with the same settings.</p>");
    } else {
      b.append("<table><tr><th>setting</th>");
      for (Run r : runs) {
        b.append("<th>").append(Report.esc(r.name())).append("</th>");
      }
      b.append("</tr>");
      rows(b, runs, differing, Run::settings);
      rows(b, runs, inputs, Run::inputs);
      b.append("</table>");
    }
    settingPlots(b, runs, differing);
    b.append("\n<h2>Learning curves</h2><div class=\"plots\">");
    curve(b, runs, "Validation accuracy", "accuracy", Report.Epoch::valAcc);
    curve(b, runs, "Validation loss", "cross-entropy", Report.Epoch::valLoss);
    curve(b, runs, "Training accuracy", "accuracy", Report.Epoch::trainAcc);
    curve(b, runs, "Training loss", "cross-entropy", Report.Epoch::trainLoss);
    b.append("</div>\n");
    Report.end(b, html);
  }

  /** A row a key: the key, then its value in each run. */
  private static void rows(
      StringBuilder b, List<Run> runs, List<String> keys, Function<Run, Map<String, String>> of) {
    for (String key : keys) {
      b.append("<tr><td>").append(Report.esc(key)).append("</td>");
      for (Run r : runs) {
        b.append("<td>")
            .append(Report.esc(of.apply(r).getOrDefault(key, "(not set)")))
            .append("</td>");
      }
      b.append("</tr>");
    }
  }

  /**
   * For each differing setting that is a number in every run: the best accuracy against its value,
   * a point a run, on a log scale where the values span two orders of magnitude (a learning rate).
   */
  private static void settingPlots(StringBuilder b, List<Run> runs, List<String> differing) {
    StringBuilder plots = new StringBuilder();
    for (String key : differing) {
      double[] x = new double[runs.size()];
      double[] y = new double[runs.size()];
      boolean numeric = true;
      for (int i = 0; i < runs.size() && numeric; i++) {
        try {
          x[i] = Double.parseDouble(runs.get(i).settings().getOrDefault(key, ""));
          numeric = Double.isFinite(x[i]);
        } catch (NumberFormatException e) {
          numeric = false;
        }
        y[i] = runs.get(i).best();
      }
      if (!numeric) {
        continue;
      }
      double min = Arrays.stream(x).min().orElse(0);
      double max = Arrays.stream(x).max().orElse(0);
      boolean log = min > 0 && max / min >= 100;
      Report.img(plots, Plots.scatter(key, key, "best accuracy", x, y, log), key);
    }
    if (!plots.isEmpty()) {
      b.append("\n<h2>Best accuracy by setting</h2><div class=\"plots\">")
          .append(plots)
          .append("</div>");
    }
  }

  /** {@code target} from {@code from}, as a URL path: relative, '/'-separated, escaped. */
  static String link(Path from, Path target) {
    String relative = from.relativize(target).toString().replace(File.separatorChar, '/');
    StringBuilder out = new StringBuilder();
    for (String part : relative.split("/", -1)) {
      if (!out.isEmpty()) {
        out.append('/');
      }
      out.append(URLEncoder.encode(part, StandardCharsets.UTF_8).replace("+", "%20"));
    }
    return out.toString();
  }

  /**
   * The keys of {@code of} not the same in every run (one that some run lacks among them), in the
   * order the first run that has them lists them.
   */
  static List<String> differing(List<Run> runs, Function<Run, Map<String, String>> of) {
    Set<String> keys = new LinkedHashSet<>();
    for (Run r : runs) {
      keys.addAll(of.apply(r).keySet());
    }
    List<String> out = new ArrayList<>();
    for (String key : keys) {
      String first = of.apply(runs.getFirst()).get(key);
      if (runs.stream().anyMatch(r -> !Objects.equals(first, of.apply(r).get(key)))) {
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
        .flatMapToDouble(s -> Arrays.stream(s.values()))
        .anyMatch(Double::isFinite)) {
      Report.img(b, Plots.curves(null, title, yLabel, series), title);
    }
  }
}
