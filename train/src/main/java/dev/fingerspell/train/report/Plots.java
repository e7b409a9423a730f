package dev.fingerspell.train.report;

import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.DoubleStream;
import javax.imageio.ImageIO;

/** PNG plots drawn with Java2D: metric curves per epoch and a confusion-matrix heat map. */
public final class Plots {
  // matplotlib's tab10, so that ten runs compared side by side each have a colour of their own
  private static final Color[] SERIES = {
    new Color(0x1f77b4),
    new Color(0xff7f0e),
    new Color(0x2ca02c),
    new Color(0xd62728),
    new Color(0x9467bd),
    new Color(0x8c564b),
    new Color(0xe377c2),
    new Color(0x7f7f7f),
    new Color(0xbcbd22),
    new Color(0x17becf)
  };

  private Plots() {}

  /**
   * Loads Java2D, its fonts and the PNG writer now. Java2D registers shutdown hooks when it first
   * starts, which the JVM refuses once it is shutting down: a run saving its report after Ctrl-C
   * must find it already loaded.
   */
  public static void warmUp() {
    curves(null, "", "", List.of(new Series("", new double[] {0, 1})));
  }

  /**
   * Why the plots are drawn without their words here, or empty where text draws. A JVM finds its
   * fonts through fontconfig; a slim container image has neither, and Java2D then throws at every
   * string ("Fontconfig head is null"). Tried once: a failing try costs milliseconds, and a
   * confusion matrix has hundreds of strings.
   */
  public static Optional<String> textProblem() {
    return TextProbe.PROBLEM;
  }

  private static final class TextProbe {
    static final Optional<String> PROBLEM = probe();

    private static Optional<String> probe() {
      try {
        Graphics2D g = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB).createGraphics();
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.drawString("A", 0, 8);
        g.dispose();
        return Optional.empty();
      } catch (RuntimeException | Error e) {
        return Optional.of(
            "the plots are drawn without their words: Java finds no fonts here ("
                + (e.getMessage() != null ? e.getMessage() : e.getClass().getName())
                + "); install fontconfig and a font (on Debian: apt-get install fontconfig"
                + " fonts-dejavu-core)");
      }
    }
  }

  /** One line of a curve plot. */
  public record Series(String name, double[] values) {}

  /** Curves over epochs 1..n; writes {@code png} atomically and returns its bytes. */
  public static byte[] curves(Path png, String title, String yLabel, List<Series> series) {
    int legend = 0;
    Graphics2D measure = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
    for (Series s : series) {
      legend = Math.max(legend, textWidth(measure, s.name(), 12f) + 36);
    }
    measure.dispose();
    // two lines (train, validation) name themselves in a corner; more (runs compared) would hide
    // their own points there, so their names go beside the plot
    boolean beside = series.size() > 2;
    int w = 640 + (beside ? legend : 0);
    int h = 400;
    int left = 70;
    int right = 20 + (beside ? legend : 0);
    int top = 40;
    int bottom = 50;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = canvas(img);
    int n = 0;
    for (Series s : series) {
      n = Math.max(n, s.values().length);
    }
    double[] range = range(series.stream().flatMapToDouble(s -> Arrays.stream(s.values())));
    double min = range[0];
    double max = range[1];
    int pw = w - left - right;
    int ph = h - top - bottom;
    frame(g, title, yLabel, min, max, left, top, pw, ph);
    int ticks = Math.min(n, 10);
    for (int t = 0; t < ticks; t++) {
      int epoch = n <= 1 ? 1 : 1 + (int) Math.round((double) t * (n - 1) / Math.max(1, ticks - 1));
      int x = xOf(epoch, n, left, pw);
      g.drawLine(x, top + ph, x, top + ph + 4);
      text(g, Integer.toString(epoch), x, top + ph + 18, true, 12f);
    }
    text(g, "epoch", left + pw / 2, h - 10, true, 12f);
    int legendX = beside ? left + pw + 12 : left + pw - Math.min(pw / 2, legend);
    int shown = 0;
    for (int s = 0; s < series.size(); s++) {
      double[] v = series.get(s).values();
      g.setColor(SERIES[s % SERIES.length]);
      g.setStroke(new BasicStroke(2f));
      int px = -1;
      int py = -1;
      for (int i = 0; i < v.length; i++) {
        if (!Double.isFinite(v[i])) { // an epoch without it (no validation): a gap
          px = -1;
          continue;
        }
        int x = xOf(i + 1, n, left, pw);
        int y = top + ph - (int) Math.round((v[i] - min) / (max - min) * ph);
        g.fillOval(x - 3, y - 3, 6, 6);
        if (px >= 0) {
          g.drawLine(px, py, x, y);
        }
        px = x;
        py = y;
      }
      if (Arrays.stream(v).noneMatch(Double::isFinite)) {
        continue; // nothing drawn, nothing to name
      }
      int ly = top + 14 + shown++ * 16;
      g.drawLine(legendX, ly - 4, legendX + 20, ly - 4);
      g.setColor(Color.BLACK);
      text(g, series.get(s).name(), legendX + 26, ly, false, 12f);
    }
    g.dispose();
    return write(img, png);
  }

  /**
   * One point per run: the value a setting had in it against the score it reached, in the run's
   * colour (its line's in the curves), {@code x} on a log scale where {@code logX}: W&B's sweep
   * view of what a setting did.
   */
  public static byte[] scatter(
      String title, String xLabel, String yLabel, double[] x, double[] y, boolean logX) {
    int w = 640;
    int h = 400;
    int left = 70;
    int top = 40;
    int pw = w - left - 20;
    int ph = h - top - 50;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = canvas(img);
    double[] ys = range(Arrays.stream(y));
    double[] position = new double[x.length]; // where along the axis, in [0, 1]
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (double v : x) {
      lo = Math.min(lo, logX ? Math.log10(v) : v);
      hi = Math.max(hi, logX ? Math.log10(v) : v);
    }
    for (int i = 0; i < x.length; i++) {
      double v = logX ? Math.log10(x[i]) : x[i];
      position[i] = hi - lo < 1e-12 ? 0.5 : 0.05 + 0.9 * (v - lo) / (hi - lo);
    }
    frame(g, title, yLabel, ys[0], ys[1], left, top, pw, ph);
    Set<Double> labelled = new HashSet<>();
    for (int i = 0; i < x.length; i++) {
      int px = left + (int) Math.round(position[i] * pw);
      if (labelled.add(x[i])) { // each value the setting took, on the axis
        g.setColor(Color.BLACK);
        g.drawLine(px, top + ph, px, top + ph + 4);
        String value = java.math.BigDecimal.valueOf(x[i]).stripTrailingZeros().toPlainString();
        text(g, value, px, top + ph + 18, true, 11f); // 0.0005 as it was given
      }
      if (Double.isFinite(y[i])) {
        int py = top + ph - (int) Math.round((y[i] - ys[0]) / (ys[1] - ys[0]) * ph);
        g.setColor(SERIES[i % SERIES.length]);
        g.fillOval(px - 5, py - 5, 10, 10);
      }
    }
    g.setColor(Color.BLACK);
    text(g, xLabel + (logX ? " (log scale)" : ""), left + pw / 2, h - 10, true, 12f);
    g.dispose();
    return write(img, null);
  }

  /** The finite values' range, padded 5% each way; [0, 1] where there are none. */
  private static double[] range(DoubleStream values) {
    double[] finite = values.filter(Double::isFinite).toArray();
    double min = finite.length == 0 ? 0 : Arrays.stream(finite).min().getAsDouble();
    double max = finite.length == 0 ? 1 : Arrays.stream(finite).max().getAsDouble();
    if (max - min < 1e-9) {
      max = min + 1;
    }
    double pad = (max - min) * 0.05;
    return new double[] {min - pad, max + pad};
  }

  /** The title over the plot, the y axis from {@code min} to {@code max} with its grid, the box. */
  private static void frame(
      Graphics2D g,
      String title,
      String yLabel,
      double min,
      double max,
      int left,
      int top,
      int pw,
      int ph) {
    g.setColor(Color.BLACK);
    text(g, title, left + pw / 2, 24, true, 16f); // over the plot, not its legend
    for (int t = 0; t <= 5; t++) {
      int y = top + ph - t * ph / 5;
      g.setColor(new Color(0xdddddd));
      g.drawLine(left, y, left + pw, y);
      g.setColor(Color.DARK_GRAY);
      textRight(g, String.format("%.3g", min + (max - min) * t / 5), left - 6, y + 4);
    }
    g.setColor(Color.BLACK);
    g.drawRect(left, top, pw, ph);
    text(g, yLabel, 14, top - 10, false, 12f);
  }

  private static int xOf(int epoch, int n, int left, int pw) {
    return n <= 1 ? left + pw / 2 : left + (int) Math.round((double) (epoch - 1) / (n - 1) * pw);
  }

  /** A heat map of a confusion matrix (row-normalised colour, counts written in). */
  public static byte[] confusion(Path png, String title, Confusion c) {
    List<String> labels = c.labels();
    int k = labels.size();
    int cell = Math.max(18, Math.min(40, 720 / Math.max(1, k)));
    int left = 80;
    int top = 60;
    int w = left + k * cell + 20;
    int h = top + k * cell + 90;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = canvas(img);
    long[][] m = c.matrix();
    g.setColor(Color.BLACK);
    text(g, title, w / 2, 24, true, 16f);
    text(
        g,
        String.format("accuracy %.2f%% of %d", 100 * c.accuracy(), c.total()),
        w / 2,
        44,
        true,
        12f);
    for (int i = 0; i < k; i++) {
      long row = 0;
      for (long v : m[i]) {
        row += v;
      }
      for (int j = 0; j < k; j++) {
        double share = row == 0 ? 0 : (double) m[i][j] / row;
        int shade = (int) Math.round(255 * (1 - share));
        g.setColor(i == j ? new Color(shade, 255, shade) : new Color(255, shade, shade));
        g.fillRect(left + j * cell, top + i * cell, cell, cell);
        if (m[i][j] > 0 && cell >= 18) {
          g.setColor(Color.BLACK);
          text(
              g,
              Long.toString(m[i][j]),
              left + j * cell + cell / 2,
              top + i * cell + cell / 2 + 4,
              true,
              9f);
        }
      }
      g.setColor(Color.BLACK);
      textRight(g, labels.get(i), left - 4, top + i * cell + cell / 2 + 4);
      java.awt.geom.AffineTransform saved = g.getTransform();
      g.rotate(-Math.PI / 2, left + i * cell + cell / 2 + 4, top + k * cell + 4);
      textRight(g, labels.get(i), left + i * cell + cell / 2 + 4, top + k * cell + 4);
      g.setTransform(saved);
    }
    g.setColor(Color.GRAY);
    g.drawRect(left, top, k * cell, k * cell);
    g.setColor(Color.BLACK);
    text(g, "predicted", left + k * cell / 2, top + k * cell + 80, true, 12f);
    text(g, "true", 20, top - 8, false, 12f);
    g.dispose();
    return write(img, png);
  }

  private static Graphics2D canvas(BufferedImage img) {
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(
        RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, img.getWidth(), img.getHeight());
    return g;
  }

  /** Draws text; a machine without fonts gets the plot without its words rather than no plot. */
  private static void text(Graphics2D g, String s, int x, int y, boolean centred, float size) {
    if (textProblem().isEmpty()) {
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12).deriveFont(size));
      FontMetrics fm = g.getFontMetrics();
      g.drawString(s, centred ? x - fm.stringWidth(s) / 2 : x, y);
    }
  }

  private static int textWidth(Graphics2D g, String s, float size) {
    if (textProblem().isPresent()) {
      return 0;
    }
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12).deriveFont(size));
    return g.getFontMetrics().stringWidth(s);
  }

  private static void textRight(Graphics2D g, String s, int x, int y) {
    if (textProblem().isEmpty()) {
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
      g.drawString(s, x - g.getFontMetrics().stringWidth(s), y);
    }
  }

  private static byte[] write(BufferedImage img, Path png) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ImageIO.write(img, "png", out);
      byte[] bytes = out.toByteArray();
      if (png != null) {
        AtomicFiles.write(png, bytes);
      }
      return bytes;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write plot " + png + ": " + IoErrors.describe(e), e);
    }
  }
}
