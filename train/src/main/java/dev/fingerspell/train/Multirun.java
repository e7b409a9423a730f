package dev.fingerspell.train;

import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.fingerspell.train.config.Config;
import dev.fingerspell.train.config.ConfigException;
import dev.fingerspell.train.config.Sweep;
import dev.fingerspell.train.training.Trainer;
import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code train --multirun}, as Hydra's: every combination of the listed values ({@link Sweep}), one
 * run after another in one folder beside {@code multirun.yaml}; then their table, the best run and
 * a page comparing them. Every configuration is checked before the first run starts. A run that
 * fails is said and the next one starts; Ctrl-C stops the one running (it can be resumed) and
 * starts no more.
 */
final class Multirun {
  private final Path configFile;
  private final List<String> overrides;
  private final List<Sweep.Job> jobs;
  private final List<Config> configs;

  private Multirun(
      Path configFile, List<String> overrides, List<Sweep.Job> jobs, List<Config> configs) {
    this.configFile = configFile;
    this.overrides = overrides;
    this.jobs = jobs;
    this.configs = configs;
  }

  /** The sweep {@code overrides} stand for, every run's configuration composed and checked. */
  static Multirun checked(Path configFile, List<String> overrides) {
    List<Sweep.Job> jobs = Sweep.expand(overrides);
    List<Config> configs = new ArrayList<>();
    for (Sweep.Job job : jobs) {
      try {
        configs.add(Config.compose(configFile, job.overrides(), Path.of("")));
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
    }
    return new Multirun(configFile, overrides, jobs, configs);
  }

  /** Prints each run's resolved configuration under a line naming the run. */
  int showConfigs(Cli cli) {
    for (int i = 0; i < jobs.size(); i++) {
      cli.out().printf("# %s%n", name(jobs.get(i), jobs.size()));
      cli.out().print(configs.get(i).toYaml());
    }
    return 0;
  }

  /** Trains the runs; the exit status: 0, 1 when a run failed, 130 on Ctrl-C. */
  int run(Cli cli) throws InterruptedException {
    Path root = Trainer.runDir(configs.getFirst(), "multirun");
    List<Path> folders = new ArrayList<>();
    for (Sweep.Job job : jobs) {
      folders.add(root.resolve(job.folderName()));
    }
    writeMultirunYaml(root, folders);
    cli.out().printf("multirun: %d runs in %s%n", jobs.size(), root);
    List<String> failed = new ArrayList<>();
    int started = 0;
    boolean interrupted = false;
    for (; started < jobs.size() && !interrupted; started++) {
      Path folder = folders.get(started);
      cli.out().println(name(jobs.get(started), jobs.size()));
      try {
        Config cfg = configs.get(started).with("run.dir", folder.toString());
        interrupted = TrainCommand.run(cfg, cli, false).interrupted();
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
    summarise(cli, root, folders);
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

  /** The runs that started: their table (with the best) and compare.html. */
  private static void summarise(Cli cli, Path root, List<Path> folders) {
    List<RunsCommand.Run> runs = new ArrayList<>();
    for (Path folder : folders) {
      if (RunsCommand.isRun(folder)) {
        runs.add(RunsCommand.read(folder, folder.getFileName().toString()));
      }
    }
    if (!runs.isEmpty()) {
      RunsCommand.table(cli.out(), runs);
      Path page = root.resolve("compare.html");
      RunsCommand.compare(page, runs);
      cli.out().printf("comparison: %s%n", page);
    }
  }

  /** "run 2 of 4: train.lr=0.001 model.trainable=head". */
  private static String name(Sweep.Job job, int of) {
    return "run " + (job.number() + 1) + " of " + of + ": " + swept(job);
  }

  private static String swept(Sweep.Job job) {
    return job.swept().isEmpty() ? "(nothing swept)" : String.join(" ", job.swept());
  }

  /** {@code multirun.yaml}, as Hydra writes it: the command's overrides and each run's. */
  private void writeMultirunYaml(Path root, List<Path> folders) {
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("config", configFile == null ? null : configFile.toString());
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
    Path file = root.resolve("multirun.yaml");
    try {
      Files.createDirectories(root);
      AtomicFiles.write(file, new YAMLMapper().writeValueAsBytes(doc));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file + ": " + IoErrors.describe(e), e);
    }
  }
}
