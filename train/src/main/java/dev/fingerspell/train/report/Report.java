package dev.fingerspell.train.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * {@code report.html}: one self-contained page (plots embedded as data URIs, no scripts, no
 * network) with the run's summary, curves, confusion matrix, per-class scores, per-epoch metrics
 * and resolved config.
 */
public final class Report {
  private Report() {}

  /** One epoch's numbers. */
  public record Epoch(
      int epoch,
      double trainLoss,
      double trainAcc,
      double valLoss,
      double valAcc,
      double lr,
      double seconds) {}

  /**
   * What the page shows.
   *
   * @param title the heading
   * @param summary label → value lines
   * @param lossPng loss curves
   * @param accPng accuracy curves
   * @param confusionPng the validation confusion matrix
   * @param confusion the matrix behind it
   * @param epochs per-epoch metrics
   * @param configYaml the resolved config
   * @param refreshSeconds while the run goes on, how often a browser showing the page reloads it; 0
   *     for a finished run's
   */
  public record Content(
      String title,
      Map<String, String> summary,
      byte[] lossPng,
      byte[] accPng,
      byte[] confusionPng,
      Confusion confusion,
      List<Epoch> epochs,
      String configYaml,
      int refreshSeconds) {}

  /**
   * An epoch's duration for people: tenths of a second, or milliseconds' worth of digits under 0.1
   * s (a head epoch on cached features takes ~15 ms, which "0.0" would hide).
   */
  public static String seconds(double s) {
    return String.format(java.util.Locale.ROOT, s < 0.1 ? "%.3f" : "%.1f", s);
  }

  /** An epoch's line of {@code metrics.jsonl}; NaN where it has no number (no validation). */
  public static Epoch epoch(JsonNode m) {
    return new Epoch(
        m.path("epoch").asInt(),
        number(m, "train_loss"),
        number(m, "train_acc"),
        number(m, "val_loss"),
        number(m, "val_acc"),
        number(m, "lr"),
        number(m, "seconds"));
  }

  /**
   * A run's {@code metrics.jsonl}, read back; a line cut short (a kill while it was written) ends
   * it, and a run without the file has no epochs.
   */
  public static List<Epoch> metrics(Path file) {
    List<Epoch> epochs = new ArrayList<>();
    if (!Files.isRegularFile(file)) {
      return epochs;
    }
    ObjectMapper json = new ObjectMapper();
    try {
      for (String line : Files.readAllLines(file)) {
        epochs.add(epoch(json.readTree(line)));
      }
    } catch (IOException | RuntimeException e) {
      // the epochs read so far stand
    }
    return epochs;
  }

  private static double number(JsonNode m, String key) {
    JsonNode v = m.get(key);
    return v == null || !v.isNumber() ? Double.NaN : v.asDouble();
  }

  /** Writes the page atomically. */
  public static void write(Path html, Content c) {
    StringBuilder b = new StringBuilder();
    head(b, c.title(), c.refreshSeconds());
    b.append("<table class=\"summary\">");
    for (Map.Entry<String, String> e : c.summary().entrySet()) {
      b.append("<tr><th>")
          .append(esc(e.getKey()))
          .append("</th><td>")
          .append(esc(e.getValue()))
          .append("</td></tr>");
    }
    b.append("</table>\n<h2>Learning curves</h2><div class=\"plots\">");
    img(b, c.lossPng(), "loss per epoch");
    img(b, c.accPng(), "accuracy per epoch");
    b.append("</div>\n<h2>Validation confusion matrix</h2>");
    img(b, c.confusionPng(), "confusion matrix");
    if (c.confusion() != null) {
      b.append(
          "\n<h2>Per-class scores (validation)</h2><table><tr><th>class</th><th>precision</th>");
      b.append("<th>recall</th><th>F1</th><th>support</th></tr>");
      List<String> labels = c.confusion().labels();
      for (int i = 0; i < labels.size(); i++) {
        b.append(
            String.format(
                "<tr><td>%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%d</td></tr>",
                esc(labels.get(i)),
                c.confusion().precision(i),
                c.confusion().recall(i),
                c.confusion().f1(i),
                c.confusion().support(i)));
      }
      b.append("</table>");
    }
    b.append(
        "\n<h2>Metrics per epoch</h2><table><tr><th>epoch</th><th>train loss</th><th>train acc</th>");
    b.append("<th>val loss</th><th>val acc</th><th>lr</th><th>seconds</th></tr>");
    for (Epoch e : c.epochs()) {
      b.append(
          String.format(
              "<tr><td>%d</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.3g</td><td>%s</td></tr>",
              e.epoch(),
              e.trainLoss(),
              e.trainAcc(),
              e.valLoss(),
              e.valAcc(),
              e.lr(),
              seconds(e.seconds())));
    }
    b.append("</table>\n<h2>Configuration</h2><pre>")
        .append(esc(c.configYaml()))
        .append("</pre>\n");
    end(b, html);
  }

  /** A page's start, up to and with its heading: the style every page here shares. */
  static void head(StringBuilder b, String title) {
    head(b, title, 0);
  }

  /**
   * As {@link #head(StringBuilder, String)}, for a page a browser reloads every {@code
   * refreshSeconds} (a meta refresh: the page stays without scripts); 0 for none.
   */
  static void head(StringBuilder b, String title, int refreshSeconds) {
    b.append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    if (refreshSeconds > 0) {
      b.append("<meta http-equiv=\"refresh\" content=\"").append(refreshSeconds).append("\">");
    }
    b.append("<title>").append(esc(title)).append("</title>\n<style>");
    b.append("body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}");
    b.append(
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;");
    b.append(
        "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}");
    b.append(
        "img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:1em;overflow:auto}");
    b.append(".plots{display:flex;flex-wrap:wrap;gap:1em}table.summary td{text-align:left}");
    b.append("</style></head><body>\n");
    b.append("<h1>").append(esc(title)).append("</h1>\n");
  }

  /** Ends the page and writes it atomically. */
  static void end(StringBuilder b, Path html) {
    b.append("</body></html>\n");
    try {
      AtomicFiles.write(html, b.toString().getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + html + ": " + IoErrors.describe(e), e);
    }
  }

  static void img(StringBuilder b, byte[] png, String alt) {
    if (png == null) {
      return;
    }
    b.append("<img alt=\"").append(alt).append("\" src=\"data:image/png;base64,");
    b.append(Base64.getEncoder().encodeToString(png)).append("\">");
  }

  static String esc(String s) {
    return s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\"", "&quot;");
  }
}
