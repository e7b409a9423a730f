package dev.fingerspell.bench;

import dev.fingerspell.cuda.CudaBackend;
import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import dev.fingerspell.train.training.FeaturePass;
import dev.fingerspell.train.training.HeadEpoch;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;

/**
 * Fingerspell's side of {@code bench/compare}: one measurement, timed after warm-up, printed as one
 * line ending in {@code value=X}. {@code bench/python/measure.py} takes the same arguments and
 * measures the same thing in PyTorch.
 *
 * <pre>
 *   forward BATCH SIZE SECONDS   ResNet18 inference (frozen: batch norm folded)   images/s
 *   eval    BATCH SIZE SECONDS   the trainable model in evaluation mode           images/s
 *   train   BATCH SIZE SECONDS   one training step, every layer trains, AdamW     images/s
 *   head    COUNT BATCH EPOCHS   one epoch of the 29-class head on cached features  seconds
 *   features BATCH SIZE SECONDS  the feature cache's pass: 8-bit images in host memory to
 *                                normalised inputs on the device, backbone, features back   images/s
 * </pre>
 *
 * <p>It runs on the default device: {@code -Dfingerspell.device=cuda} measures the GPU.
 */
public final class Measure {
  private static final int CLASSES = 29;

  private Measure() {}

  /** Runs the measurement named by the first argument. */
  public static void main(String[] args) {
    String what = args[0];
    label = String.join(" ", args);
    int[] n = Arrays.stream(args, 1, 3).mapToInt(Integer::parseInt).toArray();
    double value =
        switch (what) {
          case "forward", "eval" -> inference(what.equals("forward"), n[0], n[1], seconds(args));
          case "train" -> training(n[0], n[1], seconds(args));
          case "head" -> headEpoch(n[0], n[1], Integer.parseInt(args[3]));
          case "features" -> features(n[0], n[1], seconds(args));
          default -> throw new IllegalArgumentException("unknown measurement " + what);
        };
    System.out.printf(
        Locale.ROOT,
        "fingerspell %s %s value=%.4f%n",
        what,
        String.join(" ", Arrays.copyOfRange(args, 1, args.length)),
        value);
  }

  private static double seconds(String[] args) {
    return Double.parseDouble(args[3]);
  }

  /** Images per second through the network's forward pass. */
  private static double inference(boolean frozen, int batch, int size, double seconds) {
    UnaryOperator<Tensor> net = network(frozen);
    Tensor x = Tensor.randn(new Rng(2), batch, 3, size, size);
    try (GradMode g = GradMode.noGrad()) {
      Runnable pass = () -> net.apply(x).toFloatArray();
      double value = imagesPerSecond(batch, seconds, pass);
      describeGpu(pass, 5, "a batch", 1);
      return value;
    }
  }

  /** The measurement and its arguments, as typed: the label of its {@code gpu} lines. */
  private static String label = "";

  /**
   * On a GPU, where the time goes: the device's time for the queued work of {@code passes} runs of
   * {@code pass} against the wall time, per {@code unit} ({@code units} of them in a pass); what
   * the allocator cost on the way (cuMemAlloc calls, the collections it asked for, the JVM's time
   * in its collector: the allocator gets dropped blocks back only through the collector); and the
   * algorithm cuDNN was asked to use for each convolution shape.
   */
  private static void describeGpu(Runnable pass, int passes, String unit, int units) {
    if (!(Backends.forDevice(Backends.defaultDevice()) instanceof CudaBackend cuda)) {
      return;
    }
    int ordinal = Backends.defaultDevice().index();
    long allocations = cuda.deviceAllocations(ordinal);
    long collections = cuda.collectionsAsked(ordinal);
    long collectorMillis = collectorMillis();
    long start = System.nanoTime();
    double device =
        cuda.deviceMillis(ordinal, () -> IntStream.range(0, passes).forEach(i -> pass.run()));
    double wall = (System.nanoTime() - start) / 1e6;
    double per = passes * (double) units;
    System.out.printf(
        Locale.ROOT,
        "gpu %s: %.2f ms %s on the device, %.2f ms on the wall clock (%s)%n",
        label,
        device / per,
        unit,
        wall / per,
        cuda.describe());
    System.out.printf(
        Locale.ROOT,
        "gpu %s: %s: %.1f cuMemAlloc, %.2f collections asked, %.2f ms in the JVM's collector%n",
        label,
        unit,
        (cuda.deviceAllocations(ordinal) - allocations) / per,
        (cuda.collectionsAsked(ordinal) - collections) / per,
        (collectorMillis() - collectorMillis) / per);
    cuda.convolutionPlans().forEach(line -> System.out.println("gpu plan " + line));
    cuda.fusedFallbacks().forEach(line -> System.out.println("gpu unfused " + line));
  }

  /**
   * Images per second from 8-bit planar RGB in Java memory to 512 features each in Java memory,
   * through the feature cache's own loop ({@link FeaturePass}: the next batch is sent before the
   * previous one's features are read back) and {@link Preprocess#batchFromRgb} (bytes cross to the
   * device, which normalises them): what computing the feature cache costs, transfers included. A
   * pass is {@value #FEATURE_BATCHES} batches, so the pipeline's start and end count as in a run of
   * a few batches, not of the 340 of the real set.
   */
  private static double features(int batch, int size, double seconds) {
    ResNet18 model = new ResNet18(CLASSES, new Rng(1));
    model.eval();
    FrozenResNet18 backbone = FrozenResNet18.of(model);
    Preprocess pre = new Preprocess(size, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    Rng rng = new Rng(2);
    // a stored shard's batch: the images one after another in one array, read where they lie
    byte[] images = new byte[batch * 3 * size * size];
    for (int j = 0; j < images.length; j++) {
      images[j] = (byte) rng.nextInt(256);
    }
    List<MemorySegment> batches =
        Collections.nCopies(FEATURE_BATCHES, MemorySegment.ofArray(images));
    Runnable pass =
        () ->
            FeaturePass.run(
                backbone,
                batches,
                (b, reuse) -> pre.batchFromRgb(b, batch, size, size, reuse),
                (b, features) -> {});
    double value = imagesPerSecond(FEATURE_BATCHES * batch, seconds, pass);
    describeGpu(pass, 2, "a batch", FEATURE_BATCHES);
    return value;
  }

  /** Milliseconds the JVM has spent collecting, all collectors together. */
  private static long collectorMillis() {
    long sum = 0;
    for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
      sum += Math.max(0, gc.getCollectionTime());
    }
    return sum;
  }

  /** Batches in one timed pass of {@link #features}. */
  private static final int FEATURE_BATCHES = 8;

  /** The network; frozen, only the folded copy stays reachable, as in AslClassifier. */
  private static UnaryOperator<Tensor> network(boolean frozen) {
    ResNet18 model = new ResNet18(CLASSES, new Rng(1));
    model.eval();
    return frozen ? FrozenResNet18.of(model)::forward : model::forward;
  }

  /** Images per second through forward, loss, backward and an AdamW step, all layers training. */
  private static double training(int batch, int size, double seconds) {
    ResNet18 model = new ResNet18(CLASSES, new Rng(1));
    model.train(true);
    AdamW opt = new AdamW(model.trainableParameters(), 1e-3, 0.9, 0.999, 1e-8, 1e-4);
    Tensor x = Tensor.randn(new Rng(2), batch, 3, size, size);
    long[] labels = new long[batch];
    for (int i = 0; i < batch; i++) {
      labels[i] = i % CLASSES;
    }
    Tensor y = Tensor.ofLongs(labels, batch);
    return imagesPerSecond(
        batch,
        seconds,
        () -> {
          Tensor loss = Ops.crossEntropy(model.forward(x), y, 0f);
          opt.zeroGrad();
          loss.backward();
          opt.step();
          loss.item();
        });
  }

  /**
   * The fastest of {@code epochs} head epochs (after one warm-up) over random features, seconds.
   */
  private static double headEpoch(int count, int batch, int epochs) {
    ResNet18 model = new ResNet18(CLASSES, null);
    model.resetClassifier(CLASSES, new Rng(3));
    model.setTrainable(ResNet18.Trainable.HEAD);
    AdamW opt = new AdamW(model.trainableParameters(), 1e-3, 0.9, 0.999, 1e-8, 1e-4);
    Rng rng = new Rng(4);
    Tensor features = Tensor.uniform(rng, 0f, 4f, count, ResNet18.FEATURES);
    long[] labels = new long[count];
    for (int i = 0; i < count; i++) {
      labels[i] = i % CLASSES;
    }
    double best = Double.MAX_VALUE;
    Runnable epoch =
        () -> HeadEpoch.run(model, opt, features, labels, rng, batch, 0f, HeadEpoch.Progress.NONE);
    for (int e = 0; e <= epochs; e++) {
      long start = System.nanoTime();
      epoch.run();
      double s = (System.nanoTime() - start) / 1e9;
      if (e > 0) {
        best = Math.min(best, s);
      }
    }
    describeGpu(epoch, 1, "an epoch", 1); // thousands of small steps: is the GPU or the host busy?
    return best;
  }

  /**
   * Warm-up before timing: at least this many passes and seconds. C2 compiles the kernels, hits
   * branches the first passes did not take and recompiles them for several seconds; until then the
   * vector code partly runs in its slow Java fallback. measure.py uses the same rule.
   */
  private static final int WARM_UP_PASSES = 3;

  /**
   * 5 s; the GPU check takes less ({@code -Dfingerspell.bench.warmUpSeconds}): its time is short.
   */
  private static final double WARM_UP_SECONDS =
      Double.parseDouble(System.getProperty("fingerspell.bench.warmUpSeconds", "5"));

  private static double imagesPerSecond(int batch, double seconds, Runnable pass) {
    long warmUpEnd = System.nanoTime() + (long) (WARM_UP_SECONDS * 1e9);
    for (int i = 0; i < WARM_UP_PASSES || System.nanoTime() < warmUpEnd; i++) {
      pass.run();
    }
    int images = 0;
    long start = System.nanoTime();
    long end = start + (long) (seconds * 1e9);
    while (System.nanoTime() < end || images == 0) {
      pass.run();
      images += batch;
    }
    return images / ((System.nanoTime() - start) / 1e9);
  }
}
