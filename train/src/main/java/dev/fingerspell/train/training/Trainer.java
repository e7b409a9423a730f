package dev.fingerspell.train.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.ModelFile;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.Pretrained;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import dev.fingerspell.tensor.optim.LrSchedule;
import dev.fingerspell.tensor.optim.Optimizer;
import dev.fingerspell.tensor.optim.Sgd;
import dev.fingerspell.train.BuildVersion;
import dev.fingerspell.train.config.Config;
import dev.fingerspell.train.data.DataException;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.report.Confusion;
import dev.fingerspell.train.report.Plots;
import dev.fingerspell.train.report.Report;
import dev.fingerspell.weights.AtomicFiles;
import dev.fingerspell.weights.IoErrors;
import dev.fingerspell.weights.WeightFetch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One training run, from a resolved {@link Config} to a run folder: {@code config.yaml}, {@code
 * metrics.jsonl} (one line per epoch), {@code model.safetensors} (best validation accuracy), {@code
 * last.safetensors}, the plots and {@code report.html}.
 *
 * <p>With {@code model.trainable=head} the backbone is frozen: its features are computed once and
 * cached ({@link FeatureCache}), and each epoch trains the 29-way head on them — a run costs about
 * one backbone pass. With augmentation, training features are recomputed each epoch. {@code layer4}
 * and {@code all} train through the network with batch norm in training mode for the trainable
 * part; under {@code layer4} the frozen stages run folded, and on the CPU without augmentation
 * their output is kept on disk after the first epoch ({@link StageCache}).
 *
 * <p>Everything random is drawn from the config's seed, so the same config gives the same metrics
 * on the same machine. {@link #requestStop()} (Ctrl-C) ends the run at the next batch, after saving
 * {@code last.safetensors} and the metrics so far.
 */
public final class Trainer {
  /** What a run writes in its folder, besides config.yaml. */
  private static final List<String> RUN_FILES =
      List.of(
          "metrics.jsonl",
          "model.safetensors",
          "last.safetensors",
          "run.json",
          "loss.png",
          "accuracy.png",
          "confusion_matrix.png",
          "report.html",
          ResumePoint.FILE,
          RunEvaluations.FILE);

  /** What the caller sees while the run goes: notices, and per-epoch progress. */
  public interface Listener {
    /** A line for the user. */
    void notice(String line);

    /** An epoch of {@code steps} units of work begins ({@code what}: its phase). */
    void phase(String what, long steps);

    /** {@code n} more units done; {@code loss} is the running training loss or NaN. */
    void step(long n, double loss);

    /** The phase ended. */
    void endPhase();
  }

  /**
   * The outcome.
   *
   * @param runDir the run folder
   * @param epochs the metrics of every completed epoch
   * @param bestEpoch the epoch whose model is model.safetensors (0 when none completed)
   * @param bestAccuracy its validation accuracy, or its training accuracy without validation images
   * @param hasValidation whether the data set has validation images, which chose the best epoch
   * @param interrupted whether a stop request ended the run early
   */
  public record Result(
      Path runDir,
      List<Report.Epoch> epochs,
      int bestEpoch,
      double bestAccuracy,
      boolean hasValidation,
      boolean interrupted) {
    /** Whether {@code fingerspell train --resume} can go on with the run from its last epoch. */
    public boolean resumable() {
      return Trainer.resumable(runDir);
    }

    /** The best epoch's accuracy, saying which: "validation accuracy 0.9731", say. */
    public String best() {
      return Trainer.best(hasValidation, bestAccuracy);
    }
  }

  /** An accuracy named by the split that chose the best epoch. */
  static String best(boolean hasValidation, double accuracy) {
    return hasValidation
        ? String.format(Locale.ROOT, "validation accuracy %.4f", accuracy)
        : String.format(Locale.ROOT, "training accuracy %.4f (no validation images)", accuracy);
  }

  private final Config cfg;
  private final Map<String, String> env;
  private final Listener listener;

  /** Whether this goes on with the run in {@code run.dir} after its last completed epoch. */
  private final boolean resume;

  private final CountDownLatch finished = new CountDownLatch(1);
  private volatile boolean stopRequested;

  /** The run folder once made, and what the run has done: all a failure needs to record. */
  private Path runFolder;

  /** The run folder's lock, held while this trains in it. */
  private RunFolderLock runLock;

  private PreparedData data;
  private final List<Report.Epoch> history = new ArrayList<>();
  private Confusion bestConfusion;
  private Confusion lastConfusion;
  private int bestEpoch;

  /** The sha256 of the weights the run started from; null before known, or with none. */
  private String weightsSha256;

  /** The epochs after which this run was stopped and resumed, in order (run.json keeps them). */
  private final List<Integer> resumedAfter = new ArrayList<>();

  private double bestAcc = Double.NEGATIVE_INFINITY;

  /** The epoch after which early stopping ended the run; 0 when it did not. */
  private int stoppedEarlyAfter;

  /**
   * How often, at most, report.html is written while the run goes on (after an epoch), so that a
   * browser showing it follows the run, as W&B's live page does; it reloads as often. Not after
   * every epoch: a head epoch on cached features takes milliseconds, the report tenths of a second.
   */
  private Duration liveReportEvery = Duration.ofSeconds(30);

  private long lastReportNanos;

  /** Whether the data set has validation images: else training accuracy chooses the best epoch. */
  private boolean hasValidation = true;

  /** The features the head last trained on, and the same as a tensor. */
  private FeatureCache.Features headFeatures;

  private Tensor headFeatureTensor;

  /** A run of {@code cfg}; {@code env} supplies FINGERSPELL_HOME and the hub settings. */
  public Trainer(Config cfg, Map<String, String> env, Listener listener) {
    this(cfg, env, listener, false);
  }

  /**
   * With {@code resume}: goes on with the run in {@code cfg}'s {@code run.dir}, whose config {@code
   * cfg} is, after its last completed epoch ({@link ResumePoint}); the epochs left give the metrics
   * and models the run would have given without stopping.
   */
  public Trainer(Config cfg, Map<String, String> env, Listener listener, boolean resume) {
    this.cfg = cfg;
    this.env = env;
    this.listener = listener;
    this.resume = resume;
  }

  /** Writes the report while the run goes on at most this often (tests: zero, every epoch). */
  void liveReportEvery(Duration every) {
    liveReportEvery = every;
  }

  /** Asks the run to stop at the next batch boundary (saving first). */
  public void requestStop() {
    stopRequested = true;
  }

  /** Waits until {@link #run()} has returned or thrown; false on timeout. */
  public boolean awaitFinished(long seconds) throws InterruptedException {
    return finished.await(seconds, TimeUnit.SECONDS);
  }

  /** The run folder a config names (or the timestamped default). */
  public static Path runDir(Config cfg) {
    return runDir(cfg, cfg.string("name"));
  }

  /** {@code run.dir} when {@code cfg} names one, else {@code runs/<time>-<what>}. */
  public static Path runDir(Config cfg, String what) {
    String dir = cfg.string("run.dir");
    if (!dir.isBlank()) {
      return Path.of(dir);
    }
    String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    return Path.of("runs", stamp + "-" + what);
  }

  /** Whether the run in {@code run} has a resume point (a completed epoch, and epochs left). */
  public static boolean resumable(Path run) {
    return Files.isRegularFile(run.resolve(ResumePoint.FILE));
  }

  /** Whether a process (this one included) is training in {@code run} now. */
  public static boolean training(Path run) {
    return RunFolderLock.held(run);
  }

  /** Trains. */
  public Result run() {
    try {
      return train();
    } catch (RuntimeException | Error e) {
      if (runFolder != null) {
        recordFailure(e);
      }
      throw e;
    } finally {
      if (runLock != null) {
        try {
          runLock.close();
        } catch (IOException e) {
          // closing a lock file cannot lose anything
        }
      }
      finished.countDown();
    }
  }

  /**
   * After a failure (out of memory, a disk full, a shard gone bad): the epochs done are saved
   * already (metrics, checkpoints); the run folder now says it failed and why, with the report of
   * those epochs, before the error reaches the user. A failure while recording is added to it.
   */
  private void recordFailure(Throwable e) {
    String why = failure(e);
    try {
      writeStatus("failed", why);
      if (!history.isEmpty()) {
        report("failed: " + why);
      }
      listener.notice(
          switch (history.size()) {
                case 0 -> "failed before the first epoch ended; run folder " + runFolder;
                case 1 -> "failed; epoch 1 is saved in run folder " + runFolder;
                default ->
                    "failed; epochs 1-" + history.size() + " are saved in run folder " + runFolder;
              }
              + (resumable(runFolder)
                  ? " (fingerspell train --resume " + runFolder + " goes on from there)"
                  : ""));
    } catch (RuntimeException | Error again) {
      e.addSuppressed(again);
    }
  }

  /** A run's failure in one line, for run.json and the report. */
  static String failure(Throwable e) {
    return e instanceof OutOfMemoryError
        ? "out of memory (" + e.getMessage() + ")"
        : IoErrors.describe(e);
  }

  private Result train() {
    Plots.warmUp(); // so that a report can still be drawn after Ctrl-C
    Plots.textProblem().ifPresent(problem -> listener.notice("warning: " + problem));
    long seed = cfg.longValue("seed");
    data = PreparedData.open(Path.of(cfg.string("data.dir")));
    if (!data.has("train")) { // a --val-fraction that rounds every class's images into val
      throw new DataException(
          data.dir()
              + " has no training images"
              + (data.count("val") > 0 ? " (all " + data.count("val") + " went to validation)" : "")
              + ": prepare it again with a smaller --val-fraction");
    }
    data.verify("train");
    hasValidation = data.has("val");
    if (hasValidation) {
      data.verify("val");
    }
    List<String> classes = data.classes();
    // The weights before the run folder: a bad weights file leaves no folder behind.
    WeightFetch fetch = WeightFetch.fromEnvironment(env);
    String weightsSpec = cfg.string("model.weights");
    Path weightsFile = fetch.resolve(weightsSpec, WeightFetch.Progress.NONE);
    ResNet18 model = Pretrained.resnet18(weightsFile, classes.size(), seed, listener::notice);
    Path run = runDir(cfg);
    try {
      if (!resume) {
        Files.createDirectories(run);
      }
      if (Files.isDirectory(run)) {
        runLock = RunFolderLock.take(run); // before anything in it is deleted, read or written
      }
      if (!resume) {
        // A run.dir used before holds that run's files: none may pass for this run's (an old
        // model.safetensors beside this config, if this run stops before its first epoch).
        for (String earlier : RUN_FILES) {
          Files.deleteIfExists(run.resolve(earlier));
        }
        AtomicFiles.write(
            run.resolve("config.yaml"), cfg.toYaml().getBytes(StandardCharsets.UTF_8));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot write the run folder " + run + ": " + IoErrors.describe(e), e);
    }
    if (!resume) {
      runFolder = run; // from here on a failure is recorded in the run folder
    }
    listener.notice("run folder: " + run);

    ResNet18.Trainable trainable = ResNet18.Trainable.parse(cfg.string("model.trainable"));
    model.setTrainable(trainable);
    Preprocess pre =
        new Preprocess(
            cfg.integer("data.image_size"), Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    Optimizer opt = optimizer(model.trainableParameters());
    LrSchedule schedule = schedule();
    float smoothing = (float) cfg.number("train.label_smoothing");
    boolean augment = cfg.bool("data.augment");
    int epochs = cfg.integer("train.epochs");
    int patience = cfg.integer("train.early_stopping_patience");
    int batchSize = cfg.integer("train.batch_size");
    int minBatch = ResNet18.minTrainingBatch(pre.size());
    ModelFile.Info info = new ModelFile.Info(classes, pre, cfg.toJson());

    String weightsId = FeatureCache.weightsId(weightsFile, seed);
    weightsSha256 = weightsFile == null ? null : weightsId;
    ResumePoint.Sources sources =
        new ResumePoint.Sources(
            configFingerprint(cfg),
            data.fingerprint(),
            trainable == ResNet18.Trainable.ALL ? "all" : weightsId); // all: every weight is saved
    int firstEpoch = 1;
    if (resume) {
      ResumePoint.Resumed r = ResumePoint.read(run, sources, model, opt, classes);
      ResumePoint.Standing at = r.standing();
      history.addAll(r.history());
      bestEpoch = at.bestEpoch();
      bestAcc = at.bestAcc();
      bestConfusion = at.best();
      lastConfusion = at.last();
      firstEpoch = at.epoch() + 1;
      resumedAfter.addAll(earlierResumes(run));
      resumedAfter.add(at.epoch());
      listener.notice("resuming after epoch " + at.epoch() + " of " + epochs);
    }
    runFolder = run; // a refused resume leaves the run's record as it was
    // With only layer4 and the head training, the stages before layer4 are constant: they run
    // folded, as in inference (a CPU step at batch 32, 224: x1.04-1.17 over 11 rounds).
    FrozenResNet18 frozenStages =
        trainable == ResNet18.Trainable.LAYER4 ? FrozenResNet18.of(model) : null;
    // Without augmentation their output is the same every epoch: on the CPU, where they were a
    // third of a step, it is kept on disk; a GPU (not measured there yet) keeps running them
    StageCache stageCache = null;
    if (frozenStages != null && !augment && Backends.defaultDevice().type() == Device.Type.CPU) {
      stageCache = new StageCache(fetch.cacheDir().resolve("layer3"), weightsId, data, pre);
      listener.notice(stageCache.open());
    }
    FeatureCache cache = null;
    FeatureCache.Features trainFeatures = null;
    FeatureCache.Features valFeatures = null;
    if (trainable == ResNet18.Trainable.HEAD) {
      cache = new FeatureCache(fetch.cacheDir().resolve("features"));
      listener.notice(
          "frozen backbone: features are computed once and cached"
              + (augment
                  ? " (validation only: augmentation recomputes training features each epoch)"
                  : ""));
      if (hasValidation) {
        valFeatures = features(cache, weightsId, model, data, "val", pre, null);
      }
      if (!augment) {
        trainFeatures = features(cache, weightsId, model, data, "train", pre, null);
      }
    }

    boolean interrupted = stopRequested; // Ctrl-C during the feature pass: no epoch starts
    lastReportNanos = System.nanoTime();
    for (int epoch = firstEpoch; epoch <= epochs && !interrupted; epoch++) {
      schedule.apply(opt, epoch - 1);
      long start = System.nanoTime();
      Rng rng = new Rng(seed * 1_000_003L + epoch);
      double[] train; // loss sum, correct, count
      if (trainable == ResNet18.Trainable.HEAD) {
        FeatureCache.Features tf =
            augment
                ? features(
                    cache, weightsId, model, data, "train", pre, new Rng(seed + 7919L * epoch))
                : trainFeatures;
        train = tf == null ? null : headEpoch(model, opt, tf, rng, batchSize, smoothing, epoch);
      } else {
        train =
            fullEpoch(
                model,
                frozenStages,
                stageCache,
                opt,
                data,
                pre,
                augment ? new Rng(seed + 7919L * epoch) : null,
                rng,
                batchSize,
                minBatch,
                smoothing,
                epoch);
      }
      if (train == null) {
        interrupted = true;
        break;
      }
      Confusion confusion = new Confusion(classes);
      double valLoss = Double.NaN;
      double valAcc = Double.NaN;
      boolean complete = true; // the epoch's validation is done, or none is due
      if (hasValidation) {
        OptionalDouble loss =
            trainable == ResNet18.Trainable.HEAD
                ? OptionalDouble.of(evaluateFeatures(model, valFeatures, smoothing, confusion))
                : validateImages(model, data, pre, smoothing, confusion, epoch);
        complete = loss.isPresent(); // absent: Ctrl-C cut the pass short
        valLoss = loss.orElse(Double.NaN);
        valAcc = complete ? confusion.accuracy() : Double.NaN;
      }
      Report.Epoch m =
          new Report.Epoch(
              epoch,
              train[0] / train[2],
              train[1] / train[2],
              valLoss,
              valAcc,
              opt.lr(),
              (System.nanoTime() - start) / 1e9);
      history.add(m);
      appendMetrics(run, m);
      if (complete) {
        lastConfusion = confusion;
      }
      ModelFile.save(model, run.resolve("last.safetensors"), info);
      double score = hasValidation ? valAcc : m.trainAcc();
      if (score > bestAcc) {
        bestAcc = score;
        bestEpoch = epoch;
        bestConfusion = confusion;
        copyCheckpoint(run.resolve("last.safetensors"), run.resolve("model.safetensors"));
      }
      // Lightning's EarlyStopping on the score that chooses the best epoch; decided from the
      // best epoch alone, so a resumed run stops where the run without a stop does
      boolean stopEarly =
          complete && patience > 0 && epoch < epochs && epoch - bestEpoch >= patience;
      if (complete && epoch < epochs && !stopEarly) { // a cut validation: the epoch is redone
        ResumePoint.write(
            run,
            new ResumePoint.Standing(epoch, bestEpoch, bestAcc, bestConfusion, lastConfusion),
            sources,
            model,
            opt);
      }
      listener.notice(
          String.format(
              "epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  lr %.3g  %ss",
              epoch,
              epochs,
              m.trainLoss(),
              m.trainAcc(),
              valLoss,
              valAcc,
              m.lr(),
              Report.seconds(m.seconds())));
      if (epoch < epochs
          && !stopEarly
          && !stopRequested
          && System.nanoTime() - lastReportNanos >= liveReportEvery.toNanos()) {
        try {
          report("running, epoch " + epoch + " of " + epochs + " done");
        } catch (RuntimeException e) { // a page to look at must not end hours of training
          listener.notice("warning: report.html not updated: " + IoErrors.describe(e));
        }
        lastReportNanos = System.nanoTime();
      }
      if (stopEarly) {
        stoppedEarlyAfter = epoch;
        listener.notice(
            String.format(
                "early stop: no better %s in %d epoch%s (best: epoch %d)",
                hasValidation ? "validation accuracy" : "training accuracy",
                patience,
                patience == 1 ? "" : "s",
                bestEpoch));
        break;
      }
      if (stopRequested) {
        interrupted = epoch < epochs;
        break;
      }
    }
    if (interrupted) {
      ModelFile.save(model, run.resolve("last.safetensors"), info);
      listener.notice(
          "interrupted: saved last.safetensors and the metrics of "
              + history.size()
              + (history.size() == 1 ? " epoch" : " epochs"));
    }
    String status = interrupted ? "interrupted" : "completed";
    if (!interrupted) {
      ResumePoint.remove(run); // nothing left to resume
    }
    writeStatus(status, null);
    if (!history.isEmpty()) {
      report(status);
    }
    return new Result(
        run,
        List.copyOf(history),
        bestEpoch,
        bestEpoch == 0 ? Double.NaN : bestAcc,
        hasValidation,
        interrupted);
  }

  /**
   * A hash of what decides the run's results: every setting but where it is written ({@code
   * run.dir}, {@code name}) and how it runs ({@code runtime.*}).
   */
  static String configFingerprint(Config cfg) {
    StringBuilder text = new StringBuilder();
    for (String key : new java.util.TreeSet<>(cfg.keys())) {
      if (key.equals("train.early_stopping_patience") && cfg.integer(key) == 0) {
        continue; // off, as every run was before the key: those runs still resume
      }
      if (!key.equals("run.dir") && !key.equals("name") && !key.startsWith("runtime.")) {
        text.append(key).append('=').append(cfg.string(key)).append('\n');
      }
    }
    return dev.fingerspell.train.data.Sha256.of(text.toString().getBytes(StandardCharsets.UTF_8));
  }

  private FeatureCache.Features features(
      FeatureCache cache,
      String weightsId,
      ResNet18 model,
      PreparedData data,
      String split,
      Preprocess pre,
      Rng augment) {
    listener.phase("features " + split, data.count(split));
    try {
      return cache.get(
          FeatureCache.key(weightsId, data, split, pre),
          model,
          data,
          split,
          pre,
          augment,
          n -> listener.step(n, Double.NaN),
          () -> stopRequested);
    } finally {
      listener.endPhase();
    }
  }

  private Optimizer optimizer(List<Tensor> params) {
    double lr = cfg.number("train.lr");
    double wd = cfg.number("train.weight_decay");
    return cfg.string("train.optimizer").equals("sgd")
        ? new Sgd(params, lr, cfg.number("train.momentum"), 0, wd, cfg.bool("train.nesterov"))
        : new AdamW(params, lr, 0.9, 0.999, 1e-8, wd);
  }

  private LrSchedule schedule() {
    double lr = cfg.number("train.lr");
    return switch (cfg.string("train.scheduler")) {
      case "cosine" -> LrSchedule.cosine(lr, cfg.integer("train.epochs"), 0);
      case "step" -> LrSchedule.step(lr, cfg.integer("train.step_size"), cfg.number("train.gamma"));
      default -> t -> lr;
    };
  }

  /** One epoch of the head on cached features; null when stopped. */
  private double[] headEpoch(
      ResNet18 model,
      Optimizer opt,
      FeatureCache.Features f,
      Rng rng,
      int batchSize,
      float smoothing,
      int epoch) {
    if (f != headFeatures) { // one upload per set of features, not per epoch
      headFeatures = f;
      headFeatureTensor = Tensor.of(f.values(), f.count(), ResNet18.FEATURES);
    }
    listener.phase("epoch " + epoch, f.count());
    try {
      return HeadEpoch.run(
          model,
          opt,
          headFeatureTensor,
          f.labels(),
          rng,
          batchSize,
          smoothing,
          new HeadEpoch.Progress() {
            @Override
            public void step(int n, double meanLoss) {
              listener.step(n, meanLoss);
            }

            @Override
            public boolean stopRequested() {
              return stopRequested;
            }
          });
    } finally {
      listener.endPhase();
    }
  }

  /**
   * One epoch through the network over shuffled shards; null when stopped. With {@code stages}, the
   * frozen stages' output of each shard comes from that cache instead of the images.
   */
  private double[] fullEpoch(
      ResNet18 model,
      FrozenResNet18 frozenStages,
      StageCache stages,
      Optimizer opt,
      PreparedData data,
      Preprocess pre,
      Rng augment,
      Rng rng,
      int batchSize,
      int minBatch,
      float smoothing,
      int epoch) {
    model.train(true);
    int[] order = Batches.permutation(data.shardFiles("train").size(), rng);
    double[] totals = new double[3]; // loss sum, correct, seen
    listener.phase("epoch " + epoch, data.count("train"));
    try {
      if (stages != null) {
        for (int s : order) {
          StageCache.Maps maps = stages.shard(s, frozenStages, () -> stopRequested);
          if (maps == null
              || !trainShard(
                  maps.labels(),
                  (perm, from, n) -> model.forwardFrom(StageCache.LAYER, maps.batch(perm, from, n)),
                  opt,
                  rng,
                  batchSize,
                  minBatch,
                  smoothing,
                  totals)) {
            return null;
          }
        }
      } else {
        for (PreparedData.Shard shard : data.shards("train", order)) {
          BatchForward forward =
              (perm, from, n) -> {
                Tensor x = Batches.of(shard, perm, from, n, pre, augment);
                return frozenStages == null
                    ? model.forward(x)
                    : model.forwardFrom(4, frozenStages.forwardThrough(x, 3));
              };
          if (!trainShard(
              shard.labels(), forward, opt, rng, batchSize, minBatch, smoothing, totals)) {
            return null;
          }
        }
      }
    } finally {
      listener.endPhase();
      model.eval();
    }
    return new double[] {totals[0], totals[1], Math.max(1, totals[2])};
  }

  /** The logits of images {@code perm[from]} to {@code perm[from + n - 1]} of a shard. */
  private interface BatchForward {
    Tensor logits(int[] perm, int from, int n);
  }

  /**
   * A step a batch over a shard's images in a random order, adding loss, correct and seen to {@code
   * totals}; false when stopped.
   */
  private boolean trainShard(
      long[] labels,
      BatchForward forward,
      Optimizer opt,
      Rng rng,
      int batchSize,
      int minBatch,
      float smoothing,
      double[] totals) {
    int count = labels.length;
    int[] perm = Batches.permutation(count, rng);
    for (int from = 0; from < count; from += batchSize) {
      if (stopRequested) {
        return false;
      }
      int n = Math.min(batchSize, count - from);
      if (n < minBatch) {
        continue; // a shard's last image alone: batch norm needs two values a channel
      }
      long[] y = new long[n];
      for (int i = 0; i < n; i++) {
        y[i] = labels[perm[from + i]];
      }
      double[] r = step(forward.logits(perm, from, n), y, opt, smoothing);
      totals[0] += r[0] * n;
      totals[1] += r[1];
      totals[2] += n;
      listener.step(n, totals[0] / totals[2]);
    }
    return true;
  }

  /** A forward already done: loss, backward, update. Returns {loss, correct}. */
  static double[] step(Tensor logits, long[] y, Optimizer opt, float smoothing) {
    Tensor loss = Ops.crossEntropy(logits, Tensor.ofLongs(y, y.length), smoothing);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    int[] pred = Batches.argmax(logits.toFloatArray(), y.length, logits.size(1));
    int correct = 0;
    for (int i = 0; i < y.length; i++) {
      if (pred[i] == y[i]) {
        correct++;
      }
    }
    return new double[] {loss.item(), correct};
  }

  private static double evaluateFeatures(
      ResNet18 model, FeatureCache.Features f, float smoothing, Confusion confusion) {
    int d = ResNet18.FEATURES;
    double lossSum = 0;
    int chunk = 1024;
    try (GradMode g = GradMode.noGrad()) {
      for (int from = 0; from < f.count(); from += chunk) {
        int n = Math.min(chunk, f.count() - from);
        float[] x = new float[n * d];
        System.arraycopy(f.values(), from * d, x, 0, n * d);
        long[] y = java.util.Arrays.copyOfRange(f.labels(), from, from + n);
        lossSum += score(model.forwardHead(Tensor.of(x, n, d)), y, smoothing, confusion) * n;
      }
    }
    return lossSum / Math.max(1, f.count());
  }

  /**
   * Mean loss over the validation images, filling {@code confusion}, with a progress bar (a minute
   * on the real data's 8,700 images on a CPU); empty when a stop came first. The network runs
   * folded, as in inference: folding it anew each epoch costs ~11 ms and ~30 ms of weight
   * transforms in the first batch, and 10 CPU batches of 32 at 224 took 1.23-1.36x less time, the
   * fold included.
   */
  private OptionalDouble validateImages(
      ResNet18 model,
      PreparedData data,
      Preprocess pre,
      float smoothing,
      Confusion confusion,
      int epoch) {
    model.eval();
    FrozenResNet18 frozen = FrozenResNet18.of(model);
    double lossSum = 0;
    int count = 0;
    Tensor x = null;
    listener.phase("validation " + epoch, data.count("val"));
    try {
      for (PreparedData.Batch b : data.batches("val", Batches.inferenceBatch())) {
        if (stopRequested) {
          return OptionalDouble.empty(); // the epoch's training is kept, its validation not counted
        }
        try (GradMode g = GradMode.noGrad()) {
          x = Batches.of(b, pre, null, x); // the last batch's input, done with once scored
          Tensor logits = frozen.forward(x);
          lossSum += score(logits, b.labels(), smoothing, confusion) * b.count();
        }
        count += b.count();
        listener.step(b.count(), lossSum / count);
      }
    } finally {
      listener.endPhase();
    }
    return OptionalDouble.of(lossSum / Math.max(1, count));
  }

  private static double score(Tensor logits, long[] y, float smoothing, Confusion confusion) {
    int[] pred = Batches.argmax(logits.toFloatArray(), y.length, logits.size(1));
    for (int i = 0; i < y.length; i++) {
      confusion.add((int) y[i], pred[i]);
    }
    return Ops.crossEntropy(logits, Tensor.ofLongs(y, y.length), smoothing).item();
  }

  /** The best model is the checkpoint just written: copy its bytes rather than serialise again. */
  private static void copyCheckpoint(Path last, Path best) {
    try {
      AtomicFiles.copy(last, best);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + best + ": " + IoErrors.describe(e), e);
    }
  }

  private static void appendMetrics(Path run, Report.Epoch m) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("epoch", m.epoch());
    line.put("train_loss", finite(m.trainLoss()));
    line.put("train_acc", finite(m.trainAcc()));
    line.put("val_loss", finite(m.valLoss()));
    line.put("val_acc", finite(m.valAcc()));
    line.put("lr", m.lr());
    line.put("seconds", Math.round(m.seconds() * 1000) / 1000.0);
    try {
      String json = new ObjectMapper().writeValueAsString(line) + "\n";
      Files.writeString(
          run.resolve("metrics.jsonl"),
          json,
          StandardOpenOption.CREATE,
          StandardOpenOption.APPEND,
          StandardOpenOption.SYNC);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot append to metrics.jsonl: " + IoErrors.describe(e), e);
    }
  }

  private static Double finite(double v) {
    return Double.isFinite(v) ? v : null;
  }

  /** The epochs after which run.json says the run was resumed before; none when it says none. */
  private static List<Integer> earlierResumes(Path run) {
    List<Integer> out = new ArrayList<>();
    try {
      new ObjectMapper()
          .readTree(run.resolve("run.json").toFile())
          .path("resumed_after")
          .forEach(n -> out.add(n.asInt()));
    } catch (IOException e) {
      // no record (a run killed before it wrote one): no earlier resume is known
    }
    return out;
  }

  /**
   * run.json: {@code status} completed, interrupted or failed (then {@code error} says why), and
   * {@code resumed_after} when the run was resumed.
   */
  private void writeStatus(String status, String error) {
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("status", status);
    if (error != null) {
      s.put("error", error);
    }
    s.put("epochs_completed", history.size());
    if (!resumedAfter.isEmpty()) {
      s.put("resumed_after", resumedAfter);
    }
    if (stoppedEarlyAfter > 0) {
      s.put("stopped_early_after", stoppedEarlyAfter);
    }
    s.put("best_epoch", bestEpoch);
    s.put("best_val_acc", bestEpoch == 0 ? null : bestAcc);
    s.put("train_images", data.count("train"));
    s.put("val_images", data.count("val"));
    // what it trained on, as DVC would pin it: the data set's version and the starting weights
    s.put("data_fingerprint", data.fingerprint());
    if (weightsSha256 != null) {
      s.put("weights_sha256", weightsSha256);
    }
    s.put("ran_on", ranOn()); // what W&B records of a run's system: times compare only alike
    try {
      AtomicFiles.write(runFolder.resolve("run.json"), new ObjectMapper().writeValueAsBytes(s));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The backend that trained and what it runs on, the Java runtime and Fingerspell's version: "cpu
   * (the Vector API at 512 bits, 2 threads), Java 25.0.3+9, fingerspell 0.1.0-SNAPSHOT".
   */
  static String ranOn() {
    Backend backend;
    try {
      backend = Backends.forDevice(Backends.defaultDevice());
    } catch (RuntimeException e) { // a run failing for want of its device still records why
      return "no device (" + e.getMessage() + ")";
    }
    String device = backend.describe();
    return backend.name()
        + (device.isEmpty() ? "" : " (" + device + ")")
        + ", Java "
        + Runtime.version()
        + ", fingerspell "
        + BuildVersion.get();
  }

  /**
   * report.html and its plots, for the run as it stands: finished ({@code status} completed,
   * interrupted or failed), or still going ("running, ..."), then with the page reloading itself.
   */
  private void report(String status) {
    Confusion confusion = bestConfusion != null ? bestConfusion : lastConfusion;
    Path run = runFolder;
    int n = history.size();
    double[] tl = new double[n];
    double[] vl = new double[n];
    double[] ta = new double[n];
    double[] va = new double[n];
    for (int i = 0; i < n; i++) {
      tl[i] = history.get(i).trainLoss();
      vl[i] = history.get(i).valLoss();
      ta[i] = history.get(i).trainAcc();
      va[i] = history.get(i).valAcc();
    }
    byte[] loss =
        Plots.curves(
            run.resolve("loss.png"),
            "Loss",
            "cross-entropy",
            List.of(new Plots.Series("train", tl), new Plots.Series("validation", vl)));
    byte[] acc =
        Plots.curves(
            run.resolve("accuracy.png"),
            "Accuracy",
            "accuracy",
            List.of(new Plots.Series("train", ta), new Plots.Series("validation", va)));
    byte[] conf =
        confusion == null || confusion.total() == 0
            ? null
            : Plots.confusion(
                run.resolve("confusion_matrix.png"), "Validation, epoch " + bestEpoch, confusion);
    Map<String, String> summary = new LinkedHashMap<>();
    summary.put(
        "status",
        status
            + (resumedAfter.isEmpty()
                ? ""
                : ", resumed after epoch"
                    + (resumedAfter.size() == 1 ? " " : "s ")
                    + String.join(", ", resumedAfter.stream().map(String::valueOf).toList()))
            + (stoppedEarlyAfter == 0
                ? ""
                : ", stopped early after epoch "
                    + stoppedEarlyAfter
                    + " of "
                    + cfg.integer("train.epochs")
                    + " (early_stopping_patience "
                    + cfg.integer("train.early_stopping_patience")
                    + ")"));
    summary.put(
        "best epoch",
        bestEpoch == 0
            ? "none (stopped before an epoch was validated)"
            : best(hasValidation, bestAcc) + ", epoch " + bestEpoch);
    summary.put(
        "recipe",
        "trainable="
            + cfg.string("model.trainable")
            + ", weights="
            + cfg.string("model.weights")
            + (weightsSha256 == null ? "" : " (sha256 " + weightsSha256.substring(0, 12) + ")")
            + ", image size "
            + cfg.integer("data.image_size")
            + ", augment "
            + cfg.bool("data.augment"));
    summary.put(
        "optimizer",
        cfg.string("train.optimizer")
            + ", lr "
            + cfg.number("train.lr")
            + ", "
            + cfg.string("train.scheduler")
            + " schedule, batch "
            + cfg.integer("train.batch_size"));
    summary.put(
        "data",
        data.dir()
            + ": "
            + data.count("train")
            + " train, "
            + data.count("val")
            + " val images, "
            + data.classes().size()
            + " classes (version "
            + data.fingerprint().substring(0, 12)
            + ")");
    double secs = 0;
    for (Report.Epoch e : history) {
      secs += e.seconds();
    }
    summary.put(
        "training time", String.format("%.1f s over %d epoch%s", secs, n, n == 1 ? "" : "s"));
    summary.put("ran on", ranOn());
    summary.put("model", run.resolve("model.safetensors").toString());
    Report.write(
        run.resolve("report.html"),
        new Report.Content(
            "Fingerspell run " + run.getFileName(),
            summary,
            loss,
            acc,
            conf,
            confusion,
            history,
            cfg.toYaml(),
            status.startsWith("running") ? (int) Math.max(5, liveReportEvery.toSeconds()) : 0));
  }

  /** For the command line: prints notices and nothing else. */
  public static Listener quiet(Consumer<String> out) {
    return new Listener() {
      @Override
      public void notice(String line) {
        out.accept(line);
      }

      @Override
      public void phase(String what, long steps) {}

      @Override
      public void step(long n, double loss) {}

      @Override
      public void endPhase() {}
    };
  }
}
