package dev.fingerspell.train.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConfigTest {
  @TempDir Path dir;

  @Test
  void defaultsHoldEveryRequiredKey() {
    Config c = Config.defaults();
    for (String key :
        List.of(
            "seed",
            "data.dir",
            "data.image_size",
            "data.augment",
            "model.weights",
            "model.trainable",
            "train.epochs",
            "train.batch_size",
            "train.optimizer",
            "train.lr",
            "train.momentum",
            "train.weight_decay",
            "train.scheduler",
            "run.dir",
            "runtime.device",
            "runtime.threads")) {
      assertTrue(c.keys().contains(key), key);
    }
    assertEquals("head", c.string("model.trainable"));
    assertEquals(224, c.integer("data.image_size"));
  }

  @Test
  void layersApplyInHydrasOrder() throws Exception {
    Path file = dir.resolve("my.yaml");
    Files.writeString(file, "train:\n  lr: 0.5\n  epochs: 3\nname: mine\n");
    Config c =
        Config.compose(
            file, List.of("experiment=finetune", "train.lr=0.001", "data.augment=true"), dir);
    assertEquals(0.001, c.number("train.lr")); // override beats experiment beats file
    assertEquals(5, c.integer("train.epochs")); // experiment beats file
    assertEquals("finetune", c.string("name"));
    assertEquals("layer4", c.string("model.trainable"));
    assertTrue(c.bool("data.augment"));
    assertTrue(c.toYaml().contains("lr: 0.001"), c.toYaml());
  }

  @Test
  void aLocalExperimentWinsOverAShippedOne() throws Exception {
    Path exp = dir.resolve("configs/experiment");
    Files.createDirectories(exp);
    Files.writeString(exp.resolve("demo.yaml"), "train:\n  epochs: 2\n");
    assertEquals(2, Config.compose(null, List.of("experiment=demo"), dir).integer("train.epochs"));
    assertEquals(
        8,
        Config.compose(null, List.of("experiment=demo"), dir.resolve("x")).integer("train.epochs"));
  }

  /** A choice outside its set is one line naming the key and the choices. */
  @Test
  void choicesAreCheckedAndAGpuIsNamedByIndex() {
    assertEquals(
        "cuda:1",
        Config.compose(null, List.of("runtime.device=cuda:1"), dir).string("runtime.device"));
    ConfigException device =
        assertThrows(
            ConfigException.class, () -> Config.compose(null, List.of("runtime.device=gpu"), dir));
    assertEquals(
        "config key 'runtime.device' must be auto, cpu, cuda, cuda:N or nd4j, not 'gpu'",
        device.getMessage());
    ConfigException trainable =
        assertThrows(
            ConfigException.class,
            () -> Config.compose(null, List.of("model.trainable=everything"), dir));
    assertEquals(
        "config key 'model.trainable' must be one of all, head, layer4, not 'everything'",
        trainable.getMessage());
  }

  @Test
  void integersWidenToNumbersButNotTheOtherWay() {
    assertEquals(1.0, Config.compose(null, List.of("train.lr=1"), dir).number("train.lr"));
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> Config.compose(null, List.of("train.epochs=2.5"), dir));
    assertTrue(e.getMessage().contains("needs an integer"), e.getMessage());
    assertEquals(
        "none", Config.compose(null, List.of("model.weights=none"), dir).string("model.weights"));
  }

  @Test
  void mistakesAreOneLineThatSayWhatToDo() {
    ConfigException unknown =
        assertThrows(
            ConfigException.class, () -> Config.compose(null, List.of("train.lrr=0.1"), dir));
    assertTrue(
        unknown.getMessage().contains("unknown config key 'train.lrr'"), unknown.getMessage());
    assertTrue(
        unknown.getMessage().contains("valid keys: seed, name, data.dir"), unknown.getMessage());
    assertFalse(unknown.getMessage().contains("\n"));
    ConfigException type =
        assertThrows(
            ConfigException.class, () -> Config.compose(null, List.of("data.augment=maybe"), dir));
    assertTrue(type.getMessage().contains("true or false"), type.getMessage());
    ConfigException choice =
        assertThrows(
            ConfigException.class,
            () -> Config.compose(null, List.of("model.trainable=backbone"), dir));
    assertTrue(choice.getMessage().contains("all, head, layer4"), choice.getMessage());
    assertThrows(ConfigException.class, () -> Config.compose(null, List.of("train.lr"), dir));
    assertThrows(
        ConfigException.class, () -> Config.compose(null, List.of("experiment=nope"), dir));
    assertThrows(ConfigException.class, () -> Config.compose(null, List.of("train.epochs=0"), dir));
    assertThrows(
        ConfigException.class, () -> Config.compose(dir.resolve("missing.yaml"), List.of(), dir));
  }

  @Test
  void aBadFileIsNamed() throws Exception {
    Path file = dir.resolve("bad.yaml");
    Files.writeString(file, "train: [unclosed\n");
    ConfigException e =
        assertThrows(ConfigException.class, () -> Config.compose(file, List.of(), dir));
    assertTrue(e.getMessage().startsWith(file + " is not valid YAML"), e.getMessage());
    Path binary = dir.resolve("photo.yaml"); // a PNG given as --config, say
    Files.write(binary, new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
    ConfigException b =
        assertThrows(ConfigException.class, () -> Config.compose(binary, List.of(), dir));
    assertEquals(binary + " is not a YAML file: it is not UTF-8 text", b.getMessage());
    Path nested = dir.resolve("nested.yaml");
    Files.writeString(nested, "train:\n  extra:\n    deep: 1\n");
    assertThrows(ConfigException.class, () -> Config.compose(nested, List.of(), dir));
  }

  /**
   * Values of the right type that no run can use are refused when the config is read, one line
   * each, rather than wrapping around, failing later with a stack trace or training on NaN.
   */
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "train.epochs=3000000000           | config key 'train.epochs' must be at most 2147483647",
        "train.batch_size=18446744073709551617 | config key 'train.batch_size' needs an integer of 64 bits",
        "seed=99999999999999999999         | config key 'seed' needs an integer of 64 bits",
        "train.epochs=1e30                 | config key 'train.epochs' needs an integer of 64 bits",
        "runtime.threads=-1                | config key 'runtime.threads' must be 0 (all cores) or more",
        "train.lr=.inf                     | config key 'train.lr' needs a",
        "train.lr=1e999                    | config key 'train.lr' needs a finite number",
        "train.momentum=.nan               | config key 'train.momentum' needs a",
        "train.weight_decay=-0.1           | config key 'train.weight_decay' must be 0 or more",
        "train.momentum=-0.9               | config key 'train.momentum' must be 0 or more",
        "train.gamma=0                     | config key 'train.gamma' must be above 0",
      })
  void outOfRangeValuesAreRefusedWhenRead(String override, String message) {
    ConfigException e =
        assertThrows(ConfigException.class, () -> Config.compose(null, List.of(override), dir));
    assertTrue(e.getMessage().startsWith(message), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
  }

  @Test
  void theLargestValuesThatFitAreKept() {
    Config c =
        Config.compose(
            null,
            List.of("seed=-9223372036854775808", "train.epochs=2147483647", "train.weight_decay=0"),
            dir);
    assertEquals(Long.MIN_VALUE, c.longValue("seed"));
    assertEquals(Integer.MAX_VALUE, c.integer("train.epochs"));
    assertEquals(0.0, c.number("train.weight_decay"));
  }

  @Test
  void withSetsOneKeyOnACopyCheckedAsAnOverrideIs() {
    Config base = Config.compose(null, List.of("train.lr=0.01"), Path.of(""));
    Config moved = base.with("run.dir", "runs/sweep/0-train.lr=0.01");
    assertEquals("runs/sweep/0-train.lr=0.01", moved.string("run.dir"));
    assertEquals(0.01, moved.number("train.lr"));
    assertEquals("", base.string("run.dir"));
    assertThrows(ConfigException.class, () -> base.with("train.epochs", "0"));
  }
}
