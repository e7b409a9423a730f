package dev.fingerspell.train.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.tensor.OwnJvm;
import dev.fingerspell.train.config.Config;
import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.SynthData;
import dev.fingerspell.weights.SafetensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Synthetic data → prepare → train (head and all) → evaluate → predict, in seconds. */
class TrainEndToEndTest {
  @TempDir static Path dir;
  static Path data;
  static Map<String, String> env;

  @BeforeAll
  static void prepare() {
    SynthData.write(dir.resolve("raw"), 8, 5);
    data =
        DataPrepare.run(
            new DataPrepare.Options(dir.resolve("raw"), dir.resolve("data"), 32, 0.25, 1, 64, 2),
            DataPrepare.NO_PROGRESS);
    env = Map.of("FINGERSPELL_HOME", dir.resolve("home").toString());
  }

  private static Config config(String run, String... more) {
    List<String> o =
        new ArrayList<>(
            List.of(
                "data.dir=" + data,
                "data.image_size=32",
                "model.weights=none",
                "run.dir=" + dir.resolve(run),
                "train.batch_size=16",
                "train.lr=0.003"));
    o.addAll(List.of(more));
    return Config.compose(null, o, dir);
  }

  private static Trainer.Result train(Config c) {
    return new Trainer(c, env, Trainer.quiet(line -> {})).run();
  }

  @Test
  void wholeNetworkLearnsAndTheModelServes() throws Exception {
    // Six training images a class at 32x32 are enough to see the network fit them, not to
    // generalise; the demo (64x64, 32 a class) shows validation accuracy rising to 0.98.
    Trainer.Result r =
        train(config("all", "model.trainable=all", "train.epochs=5", "train.lr=0.0005"));
    List<dev.fingerspell.train.report.Report.Epoch> h = r.epochs();
    assertEquals(5, h.size());
    assertTrue(h.get(4).trainLoss() < 0.25 * h.get(0).trainLoss(), "loss falls: " + h);
    assertTrue(h.get(4).trainAcc() > h.get(0).trainAcc() + 0.5, "accuracy rises: " + h);
    for (String f :
        List.of(
            "config.yaml",
            "metrics.jsonl",
            "model.safetensors",
            "last.safetensors",
            "loss.png",
            "accuracy.png",
            "confusion_matrix.png",
            "report.html",
            "run.json")) {
      assertTrue(Files.isRegularFile(r.runDir().resolve(f)), f);
    }
    List<String> lines = Files.readAllLines(r.runDir().resolve("metrics.jsonl"));
    assertEquals(5, lines.size());
    JsonNode first = new ObjectMapper().readTree(lines.get(0));
    for (String k :
        List.of("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")) {
      assertTrue(first.has(k), k);
    }
    String html = Files.readString(r.runDir().resolve("report.html"));
    assertTrue(html.contains("data:image/png;base64,") && html.contains("precision"), "report");

    // the best model is a full model that evaluate and predict load
    AslClassifier model = AslClassifier.load(r.runDir().resolve("model.safetensors"));
    assertEquals(32, model.info().preprocess().size());
    Evaluation.Result ev = Evaluation.prepared(model, PreparedData.open(data), "val");
    assertEquals(r.bestAccuracy(), ev.confusion().accuracy(), 1e-9);
    Evaluation.Result raw = Evaluation.raw(model, Evaluation.rawSplit(dir.resolve("raw"), "test"));
    assertEquals(28, raw.confusion().total());
    try (SafetensorsFile f = SafetensorsFile.open(r.runDir().resolve("model.safetensors"))) {
      assertTrue(f.metadata().get("config").contains("\"trainable\":\"all\""));
    }
  }

  @Test
  void frozenHeadTrainsOnCachedFeaturesAndIsDeterministic() throws Exception {
    Trainer.Result a = train(config("head1", "train.epochs=4"));
    assertTrue(a.epochs().get(3).trainLoss() < a.epochs().get(0).trainLoss(), "loss falls");
    try (var s = Files.list(dir.resolve("home/features"))) {
      assertEquals(2, s.count(), "train and val features cached");
    }
    Trainer.Result b = train(config("head2", "train.epochs=4"));
    assertEquals(strip(a.runDir()), strip(b.runDir()), "same config and seed, same metrics");
  }

  @Test
  void sameSeedSameMetricsThroughTheNetwork() throws Exception {
    Trainer.Result a =
        train(config("det1", "model.trainable=layer4", "train.epochs=2", "data.augment=true"));
    Trainer.Result b =
        train(config("det2", "model.trainable=layer4", "train.epochs=2", "data.augment=true"));
    assertEquals(strip(a.runDir()), strip(b.runDir()));
  }

  /**
   * {@code layer4} without augmentation: the first run keeps the frozen stages' output, a file a
   * training shard; a second run reads it back, and its metrics are the first's.
   */
  @Test
  void layer4ReadsTheFrozenStagesFromTheirCacheToTheSameMetrics() throws Exception {
    Map<String, String> home = Map.of("FINGERSPELL_HOME", dir.resolve("home-layer3").toString());
    List<String> said = new ArrayList<>();
    java.util.function.Function<String, Trainer.Result> layer4 =
        run -> {
          said.clear();
          Config c = config(run, "model.trainable=layer4", "train.epochs=2");
          return new Trainer(c, home, Trainer.quiet(said::add)).run();
        };
    Trainer.Result a = layer4.apply("layer3-a");
    assertTrue(said.stream().anyMatch(l -> l.contains("their output is cached")), "" + said);
    try (var files = Files.list(dir.resolve("home-layer3/layer3"))) {
      assertEquals(PreparedData.open(data).shardFiles("train").size(), files.count());
    }
    Trainer.Result b = layer4.apply("layer3-b");
    assertTrue(said.stream().anyMatch(l -> l.contains("run from their cache")), "" + said);
    assertEquals(strip(a.runDir()), strip(b.runDir()), "the same metrics from the cache");
  }

  /**
   * The step and constant schedules and SGD as the config names them: the learning rate of each
   * epoch in the metrics, as PyTorch's StepLR gives it (the schedules' own goldens are
   * tensor-core's).
   */
  @Test
  void theConfiguredScheduleSetsEachEpochsLearningRate() {
    List<Double> step =
        train(
                config(
                    "step",
                    "train.epochs=5",
                    "train.optimizer=sgd",
                    "train.scheduler=step",
                    "train.step_size=2",
                    "train.gamma=0.5"))
            .epochs()
            .stream()
            .map(dev.fingerspell.train.report.Report.Epoch::lr)
            .toList();
    assertEquals(5, step.size());
    double[] expected = {0.003, 0.003, 0.0015, 0.0015, 0.00075};
    for (int e = 0; e < 5; e++) {
      assertEquals(expected[e], step.get(e), 1e-12, "epoch " + (e + 1) + ": " + step);
    }
    List<Double> constant =
        train(config("constant", "train.epochs=3", "train.scheduler=none")).epochs().stream()
            .map(dev.fingerspell.train.report.Report.Epoch::lr)
            .toList();
    assertEquals(List.of(0.003, 0.003, 0.003), constant);
  }

  /**
   * A batch of one trains where layer4's plane has several values a channel (48×48: 2×2), as
   * PyTorch would; where it has one (32×32: 1×1) the config is refused before any work, instead of
   * every batch being skipped and an untrained model reported.
   */
  @Test
  void aBatchOfOneTrainsWhereBatchNormHasValuesAndIsRefusedWhereNot() {
    Trainer.Result r =
        train(
            config(
                "single",
                "model.trainable=layer4",
                "train.epochs=1",
                "train.batch_size=1",
                "data.image_size=48"));
    assertTrue(r.epochs().get(0).trainLoss() > 0, "it trained: " + r.epochs());
    dev.fingerspell.train.config.ConfigException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            dev.fingerspell.train.config.ConfigException.class,
            () -> train(config("single32", "model.trainable=all", "train.batch_size=1")));
    assertEquals(
        "train.batch_size=1 at data.image_size=32 gives layer4's batch norm one value a channel"
            + " (1×1 an image): use train.batch_size=2 or more",
        e.getMessage());
    assertFalse(Files.exists(dir.resolve("single32")), "nothing written for a refused run");
  }

  /**
   * A prepared set whose validation share took every image (two a class at --val-fraction 0.75) has
   * nothing to train on: the run says so and what to do, before any work, for the frozen and the
   * whole network alike.
   */
  @Test
  void aSetWithNoTrainingImagesIsRefused() {
    SynthData.write(dir.resolve("tiny-raw"), 2, 9);
    Path tiny =
        DataPrepare.run(
            new DataPrepare.Options(
                dir.resolve("tiny-raw"), dir.resolve("tiny"), 32, 0.75, 1, 64, 2),
            DataPrepare.NO_PROGRESS);
    for (String trainable : List.of("head", "all")) {
      dev.fingerspell.train.data.DataException e =
          org.junit.jupiter.api.Assertions.assertThrows(
              dev.fingerspell.train.data.DataException.class,
              () ->
                  train(
                      config(
                          "none-" + trainable,
                          "data.dir=" + tiny,
                          "model.trainable=" + trainable)));
      assertEquals(
          tiny
              + " has no training images (all 58 went to validation): prepare it again with a"
              + " smaller --val-fraction",
          e.getMessage());
      assertFalse(Files.exists(dir.resolve("none-" + trainable)), "nothing written");
    }
  }

  private static List<String> strip(Path run) throws Exception {
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
      out.add(line.replaceAll(",\"seconds\":[0-9.eE-]+", ""));
    }
    return out;
  }

  @Test
  void aStopSavesTheCheckpointAndTheMetricsSoFar() throws Exception {
    StopIn stop = new StopIn("epoch 2"); // as Ctrl-C would, in the middle of epoch 2
    Trainer.Result r = stop.run(config("stop", "model.trainable=all", "train.epochs=5"), env);
    assertTrue(r.interrupted());
    assertEquals(1, r.epochs().size());
    assertEquals(1, Files.readAllLines(r.runDir().resolve("metrics.jsonl")).size());
    try (SafetensorsFile f = SafetensorsFile.open(r.runDir().resolve("last.safetensors"))) {
      assertEquals(122, f.tensors().size());
    }
    JsonNode status = new ObjectMapper().readTree(r.runDir().resolve("run.json").toFile());
    assertEquals("interrupted", status.get("status").asText());
    try (var s = Files.list(r.runDir())) {
      assertFalse(
          s.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary files left");
    }
    assertTrue(stop.finished());
  }

  @Test
  void aStopDuringTheFeaturePassEndsItAtTheNextBatchAndCachesNothingHalfDone() throws Exception {
    Path home = dir.resolve("home-stop");
    Path earlierRun = dir.resolve("stop-features");
    Files.createDirectories(earlierRun);
    for (String name :
        List.of("model.safetensors", "report.html", "metrics.jsonl", "resume.safetensors")) {
      Files.writeString(earlierRun.resolve(name), "an earlier run's");
    }
    StopIn stop = new StopIn("features train"); // after the pass's first batch
    Trainer.Result r =
        stop.run(
            config("stop-features", "seed=777", "train.epochs=3"),
            Map.of("FINGERSPELL_HOME", home.toString()));
    assertTrue(r.interrupted());
    assertEquals(0, r.epochs().size());
    int trainImages = PreparedData.open(data).count("train");
    assertTrue(
        stop.images.get() < trainImages,
        stop.images + " of " + trainImages + " training images went through the backbone");
    try (var s = Files.list(home.resolve("features"))) {
      assertEquals(1, s.count(), "only the finished validation features are cached");
    }
    JsonNode status = new ObjectMapper().readTree(r.runDir().resolve("run.json").toFile());
    assertEquals("interrupted", status.get("status").asText());
    assertEquals(earlierRun, r.runDir());
    for (String name :
        List.of("model.safetensors", "report.html", "metrics.jsonl", "resume.safetensors")) {
      assertFalse(Files.exists(earlierRun.resolve(name)), "the earlier run's " + name + " is left");
    }
    assertTrue(stop.finished());
  }

  @Test
  void aStopDuringValidationKeepsTheTrainedEpochAndCountsNoHalfValidation() throws Exception {
    StopIn stop = new StopIn("validation 1"); // after validation's first batch
    Trainer.Result r =
        stop.run(config("stop-validation", "model.trainable=layer4", "train.epochs=3"), env);
    assertTrue(r.interrupted());
    assertEquals(1, r.epochs().size());
    assertTrue(Double.isNaN(r.epochs().get(0).valAcc()), "a cut-short validation is not counted");
    assertEquals(0, r.bestEpoch());
    JsonNode line = new ObjectMapper().readTree(r.runDir().resolve("metrics.jsonl").toFile());
    assertTrue(line.get("val_acc").isNull(), line.toString());
    try (SafetensorsFile f = SafetensorsFile.open(r.runDir().resolve("last.safetensors"))) {
      assertEquals(122, f.tensors().size());
    }
    assertFalse(Files.exists(r.runDir().resolve("model.safetensors")), "no epoch was best");
    assertTrue(
        Files.readString(r.runDir().resolve("report.html"))
            .contains("stopped before an epoch was validated"));
  }

  /**
   * A run stopped and then resumed ends with the metrics, checkpoints and best model the same run
   * gives without stopping: stopped in an epoch's training (the whole network; the head on cached
   * features) or in its validation (layer4 with AdamW and augmentation: that epoch is done again).
   * Its resume point is gone once it completes, and a completed run has nothing to resume.
   */
  @ParameterizedTest
  @CsvSource({
    "all, epoch 2, model.trainable=all",
    "head, epoch 3, train.epochs=4",
    "layer4, validation 2, model.trainable=layer4;train.optimizer=adamw;data.augment=true"
  })
  void aResumedRunEndsAsTheSameRunWithoutAStop(String name, String stopIn, String settings)
      throws Exception {
    List<String> more = new ArrayList<>(List.of("train.epochs=3"));
    more.addAll(List.of(settings.split(";")));
    Trainer.Result straight = train(config("straight-" + name, more.toArray(String[]::new)));
    assertFalse(straight.resumable());

    Config cfg = config("resumed-" + name, more.toArray(String[]::new));
    Trainer.Result stopped = new StopIn(stopIn).run(cfg, env);
    assertTrue(stopped.interrupted() && stopped.resumable());
    List<String> notices = new ArrayList<>();
    Trainer.Result resumed = new Trainer(cfg, env, Trainer.quiet(notices::add), true).run();
    assertFalse(resumed.interrupted());
    int at = stopIn.startsWith("validation") ? 1 : Integer.parseInt(stopIn.substring(6)) - 1;
    assertTrue(
        notices.contains("resuming after epoch " + at + " of " + cfg.integer("train.epochs")));
    assertEquals(strip(straight.runDir()), strip(resumed.runDir()), "the same metrics");
    assertEquals(straight.bestEpoch(), resumed.bestEpoch());
    assertEquals(straight.bestAccuracy(), resumed.bestAccuracy());
    for (String model : List.of("model.safetensors", "last.safetensors")) {
      assertEquals(
          tensors(straight.runDir().resolve(model)),
          tensors(resumed.runDir().resolve(model)),
          model);
    }
    assertFalse(resumed.resumable(), "a completed run keeps no resume point");
    JsonNode status = new ObjectMapper().readTree(resumed.runDir().resolve("run.json").toFile());
    assertEquals("completed", status.get("status").asText());
    assertEquals(cfg.integer("train.epochs"), status.get("epochs_completed").asInt());
    assertEquals("[" + at + "]", status.get("resumed_after").toString());
    assertEquals(PreparedData.open(data).fingerprint(), status.get("data_fingerprint").asText());
    assertFalse(status.has("weights_sha256"), "model.weights=none: no file to pin");
    assertTrue(
        Files.readString(resumed.runDir().resolve("report.html"))
            .contains("completed, resumed after epoch " + at));
    ResumeException again =
        assertThrows(
            ResumeException.class,
            () -> new Trainer(cfg, env, Trainer.quiet(line -> {}), true).run());
    assertTrue(again.getMessage().contains("completed all its epochs"), again.getMessage());
  }

  /**
   * A run whose config or data changed since it started is not resumed (its remaining epochs would
   * be another run's), and the refusal leaves its record as it was; a folder that is no run, or a
   * run stopped before its first epoch ended, says so.
   */
  @Test
  void aRunIsNotResumedOnAnythingButWhatItStartedWith() throws Exception {
    Config cfg = config("refused", "model.trainable=all", "train.epochs=3");
    assertTrue(new StopIn("epoch 2").run(cfg, env).resumable());
    Path run = dir.resolve("refused");
    byte[] record = Files.readAllBytes(run.resolve("run.json"));
    Config changed = config("refused", "model.trainable=all", "train.epochs=3", "train.lr=0.1");
    ResumeException e =
        assertThrows(
            ResumeException.class,
            () -> new Trainer(changed, env, Trainer.quiet(line -> {}), true).run());
    assertEquals(
        "cannot resume "
            + run
            + ": "
            + run.resolve("config.yaml")
            + " changed since the run started, so its remaining epochs would make another run;"
            + " start a new one",
        e.getMessage());
    assertArrayEquals(record, Files.readAllBytes(run.resolve("run.json")));
    assertEquals(1, Files.readAllLines(run.resolve("metrics.jsonl")).size());
    // threads may change: they decide how fast, not what
    Config threads =
        config("refused", "model.trainable=all", "train.epochs=3", "runtime.threads=1");
    assertEquals(Trainer.configFingerprint(cfg), Trainer.configFingerprint(threads));

    // the same images split with another seed: other shards
    Path otherData =
        DataPrepare.run(
            new DataPrepare.Options(
                dir.resolve("raw"), dir.resolve("other-data"), 32, 0.25, 2, 64, 2),
            DataPrepare.NO_PROGRESS);
    Config onOtherData =
        config("refused", "model.trainable=all", "train.epochs=3", "data.dir=" + otherData);
    ResumeException d =
        assertThrows(
            ResumeException.class,
            () -> new Trainer(onOtherData, env, Trainer.quiet(line -> {}), true).run());
    assertTrue(d.getMessage().contains("changed since the run started"), d.getMessage());

    StopIn early = new StopIn("epoch 1");
    Trainer.Result first = early.run(config("early", "model.trainable=all"), env);
    assertFalse(first.resumable());
    ResumeException none =
        assertThrows(
            ResumeException.class,
            () ->
                new Trainer(
                        config("early", "model.trainable=all"), env, Trainer.quiet(l -> {}), true)
                    .run());
    assertTrue(none.getMessage().contains("stopped before its first epoch"), none.getMessage());
  }

  /**
   * A run folder another process trains in (here a second JVM holding its lock, as a run still
   * saving after Ctrl-C would) is left alone: a new run into it and a resume of it are refused
   * before anything in it changes. Once that process is gone the folder is free again.
   */
  @Test
  void aRunFolderInUseByAnotherProcessIsLeftAlone() throws Exception {
    Config cfg = config("in-use", "train.epochs=3");
    assertTrue(new StopIn("epoch 2").run(cfg, env).resumable());
    Path run = dir.resolve("in-use");
    Map<String, byte[]> before = contents(run);
    Process holder = OwnJvm.builder(List.of(), HoldLock.class, run.toString()).start();
    try {
      assertEquals('L', holder.getInputStream().read(), "the other process holds the lock");
      assertTrue(Trainer.training(run));
      for (boolean resume : new boolean[] {false, true}) {
        IllegalStateException e =
            assertThrows(
                IllegalStateException.class,
                () -> new Trainer(cfg, env, Trainer.quiet(line -> {}), resume).run());
        assertEquals(
            run
                + " is in use by another training run (one still saving after Ctrl-C, perhaps):"
                + " wait for it to end, or give this run another run.dir",
            e.getMessage());
      }
      Map<String, byte[]> after = contents(run);
      assertEquals(before.keySet(), after.keySet());
      before.forEach((name, bytes) -> assertArrayEquals(bytes, after.get(name), name));
    } finally {
      holder.getOutputStream().close(); // it exits, and the OS drops its lock
      holder.waitFor();
    }
    assertFalse(Trainer.training(run));
    Trainer.Result resumed = new Trainer(cfg, env, Trainer.quiet(line -> {}), true).run();
    assertFalse(resumed.interrupted());
    assertFalse(Trainer.training(run), "released when the run ends");
  }

  /** Holds a run folder's lock until its standard input closes; writes L once it holds it. */
  static final class HoldLock {
    public static void main(String[] args) throws Exception {
      try (RunFolderLock lock = RunFolderLock.take(Path.of(args[0]))) {
        System.out.print('L');
        System.out.flush();
        System.in.read();
      }
    }
  }

  private static Map<String, byte[]> contents(Path run) throws Exception {
    Map<String, byte[]> out = new java.util.TreeMap<>();
    try (var files = Files.list(run)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        out.put(f.getFileName().toString(), Files.readAllBytes(f));
      }
    }
    return out;
  }

  /** Each tensor's bytes by name (the metadata, which names the run folder, left out). */
  private static Map<String, List<Byte>> tensors(Path file) {
    Map<String, List<Byte>> out = new java.util.TreeMap<>();
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      for (String name : f.tensors().keySet()) {
        List<Byte> bytes = new ArrayList<>();
        for (byte b : f.readBytes(name)) {
          bytes.add(b);
        }
        out.put(name, bytes);
      }
    }
    return out;
  }

  /**
   * A run that fails in its second epoch (here out of memory, as a too large train.batch_size makes
   * it) keeps the first epoch's checkpoints and metrics, and its run folder says it failed, why,
   * and shows the report of what was done; the error still reaches the caller.
   */
  @Test
  void aFailedRunSaysSoInItsFolderAndKeepsTheEpochsDone() throws Exception {
    List<String> notices = new ArrayList<>();
    Trainer.Listener failing =
        new Trainer.Listener() {
          private String current = "";

          @Override
          public void notice(String line) {
            notices.add(line);
          }

          @Override
          public void phase(String what, long steps) {
            current = what;
          }

          @Override
          public void step(long n, double loss) {
            if (current.equals("epoch 2")) {
              throw new OutOfMemoryError("Java heap space");
            }
          }

          @Override
          public void endPhase() {}
        };
    Trainer trainer =
        new Trainer(config("fail", "model.trainable=all", "train.epochs=3"), env, failing);
    OutOfMemoryError e = assertThrows(OutOfMemoryError.class, trainer::run);
    assertEquals("Java heap space", e.getMessage());
    Path run = dir.resolve("fail");
    JsonNode status = new ObjectMapper().readTree(run.resolve("run.json").toFile());
    assertEquals("failed", status.get("status").asText());
    assertEquals("out of memory (Java heap space)", status.get("error").asText());
    assertEquals(1, status.get("epochs_completed").asInt());
    assertEquals(1, Files.readAllLines(run.resolve("metrics.jsonl")).size());
    assertTrue(Files.exists(run.resolve("model.safetensors")));
    assertTrue(Files.exists(run.resolve("last.safetensors")));
    assertTrue(
        Files.readString(run.resolve("report.html"))
            .contains("failed: out of memory (Java heap space)"));
    assertEquals(
        "failed; epoch 1 is saved in run folder "
            + run
            + " (fingerspell train --resume "
            + run
            + " goes on from there)",
        notices.get(notices.size() - 1));
    assertTrue(trainer.awaitFinished(1));
  }

  /**
   * While a run goes on, report.html shows the epochs done and reloads itself in a browser, as
   * W&B's live page follows a run; the finished run's report stays still.
   */
  @Test
  void theReportFollowsARunWhileItGoesOn() throws Exception {
    Path report = dir.resolve("live/report.html");
    List<String> seen = new ArrayList<>();
    liveReporting(
        config("live", "model.trainable=head", "train.epochs=3"),
        new ArrayList<>(),
        epoch ->
            seen.add(
                epoch + ": " + (Files.exists(report) ? Files.readString(report) : "no report")));
    assertEquals("epoch 1: no report", seen.get(0));
    assertTrue(seen.get(1).contains("<meta http-equiv=\"refresh\" content=\"5\">"), seen.get(1));
    assertTrue(seen.get(1).contains("<td>running, epoch 1 of 3 done</td>"), seen.get(1));
    assertTrue(seen.get(2).contains("<td>running, epoch 2 of 3 done</td>"), seen.get(2));
    String last = Files.readString(report);
    assertTrue(last.contains("<td>completed</td>"), last);
    assertFalse(last.contains("http-equiv"), "a finished run's report reloads itself");
  }

  /** A report that cannot be written while the run goes on is a warning, not a failed run. */
  @Test
  void aLiveReportThatCannotBeWrittenDoesNotStopTheRun() throws Exception {
    Path report = dir.resolve("blocked-report/report.html");
    List<String> notices = new ArrayList<>();
    Trainer.Result r =
        liveReporting(
            config("blocked-report", "model.trainable=head", "train.epochs=2"),
            notices,
            epoch -> {
              if (epoch.equals("epoch 1")) { // a folder where the page goes: it cannot be
                Files.createDirectories(report.resolve("in-the-way"));
              } else {
                Files.delete(report.resolve("in-the-way"));
                Files.delete(report);
              }
            });
    assertEquals(2, r.epochs().size());
    assertTrue(
        notices.stream().anyMatch(n -> n.startsWith("warning: report.html not updated: ")),
        notices.toString());
    assertTrue(Files.readString(report).contains("<td>completed</td>"));
  }

  /** What a test does as an epoch starts; it may touch files. */
  private interface AtEpoch {
    void start(String epoch) throws java.io.IOException;
  }

  /** Trains {@code cfg} with the report written after every epoch, notices into {@code notices}. */
  private static Trainer.Result liveReporting(Config cfg, List<String> notices, AtEpoch atEpoch) {
    Trainer trainer =
        new Trainer(
            cfg,
            env,
            new Trainer.Listener() {
              @Override
              public void notice(String line) {
                notices.add(line);
              }

              @Override
              public void phase(String what, long steps) {
                if (what.startsWith("epoch ")) {
                  try {
                    atEpoch.start(what);
                  } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                  }
                }
              }

              @Override
              public void step(long n, double loss) {}

              @Override
              public void endPhase() {}
            });
    trainer.liveReportEvery(java.time.Duration.ZERO);
    return trainer.run();
  }

  /**
   * Ctrl-C as a test gives it: asks the trainer to stop at the first step of the phase named, and
   * counts the images that went through that phase.
   */
  private static final class StopIn implements Trainer.Listener {
    private final String phase;
    private String current = "";
    private Trainer trainer;
    final AtomicInteger images = new AtomicInteger();

    StopIn(String phase) {
      this.phase = phase;
    }

    Trainer.Result run(Config cfg, Map<String, String> environment) {
      trainer = new Trainer(cfg, environment, this);
      return trainer.run();
    }

    boolean finished() throws InterruptedException {
      return trainer.awaitFinished(1);
    }

    @Override
    public void notice(String line) {}

    @Override
    public void phase(String what, long steps) {
      current = what;
    }

    @Override
    public void step(long n, double loss) {
      if (current.equals(phase)) {
        images.addAndGet((int) n);
        trainer.requestStop();
      }
    }

    @Override
    public void endPhase() {}
  }
}
