package dev.fingerspell.train.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A confusion matrix (rows: true class, columns: predicted) and the scores read from it. */
public final class Confusion {
  private final List<String> labels;
  private final long[][] m;

  /** An empty matrix over {@code labels}. */
  public Confusion(List<String> labels) {
    this.labels = List.copyOf(labels);
    this.m = new long[labels.size()][labels.size()];
  }

  /** A matrix over {@code labels} holding {@code counts} ({@code [truth][predicted]}, copied). */
  public static Confusion of(List<String> labels, long[][] counts) {
    Confusion c = new Confusion(labels);
    if (counts.length != labels.size()) {
      throw new IllegalArgumentException(counts.length + " rows for " + labels.size() + " labels");
    }
    for (int i = 0; i < counts.length; i++) {
      if (counts[i].length != labels.size()) {
        throw new IllegalArgumentException("row " + i + " has " + counts[i].length + " counts");
      }
      System.arraycopy(counts[i], 0, c.m[i], 0, counts[i].length);
    }
    return c;
  }

  /** Counts one prediction. */
  public void add(int truth, int predicted) {
    m[truth][predicted]++;
  }

  /** The class names. */
  public List<String> labels() {
    return labels;
  }

  /** {@code [truth][predicted]} counts (a copy). */
  public long[][] matrix() {
    long[][] c = new long[m.length][];
    for (int i = 0; i < m.length; i++) {
      c[i] = m[i].clone();
    }
    return c;
  }

  /** The number of predictions counted. */
  public long total() {
    long t = 0;
    for (long[] row : m) {
      for (long v : row) {
        t += v;
      }
    }
    return t;
  }

  /** Correct / total (0 when empty). */
  public double accuracy() {
    long correct = 0;
    for (int i = 0; i < m.length; i++) {
      correct += m[i][i];
    }
    long t = total();
    return t == 0 ? 0 : (double) correct / t;
  }

  /** Images whose true class is {@code c}. */
  public long support(int c) {
    long s = 0;
    for (long v : m[c]) {
      s += v;
    }
    return s;
  }

  /** Of the images predicted {@code c}, the share that are {@code c} (0 when none). */
  public double precision(int c) {
    long predicted = 0;
    for (long[] row : m) {
      predicted += row[c];
    }
    return predicted == 0 ? 0 : (double) m[c][c] / predicted;
  }

  /** Of the images of class {@code c}, the share predicted {@code c} (0 when none). */
  public double recall(int c) {
    long s = support(c);
    return s == 0 ? 0 : (double) m[c][c] / s;
  }

  /** The harmonic mean of precision and recall. */
  public double f1(int c) {
    double p = precision(c);
    double r = recall(c);
    return p + r == 0 ? 0 : 2 * p * r / (p + r);
  }

  /** Per-class scores by label: precision, recall, f1, support. */
  public Map<String, Map<String, Object>> perClass() {
    Map<String, Map<String, Object>> out = new LinkedHashMap<>();
    for (int c = 0; c < labels.size(); c++) {
      Map<String, Object> s = new LinkedHashMap<>();
      s.put("precision", precision(c));
      s.put("recall", recall(c));
      s.put("f1", f1(c));
      s.put("support", support(c));
      out.put(labels.get(c), s);
    }
    return out;
  }

  /** The matrix as nested lists (for JSON). */
  public List<List<Long>> rows() {
    List<List<Long>> out = new ArrayList<>();
    for (long[] row : m) {
      List<Long> r = new ArrayList<>();
      for (long v : row) {
        r.add(v);
      }
      out.add(r);
    }
    return out;
  }
}
