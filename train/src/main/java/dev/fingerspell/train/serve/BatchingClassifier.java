package dev.fingerspell.train.serve;

import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.resnet.AslClassifier.Prediction;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the images of concurrent requests through the network together. One thread runs the network;
 * while it runs a batch, the images that arrive wait, and the next batch takes all of them (up to
 * {@code maxBatch}). No image waits for a timer: alone, an image runs at once; under load, the
 * batches grow by themselves, and a batch of 16 classifies several times the images per second of
 * 16 single passes.
 */
final class BatchingClassifier implements AutoCloseable {
  /** The queue is full: the service is overloaded (answered with 503). */
  static final class BusyException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    BusyException(String message) {
      super(message);
    }
  }

  /** One image waiting for its pass. */
  private record Job(float[] pixels, int topK, CompletableFuture<List<Prediction>> result) {}

  private final AslClassifier classifier;
  private final Preprocess pre;
  private final int maxBatch;
  private final BlockingQueue<Job> queue;
  private final ServiceMetrics metrics;
  private final Thread worker;

  /** Guards {@link #closed} against a submit racing close: no job is queued after close. */
  private final Object lock = new Object();

  private boolean closed;

  /**
   * A classifier whose thread starts with {@link #start}; images submitted before wait for it.
   *
   * @param maxQueue how many images may wait; more are refused ({@link BusyException})
   */
  BatchingClassifier(AslClassifier classifier, int maxBatch, int maxQueue, ServiceMetrics metrics) {
    this.classifier = classifier;
    this.pre = classifier.info().preprocess();
    this.maxBatch = maxBatch;
    this.queue = new ArrayBlockingQueue<>(maxQueue);
    this.metrics = metrics;
    this.worker = new Thread(this::work, "fingerspell-inference");
    worker.setDaemon(true);
  }

  /** Starts the thread that runs the network. */
  void start() {
    worker.start();
  }

  /** The classifier it runs. */
  AslClassifier classifier() {
    return classifier;
  }

  /**
   * Queues one preprocessed image ({@link Preprocess#fromRgb}); the future completes with its
   * {@code topK} classes, or with the error of its batch's pass.
   */
  CompletableFuture<List<Prediction>> submit(float[] pixels, int topK) {
    Job job = new Job(pixels, topK, new CompletableFuture<>());
    synchronized (lock) {
      if (closed) {
        throw new IllegalStateException("the service is shutting down");
      }
      if (!queue.offer(job)) {
        throw new BusyException(
            "busy: " + queue.size() + " images are waiting to be classified; try again shortly");
      }
    }
    return job.result();
  }

  /** Images waiting now. */
  int waiting() {
    return queue.size();
  }

  private void work() {
    List<Job> batch = new ArrayList<>(maxBatch);
    while (true) {
      Job first;
      try {
        first = queue.poll(50, TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        return;
      }
      if (first == null) {
        synchronized (lock) {
          if (closed && queue.isEmpty()) {
            return; // every queued image has had its pass
          }
        }
        continue;
      }
      batch.add(first);
      queue.drainTo(batch, maxBatch - 1);
      run(batch);
      batch.clear();
    }
  }

  private void run(List<Job> batch) {
    long start = System.nanoTime();
    try {
      int k = batch.stream().mapToInt(Job::topK).max().orElseThrow();
      Tensor x = pre.batch(batch.stream().map(Job::pixels).toList());
      List<List<Prediction>> top = classifier.predict(x, k);
      // counted before any answer goes out, so a scrape after the answer includes this pass
      metrics.batch(batch.size(), System.nanoTime() - start);
      for (int i = 0; i < batch.size(); i++) {
        List<Prediction> all = top.get(i);
        batch.get(i).result().complete(all.subList(0, Math.min(batch.get(i).topK(), all.size())));
      }
    } catch (RuntimeException
        | OutOfMemoryError e) { // the pass failed: each of its requests says so
      batch.forEach(j -> j.result().completeExceptionally(e));
    }
  }

  /** Refuses new images, lets the queued ones finish, then stops the thread. */
  @Override
  public void close() {
    synchronized (lock) {
      closed = true;
    }
    try {
      if (worker.isAlive()) {
        worker.join();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    List<Job> left = new ArrayList<>(); // only when the thread never started, or was interrupted
    queue.drainTo(left);
    left.forEach(
        j -> j.result().completeExceptionally(new IllegalStateException("the service stopped")));
  }
}
