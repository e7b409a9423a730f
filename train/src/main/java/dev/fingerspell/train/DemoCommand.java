package dev.fingerspell.train;

import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.train.config.Config;
import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.SynthData;
import dev.fingerspell.train.report.Plots;
import dev.fingerspell.train.training.Evaluation;
import dev.fingerspell.train.training.RunEvaluations;
import dev.fingerspell.train.training.Trainer;
import dev.fingerspell.weights.WeightFetch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell demo}: synthesise, prepare, train, evaluate, offline. */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
      "Synthesise a small ASL-like set, prepare it, train, evaluate, and print where the report"
          + " is.",
      "Offline. With pretrained weights in the cache it trains the head on them; without, the"
          + " whole network learns at 64x64 (experiment=demo)."
    })
final class DemoCommand implements Callable<Integer> {
  private static final String PRETRAINED = "hf://timm/resnet18.a1_in1k";

  @ParentCommand Main main;

  @Option(
      names = "--dir",
      defaultValue = "runs/demo",
      description = "work folder (default ${DEFAULT-VALUE})")
  Path dir;

  @Option(
      names = "--per-class",
      defaultValue = "40",
      description = "synthetic images per class (default ${DEFAULT-VALUE})")
  int perClass;

  @Option(names = "--epochs", description = "override the recipe's epochs")
  Integer epochs;

  @Mixin DeviceOption device = new DeviceOption();

  @Override
  public Integer call() throws Exception {
    Cli cli = main.cli();
    // The device first: a GPU that does not answer is said before minutes of synthesising.
    device.apply();
    Backends.defaultDevice();
    long t0 = System.nanoTime();
    Path raw = dir.resolve("raw");
    Path prepared = dir.resolve("data");
    Path cached = WeightFetch.fromEnvironment(cli.env()).cached(PRETRAINED);
    boolean pretrained = cached != null;
    List<String> overrides = new ArrayList<>();
    if (pretrained) {
      overrides.add("model.weights=" + cached);
      overrides.add("model.trainable=head");
      overrides.add("train.epochs=" + (epochs == null ? 20 : epochs));
      overrides.add("name=demo-pretrained");
    } else {
      overrides.add("experiment=demo");
      if (epochs != null) {
        overrides.add("train.epochs=" + epochs);
      }
    }
    overrides.add("runtime.device=" + device.device);
    overrides.add("data.dir=" + prepared.resolve("processed"));
    overrides.add("run.dir=" + dir.resolve("run"));
    Config cfg = Config.compose(null, overrides, Path.of(""));
    cli.out()
        .println(
            pretrained
                ? "recipe: pretrained "
                    + PRETRAINED
                    + " from the cache ("
                    + cached
                    + "), frozen backbone, head trained (224x224)"
                : "recipe: no pretrained weights in the cache, so the whole network trains from scratch"
                    + " at 64x64 (experiment=demo); a head on random features would stay at chance");

    int n = SynthData.write(raw, perClass, 1);
    cli.out().printf("1/4 synthesised %d images in %s (%.1f s)%n", n, raw, secs(t0));
    long t1 = System.nanoTime();
    DataPrepare.run(
        new DataPrepare.Options(
            raw,
            prepared,
            cfg.integer("data.image_size"),
            0.2,
            42,
            1024,
            Runtime.getRuntime().availableProcessors()),
        Bars.forConsole(cli.out()));
    cli.out().printf("2/4 prepared %s (%.1f s)%n", prepared.resolve("processed"), secs(t1));
    long t2 = System.nanoTime();
    Trainer.Result r = TrainCommand.run(cfg, cli);
    if (r.interrupted()) { // Ctrl-C: the JVM is on its way out; no evaluation of a half run
      cli.out().printf("demo interrupted during training; run folder %s%n", r.runDir());
      return 130;
    }
    cli.out()
        .printf("3/4 trained %d epochs, best %s (%.1f s)%n", r.epochs().size(), r.best(), secs(t2));
    long t3 = System.nanoTime();
    Path model = r.runDir().resolve("model.safetensors");
    AslClassifier classifier = AslClassifier.load(model);
    PreparedData data = PreparedData.open(prepared);
    Evaluation.Result ev = Evaluation.prepared(classifier, data, Evaluation.defaultSplit(data));
    Plots.confusion(r.runDir().resolve("confusion-test.png"), "Demo test split", ev.confusion());
    RunEvaluations.record( // as evaluate keeps it: runs shows it beside the training's
        r.runDir(),
        ev.split(),
        prepared.toString(),
        data.fingerprint(),
        ev.confusion().total(),
        ev.confusion().accuracy());
    cli.out()
        .printf(
            "4/4 evaluated on the %s split: %d images, accuracy %.4f (%.1f s)%n",
            ev.split(), ev.confusion().total(), ev.confusion().accuracy(), secs(t3));
    cli.out()
        .printf(
            "demo done in %.1f s%nreport: %s%nmodel:  %s%ntry:    bin/fingerspell predict --model %s %s%n",
            secs(t0),
            r.runDir().resolve("report.html").toAbsolutePath(),
            model,
            model,
            raw.resolve("asl_alphabet_test/asl_alphabet_test/A_test.jpg"));
    return 0;
  }

  private static double secs(long since) {
    return (System.nanoTime() - since) / 1e9;
  }
}
