package dev.fingerspell.train;

import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.fingerspell.train.config.Config;
import dev.fingerspell.train.config.ConfigException;
import dev.fingerspell.train.config.Sweep;
import dev.fingerspell.train.training.ResumeException;
import dev.fingerspell.train.training.Trainer;
import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

  /**
   * Every combination of the listed values, one run after another in one folder; then their table
   * and a page comparing them. Every configuration is checked before the first run starts. A run
   * that fails is said and the next one starts; Ctrl-C stops the one running (it can be resumed)
   * and starts no more.
   */
  private int multirun(Cli cli) throws InterruptedException {
    if (resume != null) {
      throw new ResumeException(
          "--multirun starts new runs; resume one of a sweep's runs with --resume ITS_FOLDER");
    }
    List<Sweep.Job> jobs = Sweep.expand(overrides);
    Config first = null;
    for (Sweep.Job job : jobs) { // every one before the first run starts
      Config cfg;
      try {
        cfg = Config.compose(config, job.overrides(), Path.of(""));
      } catch (ConfigException e) {
        throw new ConfigException(
            "run "
                + (job.number() + 1)
                + " of "
                + jobs.size()
                + " ("
                + swept(job)
                + "): "
                + e.getMessage());
      }
      if (show) {
        cli.out().printf("# run %d of %d: %s%n", job.number() + 1, jobs.size(), swept(job));
        cli.out().print(cfg.toYaml());
      }
      first = first == null ? cfg : first;
    }
    if (show) {
      return 0;
    }
    Path root = Trainer.runDir(first, "multirun");
    List<Path> folders = new ArrayList<>();
    for (Sweep.Job job : jobs) {
      folders.add(root.resolve(job.folderName()));
    }
    writeMultirunYaml(root, jobs, folders);
    cli.out().printf("multirun: %d runs in %s%n", jobs.size(), root);
    List<String> failed = new ArrayList<>();
    int started = 0;
    boolean interrupted = false;
    for (; started < jobs.size() && !interrupted; started++) {
      Sweep.Job job = jobs.get(started);
      Path folder = folders.get(started);
      cli.out().printf("run %d of %d: %s%n", started + 1, jobs.size(), swept(job));
      List<String> settings = new ArrayList<>(job.overrides());
      settings.add("run.dir=" + folder);
      try {
        interrupted = run(Config.compose(config, settings, Path.of("")), cli, false).interrupted();
      } catch (RuntimeException | OutOfMemoryError e) {
        String why =
            e instanceof OutOfMemoryError oom
                ? Main.outOfMemory(oom, Runtime.getRuntime().maxMemory())
                : IoErrors.describe(e);
        cli.err()
            .printf(
                "fingerspell: run %d of %d failed (%s): %s%n",
                started + 1, jobs.size(), folder, why);
        failed.add(folder.getFileName().toString());
      }
    }
    List<RunsCommand.Run> runs = new ArrayList<>();
    for (Path folder : folders) {
      if (Files.isRegularFile(folder.resolve("config.yaml"))) {
        runs.add(RunsCommand.read(folder, folder.getFileName().toString()));
      }
    }
    if (!runs.isEmpty()) {
      RunsCommand.table(cli.out(), runs);
      Path page = root.resolve("compare.html");
      RunsCommand.compare(page, runs);
      cli.out().printf("comparison: %s%n", page);
    }
    if (interrupted) {
      cli.out()
          .printf("interrupted: %d of %d runs not started%n", jobs.size() - started, jobs.size());
      return 130;
    }
    if (!failed.isEmpty()) {
      cli.err()
          .printf(
              "fingerspell: %d of %d runs failed: %s%n",
              failed.size(), jobs.size(), String.join(", ", failed));
      return 1;
    }
    return 0;
  }

  private static String swept(Sweep.Job job) {
    return job.swept().isEmpty() ? "(nothing swept)" : String.join(" ", job.swept());
  }

  /** {@code multirun.yaml}, as Hydra writes it: the command's overrides and each run's. */
  private void writeMultirunYaml(Path root, List<Sweep.Job> jobs, List<Path> folders) {
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("config", config == null ? null : config.toString());
    doc.put("overrides", overrides);
    List<Map<String, Object>> listed = new ArrayList<>();
    for (int i = 0; i < jobs.size(); i++) {
      Map<String, Object> job = new LinkedHashMap<>();
      job.put("folder", folders.get(i).getFileName().toString());
      job.put( // its own folder is run.dir
          "overrides",
          jobs.get(i).overrides().stream().filter(o -> !o.startsWith("run.dir=")).toList());
      listed.add(job);
    }
    doc.put("runs", listed);
    try {
      Files.createDirectories(root);
      AtomicFiles.write(root.resolve("multirun.yaml"), new YAMLMapper().writeValueAsBytes(doc));
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot write " + root.resolve("multirun.yaml") + ": " + IoErrors.describe(e), e);
    }
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
