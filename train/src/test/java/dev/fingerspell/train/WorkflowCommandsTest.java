package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.train.training.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The data → train → evaluate → predict workflow through the command line, as a user runs it. */
class WorkflowCommandsTest {
  @TempDir Path dir;

  private CliRun run(String... args) {
    // HF_HOME: never this machine's huggingface_hub cache, which may hold pretrained weights
    return CliRun.run(
        Map.of(
            "FINGERSPELL_HOME",
            dir.resolve("home").toString(),
            "HF_HOME",
            dir.resolve("no-hf").toString()),
        args);
  }

  /**
   * {@code data synth} ({@code perClass} images a class, 28 test images) into {@code raw}, then
   * {@code data prepare} at 32x32 into {@code data}; the prepare run.
   */
  private CliRun synthesisedAndPrepared(int perClass, String valFraction) {
    CliRun synth =
        run("data", "synth", "--out", dir.resolve("raw").toString(), "--per-class", "" + perClass);
    assertEquals(0, synth.status(), synth.err());
    assertTrue(synth.out().startsWith("wrote " + (29 * perClass + 28) + " images"), synth.out());
    CliRun prep = prepared("--val-fraction", valFraction);
    assertEquals(0, prep.status(), prep.err());
    return prep;
  }

  /** {@code data prepare} of {@code raw} at 32x32 into {@code data}, with {@code options}. */
  private CliRun prepared(String... options) {
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "data",
                "prepare",
                "--src",
                dir.resolve("raw").toString(),
                "--out",
                dir.resolve("data").toString(),
                "--size",
                "32"));
    args.addAll(List.of(options));
    return run(args.toArray(String[]::new));
  }

  /**
   * {@code train} from scratch at 32x32 on what {@link #synthesisedAndPrepared} made, into {@code
   * run}, with {@code settings} besides; it must succeed.
   */
  private CliRun trained(Path run, String... settings) {
    List<String> args =
        new java.util.ArrayList<>(
            List.of(
                "train",
                "data.dir=" + dir.resolve("data/processed"),
                "data.image_size=32",
                "model.weights=none",
                "run.dir=" + run));
    args.addAll(List.of(settings));
    CliRun train = run(args.toArray(String[]::new));
    assertEquals(0, train.status(), train.err());
    return train;
  }

  /**
   * Without validation images (--val-fraction 0) training accuracy chooses the best epoch, and the
   * command line and the report say so instead of calling it validation accuracy.
   */
  @Test
  void withoutValidationImagesTheBestEpochIsNamedByTrainingAccuracy() throws Exception {
    synthesisedAndPrepared(1, "0");
    Path run = dir.resolve("run");
    CliRun train = trained(run, "train.epochs=1");
    assertTrue(
        train
            .out()
            .matches(
                "(?s).*done: best training accuracy \\d\\.\\d{4} \\(no validation images\\) at"
                    + " epoch 1; report .*"),
        train.out());
    String report = Files.readString(run.resolve("report.html"));
    assertTrue(report.contains("(no validation images), epoch 1"), report);
    assertFalse(report.contains("validation accuracy"), report);
    // runs marks it too, and --json says which split chose the epoch
    String table = run("runs", run.toString()).out();
    assertTrue(
        table
            .lines()
            .toList()
            .get(1)
            .matches("run +completed +1/1 +0\\.\\d{4} \\(ep 1, train\\) .*"),
        table);
    JsonNode listed =
        new ObjectMapper().readTree(run("runs", run.toString(), "--json").out()).get(0);
    assertEquals("training", listed.get("best_by").asText());
    assertTrue(listed.get("best_val_acc").isNull());
    assertEquals(
        Files.readAllLines(run.resolve("metrics.jsonl")).stream()
            .map(line -> line.replaceAll(".*\"train_acc\":([0-9.]+).*", "$1"))
            .findFirst()
            .orElseThrow(),
        listed.get("best_train_acc").asText());
  }

  @Test
  void synthPrepareTrainEvaluatePredict() throws Exception {
    CliRun prep = synthesisedAndPrepared(4, "0.25");
    assertTrue(prep.out().contains("train 87, val 29, test 28 images; 0 skipped"), prep.out());
    dataStatus(dir.resolve("data"));
    // the same source and settings again: nothing to do, unless forced
    CliRun skipped = prepared("--val-fraction", "0.25");
    assertEquals(0, skipped.status(), skipped.err());
    assertTrue(
        skipped
            .out()
            .startsWith(
                dir.resolve("data/processed") + " is up to date with " + dir.resolve("raw")),
        skipped.out());
    assertTrue(skipped.out().strip().endsWith("nothing to do (--force prepares it again)"));
    assertTrue(prepared("--val-fraction", "0.25", "--force").out().contains("prepared "));

    Path run = dir.resolve("run");
    CliRun train = trained(run, "train.epochs=2", "train.batch_size=16");
    assertTrue(train.out().contains("done: best validation accuracy"), train.out());
    assertTrue(Files.isRegularFile(run.resolve("report.html")));
    assertEquals( // the version data status prints is the one the run pinned
        dev.fingerspell.train.data.PreparedData.open(dir.resolve("data")).fingerprint(),
        new ObjectMapper()
            .readTree(run.resolve("run.json").toFile())
            .get("data_fingerprint")
            .asText());

    // --resume: a run stopped in its second epoch (as Ctrl-C stops it) goes on from its first
    Path stopped = dir.resolve("stopped");
    dev.fingerspell.train.config.Config cfg =
        dev.fingerspell.train.config.Config.compose(
            null,
            List.of(
                "data.dir=" + dir.resolve("data/processed"),
                "data.image_size=32",
                "model.weights=none",
                "train.epochs=2",
                "train.batch_size=16",
                "run.dir=" + stopped),
            dir);
    Trainer[] trainer = new Trainer[1];
    trainer[0] =
        new Trainer(
            cfg,
            Map.of("FINGERSPELL_HOME", dir.resolve("home").toString()),
            new Trainer.Listener() {
              @Override
              public void notice(String line) {}

              @Override
              public void phase(String what, long steps) {
                if (what.equals("epoch 2")) {
                  trainer[0].requestStop();
                }
              }

              @Override
              public void step(long n, double loss) {}

              @Override
              public void endPhase() {}
            });
    assertTrue(trainer[0].run().resumable());
    // the runs side by side: the stopped one says it can go on
    CliRun runs = run("runs", dir.toString());
    assertEquals(0, runs.status(), runs.err());
    List<String> table = runs.out().lines().toList();
    assertEquals(5, table.size(), runs.out()); // header, two runs, the best, the footnote
    assertTrue(
        table
            .get(1)
            .matches(
                "run +completed +2/2 +0\\.\\d{4} \\(ep [12]\\) +- +head +adamw 0\\.001 +32 +[0-9.]+s"),
        table.get(1));
    assertTrue(table.get(2).matches("stopped +interrupted\\* +1/2 .*"), table.get(2));
    assertTrue(table.get(3).matches("best: (run|stopped): validation accuracy .*"), table.get(3));
    assertEquals("* fingerspell train --resume FOLDER goes on with it", table.get(4));
    JsonNode listed = new ObjectMapper().readTree(run("runs", stopped.toString(), "--json").out());
    assertEquals(1, listed.size());
    assertEquals("interrupted", listed.get(0).get("status").asText());
    assertTrue(listed.get(0).get("resumable").asBoolean());
    assertEquals(2, listed.get(0).get("epochs_total").asInt());
    assertEquals(
        dev.fingerspell.train.data.PreparedData.open(dir.resolve("data/processed")).fingerprint(),
        listed.get(0).get("data_fingerprint").asText());
    assertTrue(listed.get(0).get("weights_sha256").isNull(), "model.weights=none");
    CliRun resumed = run("train", "--resume", stopped.toString());
    assertEquals(0, resumed.status(), resumed.err());
    assertTrue(resumed.out().contains("resuming after epoch 1 of 2"), resumed.out());
    assertTrue(resumed.out().contains("done: best validation accuracy"), resumed.out());
    assertEquals(2, Files.readAllLines(stopped.resolve("metrics.jsonl")).size());
    for (String[] args :
        List.of(
            new String[] {"train", "--resume", stopped.toString()},
            new String[] {"train", "--resume", run.toString(), "train.lr=0.1"},
            new String[] {"train", "--resume", dir.resolve("raw").toString()})) {
      CliRun refused = run(args);
      assertEquals(1, refused.status(), refused.err());
      assertEquals(1, refused.err().strip().lines().count(), refused.err());
    }
    assertTrue(run("train", "--resume", stopped.toString()).err().contains("completed all"));
    // a run started with a relative data.dir, resumed from another folder
    Path moved = Files.createDirectories(dir.resolve("moved"));
    Files.writeString(
        moved.resolve("config.yaml"),
        Files.readString(stopped.resolve("config.yaml"))
            .replace(dir.resolve("data/processed").toString(), "data/processed"));
    CliRun elsewhere = run("train", "--resume", moved.toString());
    assertEquals(
        "fingerspell: the run's data.dir 'data/processed' is relative to the folder the run was"
            + " started from, and is not here: run --resume from that folder\n",
        elsewhere.err());
    assertTrue(run("runs", dir.toString()).out().contains("stopped  completed "));
    CliRun noRuns = run("runs", dir.resolve("nothing-here").toString());
    assertEquals(1, noRuns.status());
    assertEquals(
        "fingerspell: " + dir.resolve("nothing-here") + " is not a folder\n", noRuns.err());
    assertTrue(
        run("train", "--resume", run.toString(), "train.lr=0.1")
            .err()
            .endsWith("only runtime.* settings may change, not train.lr=0.1\n"));

    // Mistakes found before training are one line, and leave no run folder behind.
    CliRun ontoAFile =
        run(
            "train",
            "data.dir=" + dir.resolve("data/processed"),
            "model.weights=none",
            "run.dir=" + run.resolve("report.html"));
    assertEquals(1, ontoAFile.status(), ontoAFile.err());
    assertEquals(1, ontoAFile.err().strip().lines().count(), ontoAFile.err());
    assertTrue(
        ontoAFile.err().endsWith(run.resolve("report.html") + ": already exists\n"),
        ontoAFile.err());
    Path unused = dir.resolve("unused-run");
    CliRun badWeights =
        run(
            "train",
            "data.dir=" + dir.resolve("data/processed"),
            "model.weights=" + run.resolve("config.yaml"),
            "run.dir=" + unused);
    assertEquals(1, badWeights.status(), badWeights.err());
    assertTrue(badWeights.err().contains("(not a safetensors file)"), badWeights.err());
    assertFalse(Files.exists(unused), "a failed start left " + unused);

    Path model = run.resolve("model.safetensors");
    Path plot = dir.resolve("cm.png");
    CliRun eval =
        run(
            "evaluate",
            "--model",
            model.toString(),
            "--data",
            dir.resolve("data").toString(),
            "--json",
            "--plot",
            plot.toString());
    assertEquals(0, eval.status(), eval.err());
    JsonNode j = new ObjectMapper().readTree(eval.out());
    assertEquals("test", j.get("split").asText());
    assertEquals(28, j.get("count").asInt());
    assertTrue(j.get("accuracy").asDouble() >= 0);
    assertEquals(29, j.get("per_class").size());
    assertTrue(j.get("per_class").get("A").has("f1"));
    assertEquals(29, j.get("confusion_matrix").size());
    assertTrue(Files.size(plot) > 0);

    CliRun evalVal =
        run(
            "evaluate",
            "--model",
            model.toString(),
            "--data",
            dir.resolve("data").toString(),
            "--split",
            "val",
            "--plot",
            dir.resolve("v.png").toString());
    assertEquals(0, evalVal.status(), evalVal.err());
    assertTrue(evalVal.out().startsWith("val split: 29 images"), evalVal.out());

    List<String> onRaw =
        List.of(
            "evaluate",
            "--model",
            model.toString(),
            "--data",
            dir.resolve("raw").toString(),
            "--plot",
            dir.resolve("r.png").toString());
    List<String> json = new java.util.ArrayList<>(onRaw);
    json.add("--json");
    CliRun rawEval = run(json.toArray(String[]::new));
    assertEquals(0, rawEval.status(), rawEval.err());
    JsonNode raw = new ObjectMapper().readTree(rawEval.out());
    assertEquals(28, raw.get("count").asInt());
    // a raw folder's images have names: the ones it got wrong are listed by file
    long wrong = Math.round(28 * (1 - raw.get("accuracy").asDouble()));
    assertEquals(wrong, raw.get("mistakes").size(), raw.toString());
    for (JsonNode m : raw.get("mistakes")) {
      assertTrue(
          m.get("file").asText().endsWith(m.get("label").asText() + "_test.jpg"), m.toString());
    }
    if (wrong > 0) {
      CliRun rawText = run(onRaw.toArray(String[]::new));
      assertTrue(rawText.out().contains("misclassified (" + wrong + "):"), rawText.out());
    }

    CliRun predict =
        run(
            "predict",
            "--model",
            model.toString(),
            "--json",
            dir.resolve("raw/asl_alphabet_test/asl_alphabet_test/B_test.jpg").toString());
    assertEquals(0, predict.status(), predict.err());
    assertEquals(3, new ObjectMapper().readTree(predict.out()).get("predictions").size());

    // a run folder stands for its best model, and for the data set it trained on
    CliRun onItsData =
        run(
            "evaluate",
            "--model",
            run.toString(),
            "--json",
            "--plot",
            dir.resolve("own.png").toString());
    assertEquals(0, onItsData.status(), onItsData.err());
    JsonNode own = new ObjectMapper().readTree(onItsData.out());
    for (String field : List.of("split", "count", "accuracy", "confusion_matrix")) {
      assertEquals(j.get(field), own.get(field), field);
    }
    // and keeps its model's score, which runs shows; a model file given alone keeps none
    assertEquals(run.resolve("evaluations.json").toString(), own.get("recorded").asText());
    assertTrue(j.get("recorded").isNull(), j.toString());
    String scored =
        String.format(java.util.Locale.ROOT, "%.4f (test)", own.get("accuracy").asDouble());
    assertTrue(run("runs", run.toString()).out().contains(" " + scored + " "), scored);
    JsonNode kept = new ObjectMapper().readTree(run("runs", run.toString(), "--json").out());
    JsonNode evaluation = kept.get(0).get("evaluations").get(0);
    assertEquals(28, evaluation.get("count").asInt());
    assertEquals(own.get("accuracy").asDouble(), evaluation.get("accuracy").asDouble());
    assertEquals(
        dev.fingerspell.train.data.PreparedData.open(dir.resolve("data")).fingerprint(),
        evaluation.get("data_fingerprint").asText());
    // a model changed since (trained again, resumed) is not the one scored
    Files.setLastModifiedTime(
        model, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
    assertFalse(run("runs", run.toString()).out().contains(scored), "a stale score shown");
    assertEquals(
        0,
        new ObjectMapper()
            .readTree(run("runs", run.toString(), "--json").out())
            .get(0)
            .get("evaluations")
            .size());
    CliRun fileOnly = run("evaluate", "--model", model.toString());
    assertEquals(
        "fingerspell: --data is needed: "
            + model
            + " is not a run folder whose config names its data set\n",
        fileOnly.err());
    String image = dir.resolve("raw/asl_alphabet_test/asl_alphabet_test/B_test.jpg").toString();
    CliRun byFolder = run("predict", "--model", run.toString(), "--json", image);
    assertEquals(predict.out(), byFolder.out(), byFolder.err());
    Path unvalidated = Files.createDirectories(dir.resolve("unvalidated"));
    Files.copy(run.resolve("config.yaml"), unvalidated.resolve("config.yaml"));
    Files.copy(run.resolve("last.safetensors"), unvalidated.resolve("last.safetensors"));
    CliRun notYet = run("evaluate", "--model", unvalidated.toString(), "--data", dir.toString());
    assertEquals(1, notYet.status());
    assertEquals(
        "fingerspell: "
            + unvalidated
            + " is a run folder without a best model yet (no epoch validated); its latest weights"
            + " are in "
            + unvalidated.resolve("last.safetensors")
            + "\n",
        notYet.err());

    // the data set prepared again, another split: the run trained on a version no longer there
    assertFalse(
        new ObjectMapper()
            .readTree(run("runs", run.toString(), "--json").out())
            .get(0)
            .get("data_changed")
            .asBoolean());
    CliRun resplit = prepared("--val-fraction", "0.25", "--seed", "7");
    assertEquals(0, resplit.status(), resplit.err());
    List<String> stale = run("runs", run.toString()).out().lines().toList();
    assertTrue(stale.get(1).matches("run +completed! .*"), stale.get(1));
    assertEquals(
        "! its data.dir holds another version of the data set than it trained on"
            + " (fingerspell data status DIR)",
        stale.getLast());
    assertTrue(
        new ObjectMapper()
            .readTree(run("runs", run.toString(), "--json").out())
            .get(0)
            .get("data_changed")
            .asBoolean());
  }

  /**
   * data status (dvc status): the data version, counts and every shard ok; then, on a copy with a
   * shard changed and one deleted, those two named and the status 1.
   */
  private void dataStatus(Path data) throws Exception {
    Path processed = data.resolve("processed");
    String version =
        dev.fingerspell.train.data.PreparedData.open(processed).fingerprint(); // runs pin this
    CliRun ok = run("data", "status", data.toString());
    assertEquals(0, ok.status(), ok.err());
    assertEquals(
        processed
            + ": data version "
            + version
            + ", 32×32 images, 29 classes\n"
            + "  train       87 images in 1 shard: ok\n"
            + "  val         29 images in 1 shard: ok\n"
            + "  test        28 images in 1 shard: ok\n",
        ok.out());
    Path copy = Files.createDirectories(dir.resolve("damaged"));
    try (var files = Files.list(processed)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.copy(f, copy.resolve(f.getFileName()));
      }
    }
    byte[] val = Files.readAllBytes(copy.resolve("val-00000.safetensors"));
    val[val.length - 1] ^= 1; // one pixel's lowest bit
    Files.write(copy.resolve("val-00000.safetensors"), val);
    Files.delete(copy.resolve("test-00000.safetensors"));
    CliRun bad = run("data", "status", copy.toString());
    assertEquals(1, bad.status());
    assertTrue(bad.out().contains("  train       87 images in 1 shard: ok\n"), bad.out());
    assertTrue(
        bad.out().contains("  val         29 images in 1 shard: changed val-00000.safetensors\n"),
        bad.out());
    assertTrue(
        bad.out().contains("  test        28 images in 1 shard: missing test-00000.safetensors\n"),
        bad.out());
    assertEquals(
        "fingerspell: 2 of 3 shards differ from the manifest: run fingerspell data prepare again",
        bad.err().strip());
    CliRun json = run("data", "status", "--json", copy.toString());
    JsonNode j = new ObjectMapper().readTree(json.out());
    assertFalse(j.get("ok").asBoolean());
    assertEquals(version, j.get("fingerprint").asText());
    assertEquals("changed", j.get("splits").get("val").get("shards").get(0).get("state").asText());
    assertEquals(87, j.get("splits").get("train").get("count").asInt());
  }

  @Test
  void configMistakesAreOneLine() {
    CliRun r = run("train", "train.lrr=0.1");
    assertEquals(1, r.status());
    assertEquals(1, r.err().strip().lines().count(), r.err());
    assertTrue(r.err().contains("unknown config key 'train.lrr'"), r.err());
    assertFalse(r.err().contains("at dev.fingerspell"));
    CliRun shown = run("train", "--show-config", "experiment=demo");
    assertEquals(0, shown.status(), shown.err());
    assertTrue(shown.out().contains("trainable: all"), shown.out());
    CliRun noData = run("train", "data.dir=" + dir.resolve("nothing-here"), "model.weights=none");
    assertEquals(1, noData.status());
    assertTrue(noData.err().contains("run fingerspell data prepare first"), noData.err());
  }

  @Test
  void demoUsesCachedPretrainedWeightsWhenThereAreSome() throws Exception {
    // stands in for hf://timm/resnet18.a1_in1k in the cache: a 1000-class ResNet18 file
    Path cached = dir.resolve("home/hub/timm--resnet18.a1_in1k/model.safetensors");
    dev.fingerspell.weights.SafetensorsWriter.write(
        cached,
        dev.fingerspell.weights.SafetensorsWriter.entries(
            new dev.fingerspell.resnet.ResNet18(1000, new dev.fingerspell.tensor.Rng(1))
                .stateDict()),
        Map.of());
    CliRun r =
        run(
            "demo",
            "--dir",
            dir.resolve("demo-pt").toString(),
            "--per-class",
            "2",
            "--epochs",
            "2");
    assertEquals(0, r.status(), r.err());
    assertTrue(
        r.out().contains("recipe: pretrained hf://timm/resnet18.a1_in1k from the cache"), r.out());
    assertTrue(r.out().contains("skipping the stored classifier (fc [1000, 512])"), r.out());
    assertTrue(r.out().contains("4/4 evaluated on the test split: 28 images"), r.out());
    // the run records which weights it started from
    JsonNode record = new ObjectMapper().readTree(dir.resolve("demo-pt/run/run.json").toFile());
    assertEquals(
        dev.fingerspell.train.data.Sha256.of(cached), record.get("weights_sha256").asText());
  }

  @Test
  void demoRunsEndToEndOnASmallSet() {
    CliRun r =
        run("demo", "--dir", dir.resolve("demo").toString(), "--per-class", "4", "--epochs", "1");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("recipe: no pretrained weights"), r.out());
    assertTrue(r.out().contains("4/4 evaluated on the test split: 28 images"), r.out());
    assertTrue(Files.isRegularFile(dir.resolve("demo/run/report.html")));
    // the run keeps its test score, as evaluate keeps one
    String accuracy = r.out().replaceAll("(?s).*28 images, accuracy (\\d\\.\\d{4}).*", "$1");
    String table = run("runs", dir.resolve("demo/run").toString()).out();
    assertTrue(table.contains(" " + accuracy + " (test) "), table);
  }

  /**
   * {@code train --multirun}: one run per combination of the listed values, in one folder with
   * Hydra's multirun.yaml, then their table and a page comparing them; {@code runs} finds them
   * there. Every configuration is checked before the first run, and a list without --multirun says
   * what it would need.
   */
  @Test
  void multirunTrainsEachCombinationAndComparesThem() throws Exception {
    synthesisedAndPrepared(2, "0.3");
    Path sweep = dir.resolve("sweep");
    List<String> common =
        List.of(
            "data.dir=" + dir.resolve("data/processed"),
            "data.image_size=32",
            "model.weights=none",
            "train.epochs=1",
            "run.dir=" + sweep);
    List<String> args = new java.util.ArrayList<>(List.of("train", "--multirun"));
    args.addAll(common);
    args.add("train.lr=0.01,abc");
    CliRun bad = run(args.toArray(String[]::new));
    assertEquals(1, bad.status());
    assertTrue(bad.err().startsWith("fingerspell: run 2 of 2 (train.lr=abc): "), bad.err());
    assertFalse(Files.exists(sweep), "a run started before every configuration was checked");

    args.set(args.size() - 1, "train.lr=0.01,0.001");
    args.add(1, "--show-config"); // each run's configuration, and nothing run
    CliRun shown = run(args.toArray(String[]::new));
    assertEquals(0, shown.status(), shown.err());
    assertTrue(shown.out().startsWith("# run 1 of 2: train.lr=0.01\n"), shown.out());
    assertTrue(shown.out().contains("\n# run 2 of 2: train.lr=0.001\n"), shown.out());
    assertTrue(shown.out().contains("  lr: 0.001\n"), shown.out());
    assertFalse(Files.exists(sweep));
    args.remove(1);
    CliRun swept = run(args.toArray(String[]::new));
    assertEquals(0, swept.status(), swept.err());
    assertTrue(
        swept.out().startsWith("multirun: 2 runs in " + sweep + "\nrun 1 of 2: train.lr=0.01\n"),
        swept.out());
    List<String> lines = swept.out().lines().toList();
    assertTrue(
        lines.get(lines.size() - 4).matches("0-train\\.lr=0\\.01 +completed +1/1 .*"), swept.out());
    assertTrue(
        lines.get(lines.size() - 3).matches("1-train\\.lr=0\\.001 +completed +1/1 .*"),
        swept.out());
    assertTrue(lines.get(lines.size() - 2).startsWith("best: "), swept.out());
    assertEquals("comparison: " + sweep.resolve("compare.html"), lines.getLast());
    assertTrue(
        Files.readString(sweep.resolve("0-train.lr=0.01/config.yaml")).contains("lr: 0.01\n"));
    assertTrue(
        Files.readString(sweep.resolve("1-train.lr=0.001/config.yaml")).contains("lr: 0.001\n"));
    JsonNode multirun =
        new com.fasterxml.jackson.dataformat.yaml.YAMLMapper()
            .readTree(sweep.resolve("multirun.yaml").toFile());
    assertEquals("1-train.lr=0.001", multirun.path("runs").get(1).path("folder").asText());
    assertTrue(
        multirun.path("runs").get(1).path("overrides").toString().contains("\"train.lr=0.001\""));
    // each run records what it ran on, as W&B records a run's system; alike here, so not a row
    String ranOn =
        new ObjectMapper()
            .readTree(sweep.resolve("0-train.lr=0.01/run.json").toFile())
            .path("ran_on")
            .asText();
    assertTrue(
        ranOn.matches(
            "cpu \\(the Vector API at \\d+ bits, \\d+ threads\\), Java 25.*, fingerspell .+"),
        ranOn);
    assertTrue(
        Files.readString(sweep.resolve("0-train.lr=0.01/report.html"))
            .contains("<tr><th>ran on</th><td>" + ranOn + "</td></tr>"));
    String page = Files.readString(sweep.resolve("compare.html"));
    assertFalse(page.contains("<td>ran on</td>"), page);
    assertTrue(page.contains("<a href=\"1-train.lr%3D0.001/report.html\">"), page);
    assertTrue(page.contains("<tr><td>train.lr</td><td>0.01</td><td>0.001</td></tr>"), page);
    // runs finds a sweep's runs in their folder, also from the folder above it
    CliRun listed = run("runs", dir.toString());
    assertTrue(listed.out().contains("sweep/1-train.lr=0.001 "), listed.out());

    CliRun single =
        run("train", "data.dir=" + dir.resolve("data/processed"), "train.lr=0.01,0.001");
    assertEquals(1, single.status());
    assertTrue(
        single.err().strip().endsWith("(to train once per value of a list, add --multirun)"),
        single.err());
  }

  /**
   * {@code train.early_stopping_patience}: a run whose validation accuracy stops improving ends
   * that many epochs after its best (a head on frozen random features with a vanishing rate scores
   * the same every epoch), completed, and says so where a run's end is read.
   */
  @Test
  void earlyStoppingEndsARunThatStoppedImproving() throws Exception {
    synthesisedAndPrepared(2, "0.3");
    Path run = dir.resolve("early");
    CliRun train =
        trained(
            run,
            "model.trainable=head",
            "train.lr=1e-12",
            "train.epochs=6",
            "train.early_stopping_patience=2");
    assertTrue(
        train
            .out()
            .contains("early stop: no better validation accuracy in 2 epochs (best: epoch 1)"),
        train.out());
    assertTrue(train.out().contains("done: best validation accuracy"), train.out());
    assertEquals(3, Files.readAllLines(run.resolve("metrics.jsonl")).size());
    JsonNode record = new ObjectMapper().readTree(run.resolve("run.json").toFile());
    assertEquals("completed", record.path("status").asText());
    assertEquals(3, record.path("stopped_early_after").asInt());
    assertFalse(Files.exists(run.resolve("resume.safetensors")), "a completed run resumes nothing");
    assertTrue(
        Files.readString(run.resolve("report.html"))
            .contains("completed, stopped early after epoch 3 of 6 (early_stopping_patience 2)"));
    String table = run("runs", run.toString()).out();
    assertTrue(table.lines().toList().get(1).matches("early +stopped early +3/6 .*"), table);

    CliRun negative = run("train", "train.early_stopping_patience=-1");
    assertEquals(1, negative.status());
    assertEquals(
        "fingerspell: config key 'train.early_stopping_patience' must be 0 (never stop early) or"
            + " more",
        negative.err().strip());
  }
}
