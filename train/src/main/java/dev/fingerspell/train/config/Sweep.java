package dev.fingerspell.train.config;

import java.util.ArrayList;
import java.util.List;

/**
 * Hydra's multirun: an override whose value is a comma-separated list ({@code
 * train.lr=0.01,0.001}), a {@code choice(...)} or a {@code range(...)} is a sweep axis, and the
 * runs are every combination of the axes' values, the first axis varying slowest (Hydra's job
 * order).
 */
public final class Sweep {
  private Sweep() {}

  /**
   * One run of a sweep.
   *
   * @param number its place in the sweep, from 0
   * @param overrides every override of the command line, each with one value
   * @param swept the overrides that differ between the sweep's runs, with this run's values
   */
  public record Job(int number, List<String> overrides, List<String> swept) {
    /**
     * A folder name for the run: its number and swept overrides, as Hydra's {@code
     * override_dirname}: {@code 1-train.lr=0.001,model.trainable=head}.
     */
    public String folderName() {
      String name = number + (swept.isEmpty() ? "" : "-" + String.join(",", swept));
      name = name.replaceAll("[/\\\\:*?\"<>|\\s]", "_");
      return name.length() <= 120 ? name : name.substring(0, 120);
    }
  }

  /** The runs {@code overrides} stand for; one, with nothing swept, when no value is a list. */
  public static List<Job> expand(List<String> overrides) {
    List<List<String>> axes = new ArrayList<>();
    for (String o : overrides) {
      int eq = o.indexOf('=');
      if (eq <= 0) {
        throw new ConfigException("override '" + o + "' is not key=value (e.g. train.lr=0.001)");
      }
      String key = o.substring(0, eq).trim();
      List<String> values = values(o.substring(eq + 1));
      if (values.size() > 1 && key.equals("run.dir")) {
        throw new ConfigException(
            "run.dir cannot be swept: it is the folder the sweep's runs go in");
      }
      List<String> axis = new ArrayList<>();
      for (String v : values) {
        axis.add(key + "=" + v);
      }
      axes.add(axis);
    }
    List<Job> jobs = new ArrayList<>();
    int count = 1;
    for (List<String> axis : axes) {
      count = Math.multiplyExact(count, axis.size());
    }
    for (int n = 0; n < count; n++) {
      List<String> chosen = new ArrayList<>();
      List<String> swept = new ArrayList<>();
      int rest = n;
      int stride = count;
      for (List<String> axis : axes) {
        stride /= axis.size();
        String value = axis.get(rest / stride);
        rest %= stride;
        chosen.add(value);
        if (axis.size() > 1) {
          swept.add(value);
        }
      }
      jobs.add(new Job(n, List.copyOf(chosen), List.copyOf(swept)));
    }
    return jobs;
  }

  /** Whether some override holds a list of values: what --multirun would sweep. */
  public static boolean sweeps(List<String> overrides) {
    for (String o : overrides) {
      int eq = o.indexOf('=');
      if (eq > 0 && values(o.substring(eq + 1)).size() > 1) {
        return true;
      }
    }
    return false;
  }

  /**
   * The values a sweep takes: a value split at its commas ({@code \,} is a comma, and so is one
   * inside brackets: {@code [a,b]} is one value), or Hydra's {@code choice(a,b)} and {@code
   * range(start,stop[,step])} (integers, stop excluded).
   */
  static List<String> values(String text) {
    String t = text.strip();
    if (t.startsWith("choice(") && t.endsWith(")")) {
      return values(t.substring("choice(".length(), t.length() - 1));
    }
    if (t.startsWith("range(") && t.endsWith(")")) {
      return range(text, t.substring("range(".length(), t.length() - 1));
    }
    List<String> out = new ArrayList<>();
    StringBuilder v = new StringBuilder();
    int depth = 0;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '\\' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
        v.append(',');
        i++;
        continue;
      }
      depth += c == '[' || c == '{' ? 1 : c == ']' || c == '}' ? -1 : 0;
      if (c == ',' && depth == 0) {
        out.add(v.toString().strip());
        v.setLength(0);
      } else {
        v.append(c);
      }
    }
    out.add(out.isEmpty() ? v.toString() : v.toString().strip());
    return out;
  }

  private static List<String> range(String text, String arguments) {
    String[] parts = arguments.split(",");
    try {
      long start = Long.parseLong(parts[0].strip());
      long stop = Long.parseLong(parts[1].strip());
      long step = parts.length > 2 ? Long.parseLong(parts[2].strip()) : 1;
      if (parts.length > 3 || step == 0) {
        throw new NumberFormatException();
      }
      List<String> out = new ArrayList<>();
      for (long v = start; step > 0 ? v < stop : v > stop; v += step) {
        out.add(Long.toString(v));
      }
      if (out.isEmpty()) {
        throw new ConfigException("'" + text + "' is an empty range");
      }
      return out;
    } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
      throw new ConfigException(
          "'" + text + "': a range is range(start,stop) or range(start,stop,step), in integers");
    }
  }
}
