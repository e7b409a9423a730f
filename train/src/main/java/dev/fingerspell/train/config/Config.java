package dev.fingerspell.train.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A training configuration, composed as Hydra composes one: the defaults shipped in the application
 * ({@code configs/default.yaml}), then an optional YAML file, then {@code experiment=NAME} ({@code
 * configs/experiment/NAME.yaml}, looked up in the working directory's {@code configs/} first, then
 * among the shipped ones), then dotted {@code key=value} overrides. Every key must exist in the
 * defaults and keep its type; a few keys take a fixed set of words.
 */
public final class Config {
  private static final ObjectMapper YAML =
      new ObjectMapper(
          new YAMLFactory()
              .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
              .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));
  private static final String RESOURCES = "/dev/fingerspell/train/configs/";

  private static final Map<String, Set<String>> CHOICES =
      Map.of(
          "model.trainable", Set.of("head", "layer4", "all"),
          "train.optimizer", Set.of("sgd", "adamw"),
          "train.scheduler", Set.of("cosine", "step", "none"));

  private final Map<String, Object> values; // dotted key → Long, Double, Boolean or String

  private Config(Map<String, Object> values) {
    this.values = values;
  }

  /** This configuration with {@code key} set to {@code value} (a folder, say), checked as any. */
  public Config with(String key, String value) {
    Config c = new Config(new LinkedHashMap<>(values));
    c.set(key, value, key + "=" + value);
    c.validate();
    return c;
  }

  /** The shipped defaults alone. */
  public static Config defaults() {
    return new Config(flatten("", readResource(RESOURCES + "default.yaml"), "the defaults"));
  }

  /**
   * Composes a configuration. {@code file} may be null; {@code overrides} are {@code key=value} or
   * {@code experiment=NAME}; {@code workDir} is where {@code configs/experiment/} is looked up
   * first.
   */
  public static Config compose(Path file, List<String> overrides, Path workDir) {
    Config c = defaults();
    if (file != null) {
      c.merge(readFile(file), file.toString());
    }
    List<String> rest = new ArrayList<>();
    for (String o : overrides) {
      int eq = o.indexOf('=');
      if (eq <= 0) {
        throw new ConfigException("override '" + o + "' is not key=value (e.g. train.lr=0.001)");
      }
      if (o.substring(0, eq).trim().equals("experiment")) {
        String name = o.substring(eq + 1).trim();
        c.merge(readExperiment(name, workDir), "experiment " + name);
      } else {
        rest.add(o);
      }
    }
    for (String o : rest) {
      int eq = o.indexOf('=');
      String key = o.substring(0, eq).trim();
      String text = o.substring(eq + 1);
      c.set(key, parseScalar(text), "override " + o);
    }
    c.validate();
    return c;
  }

  private static Object parseScalar(String text) {
    if (text.isEmpty()) {
      return "";
    }
    try {
      Object v = YAML.readValue(text, Object.class);
      return v instanceof Map || v instanceof List ? text : v;
    } catch (IOException e) {
      return text;
    }
  }

  private static Map<String, Object> readResource(String path) {
    try (InputStream in = Config.class.getResourceAsStream(path)) {
      if (in == null) {
        return null;
      }
      return asMap(YAML.readValue(in, Object.class), path);
    } catch (IOException e) {
      throw new ConfigException("cannot read shipped config " + path + ": " + IoErrors.describe(e));
    }
  }

  private static Map<String, Object> readFile(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new ConfigException("config file " + file + " does not exist");
    }
    try {
      return asMap(YAML.readValue(file.toFile(), Object.class), file.toString());
    } catch (IOException e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof java.io.CharConversionException) {
          throw new ConfigException(file + " is not a YAML file: it is not UTF-8 text");
        }
      }
      throw new ConfigException(file + " is not valid YAML: " + IoErrors.describe(e));
    }
  }

  private static Map<String, Object> readExperiment(String name, Path workDir) {
    if (!name.matches("[\\w.-]+")) {
      throw new ConfigException("experiment name '" + name + "' must be a plain file name");
    }
    Path local = workDir.resolve("configs").resolve("experiment").resolve(name + ".yaml");
    if (Files.isRegularFile(local)) {
      return readFile(local);
    }
    Map<String, Object> shipped = readResource(RESOURCES + "experiment/" + name + ".yaml");
    if (shipped == null) {
      throw new ConfigException(
          "no experiment '"
              + name
              + "': looked for "
              + local
              + " and the shipped ones ("
              + String.join(", ", shippedExperiments())
              + ")");
    }
    return shipped;
  }

  /** The experiments shipped in the application. */
  public static List<String> shippedExperiments() {
    return List.of("demo", "finetune");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> asMap(Object yaml, String where) {
    if (yaml == null) {
      return Map.of();
    }
    if (!(yaml instanceof Map)) {
      throw new ConfigException(where + ": the top level must be a mapping of keys");
    }
    return (Map<String, Object>) yaml;
  }

  private static Map<String, Object> flatten(String prefix, Map<String, Object> m, String where) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : m.entrySet()) {
      String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
      if (e.getValue() instanceof Map<?, ?> nested) {
        @SuppressWarnings("unchecked")
        Map<String, Object> n = (Map<String, Object>) nested;
        out.putAll(flatten(key, n, where));
      } else {
        out.put(key, normalise(e.getValue()));
      }
    }
    return out;
  }

  private static Object normalise(Object v) {
    if (v instanceof Integer i) {
      return i.longValue();
    }
    if (v instanceof Float f) {
      return f.doubleValue();
    }
    if (v instanceof java.math.BigInteger b && b.bitLength() < 64) {
      return b.longValue(); // a larger one stays as it is, and set() refuses it
    }
    if (v instanceof java.math.BigDecimal d) {
      return d.doubleValue();
    }
    return v == null ? "" : v;
  }

  private void merge(Map<String, Object> yaml, String where) {
    for (Map.Entry<String, Object> e : flatten("", yaml, where).entrySet()) {
      set(e.getKey(), e.getValue(), where);
    }
  }

  private void set(String key, Object raw, String where) {
    Object v = normalise(raw);
    Object def = values.get(key);
    if (def == null) {
      throw new ConfigException(
          "unknown config key '"
              + key
              + "' ("
              + where
              + "); valid keys: "
              + String.join(", ", values.keySet()));
    }
    Object typed;
    if (def instanceof Long) {
      if (v instanceof Long) {
        typed = v;
      } else if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 0x1p63) {
        typed = d.longValue();
      } else if (v instanceof Number) { // beyond 64 bits: longValue would wrap or saturate
        throw badType(key, "an integer of 64 bits", v, where);
      } else {
        throw badType(key, "an integer", v, where);
      }
    } else if (def instanceof Double) {
      if (!(v instanceof Number n)) {
        throw badType(key, "a number", v, where);
      }
      typed = n.doubleValue();
      if (!Double.isFinite((Double) typed)) {
        throw badType(key, "a finite number", v, where);
      }
    } else if (def instanceof Boolean) {
      if (!(v instanceof Boolean)) {
        throw badType(key, "true or false", v, where);
      }
      typed = v;
    } else {
      typed = String.valueOf(v);
    }
    values.put(key, typed);
  }

  private static ConfigException badType(String key, String want, Object got, String where) {
    return new ConfigException(
        "config key '" + key + "' needs " + want + ", got '" + got + "' (" + where + ")");
  }

  private void validate() {
    for (Map.Entry<String, Set<String>> e : CHOICES.entrySet()) {
      String v = string(e.getKey());
      if (!e.getValue().contains(v)) {
        List<String> options = new ArrayList<>(e.getValue());
        Collections.sort(options);
        throw new ConfigException(
            "config key '"
                + e.getKey()
                + "' must be one of "
                + String.join(", ", options)
                + ", not '"
                + v
                + "'");
      }
    }
    String device = string("runtime.device");
    if (!device.matches("auto|cpu|cuda(:\\d+)?|nd4j")) {
      throw new ConfigException(
          "config key 'runtime.device' must be auto, cpu, cuda, cuda:N or nd4j, not '"
              + device
              + "'");
    }
    values.keySet().forEach(this::fitsAnInt);
    positive("train.epochs");
    positive("train.batch_size");
    positive("train.step_size");
    if (integer("data.image_size") < 16) {
      throw new ConfigException("config key 'data.image_size' must be at least 16");
    }
    int minBatch = ResNet18.minTrainingBatch(integer("data.image_size"));
    if (!string("model.trainable").equals("head") && integer("train.batch_size") < minBatch) {
      int side = ResNet18.lastStageSide(integer("data.image_size"));
      throw new ConfigException(
          "train.batch_size="
              + integer("train.batch_size")
              + " at data.image_size="
              + integer("data.image_size")
              + " gives layer4's batch norm one value a channel ("
              + side
              + "×"
              + side
              + " an image): use train.batch_size=2 or more");
    }
    if (!(number("train.lr") > 0)) {
      throw new ConfigException("config key 'train.lr' must be above 0");
    }
    notNegative("train.weight_decay");
    notNegative("train.momentum");
    if (!(number("train.gamma") > 0)) {
      throw new ConfigException("config key 'train.gamma' must be above 0");
    }
    double ls = number("train.label_smoothing");
    if (ls < 0 || ls >= 1) {
      throw new ConfigException("config key 'train.label_smoothing' must be in [0, 1)");
    }
    if (integer("train.early_stopping_patience") < 0) {
      throw new ConfigException(
          "config key 'train.early_stopping_patience' must be 0 (never stop early) or more");
    }
    if (integer("runtime.threads") < 0) {
      throw new ConfigException("config key 'runtime.threads' must be 0 (all cores) or more");
    }
  }

  /** Integer keys other than the seed are counts and sizes: Java's arrays and loops take ints. */
  private void fitsAnInt(String key) {
    if (values.get(key) instanceof Long v && !key.equals("seed") && v != (int) (long) v) {
      throw new ConfigException(
          "config key '"
              + key
              + (v > 0
                  ? "' must be at most " + Integer.MAX_VALUE
                  : "' must be at least " + Integer.MIN_VALUE)
              + ", not "
              + v);
    }
  }

  private void notNegative(String key) {
    if (number(key) < 0) {
      throw new ConfigException("config key '" + key + "' must be 0 or more");
    }
  }

  private void positive(String key) {
    if (integer(key) < 1) {
      throw new ConfigException("config key '" + key + "' must be at least 1");
    }
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** Every key, in the defaults' order. */
  public Set<String> keys() {
    return Collections.unmodifiableSet(values.keySet());
  }

  /** A string value. */
  public String string(String key) {
    return String.valueOf(require(key));
  }

  /** An integer value. */
  public int integer(String key) {
    return Math.toIntExact((Long) require(key));
  }

  /** A long value. */
  public long longValue(String key) {
    return (Long) require(key);
  }

  /** A number value. */
  public double number(String key) {
    return ((Number) require(key)).doubleValue();
  }

  /** A boolean value. */
  public boolean bool(String key) {
    return (Boolean) require(key);
  }

  private Object require(String key) {
    Object v = values.get(key);
    if (v == null) {
      throw new IllegalArgumentException("no config key " + key);
    }
    return v;
  }

  /** The nested form, as YAML would hold it. */
  public Map<String, Object> nested() {
    Map<String, Object> root = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : values.entrySet()) {
      String[] parts = e.getKey().split("\\.");
      Map<String, Object> m = root;
      for (int i = 0; i < parts.length - 1; i++) {
        @SuppressWarnings("unchecked")
        Map<String, Object> next =
            (Map<String, Object>)
                m.computeIfAbsent(parts[i], k -> new LinkedHashMap<String, Object>());
        m = next;
      }
      m.put(parts[parts.length - 1], e.getValue());
    }
    return root;
  }

  /** The resolved configuration as YAML. */
  public String toYaml() {
    try {
      return YAML.writeValueAsString(nested());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The resolved configuration as compact JSON. */
  public String toJson() {
    try {
      return new ObjectMapper().writeValueAsString(nested());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
