package dev.fingerspell.train;

import dev.fingerspell.train.config.Config;
import dev.fingerspell.train.config.ConfigException;
import dev.fingerspell.train.config.Sweep;
import dev.fingerspell.train.training.ResumeException;
import dev.fingerspell.train.training.Trainer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code fingerspell train [--config FILE] [key=value ...]}, or {@code train --resume RUN}. */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    description = {
      "Train the classifier on a prepared data set.",
      "Configuration: shipped defaults, then --config FILE, then experiment=NAME"
          + " (configs/experiment/NAME.yaml), then key=value overrides such as train.lr=0.001.",
      "--show-config prints the resolved configuration and its keys without training."
    })
final class TrainCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = "--config", paramLabel = "FILE", description = "a YAML configuration")
  Path config;

  @Option(names = "--show-config", description = "print the resolved configuration and stop")
  boolean show;

  @Option(
      names = "--resume",
      paramLabel = "RUN",
      description =
          "go on with an interrupted or failed run in folder RUN after its last completed epoch,"
              + " as if it had not stopped; only runtime.* settings may be given")
  Path resume;

  @Option(
      names = {"-m", "--multirun"},
      description =
          "one run per combination of the values given as lists (train.lr=0.01,0.001"
              + " model.trainable=head,layer4: four runs), as Hydra's --multirun; the runs go in"
              + " one folder (run.dir, else runs/<time>-multirun) with a page comparing them")
  boolean multirun;

  @Parameters(
      paramLabel = "KEY=VALUE",
      arity = "0..*",
      description = "overrides, e.g. train.epochs=5 model.trainable=all")
  List<String> overrides = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    Cli cli = main.cli();
    if (multirun) {
      return multirun(cli);
    }
    Config cfg;
    try {
      cfg = resume == null ? Config.compose(config, overrides, Path.of("")) : resumedConfig();
    } catch (ConfigException e) {
      if (resume == null && Sweep.sweeps(overrides)) {
        throw new ConfigException(
            e.getMessage() + " (to train once per value of a list, add --multirun)");
      }
      throw e;
    }
    if (show) {
      cli.out().print(cfg.toYaml());
      return 0;
    }
    Trainer.Result r = run(cfg, cli, resume != null);
    if (r.epochs().isEmpty()) { // stopped before an epoch ended: no metrics, no report
      cli.out().printf("interrupted before the first epoch ended; run folder %s%n", r.runDir());
    } else if (r.bestEpoch() == 0) { // stopped in the first epoch's validation
      cli.out()
          .printf(
              "interrupted: %d epoch trained, not validated; report %s%n",
              r.epochs().size(), r.runDir().resolve("report.html"));
    } else {
      cli.out()
          .printf(
              "%s: best %s at epoch %d; report %s%n",
              r.interrupted() ? "interrupted" : "done",
              r.best(),
              r.bestEpoch(),
              r.runDir().resolve("report.html"));
    }
    if (r.interrupted() && r.resumable()) {
      cli.out().printf("go on with: fingerspell train --resume %s%n", r.runDir());
    }
    return r.interrupted() ? 130 : 0;
  }

  /** {@link Multirun}: one run per combination of the listed values. */
  private int multirun(Cli cli) throws InterruptedException {
    if (resume != null) {
      throw new ResumeException(
          "--multirun starts new runs; resume one of a sweep's runs with --resume ITS_FOLDER");
    }
    Multirun sweep = Multirun.checked(config, overrides);
    return show ? sweep.showConfigs(cli) : sweep.run(cli);
  }

  /**
   * The configuration a run in {@link #resume} was started with (its config.yaml, in its own
   * folder), with only runtime settings changed: anything else would make the epochs left another
   * run's.
   */
  private Config resumedConfig() {
    if (config != null) {
      throw new ResumeException(
          "--resume takes the run's own config.yaml; give --config to a new run instead");
    }
    for (String o : overrides) {
      if (!o.startsWith("runtime.")) {
        throw new ResumeException(
            "--resume goes on with the run as it was configured; only runtime.* settings may"
                + " change, not "
                + o);
      }
    }
    Path yaml = resume.resolve("config.yaml");
    if (!java.nio.file.Files.isRegularFile(yaml)) {
      throw new ResumeException(resume + " is not a run folder (no config.yaml)");
    }
    List<String> settings = new ArrayList<>(overrides);
    settings.add("run.dir=" + resume);
    Config cfg = Config.compose(yaml, settings, Path.of(""));
    Path data = Path.of(cfg.string("data.dir"));
    if (!data.isAbsolute() && !java.nio.file.Files.exists(data)) {
      throw new ResumeException(
          "the run's data.dir '"
              + data
              + "' is relative to the folder the run was started from, and is not here: run"
              + " --resume from that folder");
    }
    return cfg;
  }

  /** Applies the runtime settings, trains, and saves on Ctrl-C. */
  static Trainer.Result run(Config cfg, Cli cli) throws InterruptedException {
    return run(cfg, cli, false);
  }

  /** As {@link #run(Config, Cli)}; with {@code resume}, going on with the run in run.dir. */
  static Trainer.Result run(Config cfg, Cli cli, boolean resume) throws InterruptedException {
    applyRuntime(cfg, cli.err());
    Trainer trainer = new Trainer(cfg, cli.env(), Bars.forConsole(cli.out()), resume);
    Thread hook =
        new Thread(
            () -> {
              trainer.requestStop();
              try {
                trainer.awaitFinished(120);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "fingerspell-save-on-exit");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      return trainer.run();
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the JVM is exiting: the hook is running and waits for us
      }
    }
  }

  /** runtime.threads (before the first tensor op) and runtime.device. */
  static void applyRuntime(Config cfg, PrintWriter err) {
    int threads = cfg.integer("runtime.threads");
    if (threads > 0) {
      System.setProperty("fingerspell.cpu.threads", Integer.toString(threads));
    }
    DeviceOption.use(cfg.string("runtime.device"), err); // a GPU that does not answer says why
  }
}
