package dev.fingerspell.tensor.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;

/**
 * The CPU backend's thread pool, one worker per core, and a parallel-for over index ranges. Nested
 * calls from inside a worker run serially, so a kernel that splits its outer loop never
 * oversubscribes the cores.
 */
final class Parallel {
  static final ForkJoinPool POOL =
      new ForkJoinPool(
          Integer.getInteger(
              "fingerspell.cpu.threads", Runtime.getRuntime().availableProcessors()));

  private Parallel() {}

  /** A body over {@code [from, to)}. */
  @FunctionalInterface
  interface Range {
    void run(int from, int to);
  }

  /** The number of workers. */
  static int threads() {
    return POOL.getParallelism();
  }

  /** Whether the calling thread is already one of our workers. */
  static boolean inWorker() {
    return Thread.currentThread() instanceof ForkJoinWorkerThread w && w.getPool() == POOL;
  }

  /**
   * Runs {@code body} over {@code [0, n)} split into contiguous chunks of at least {@code grain}
   * indices, about four chunks per worker so uneven chunks balance.
   */
  static void forRange(int n, int grain, Range body) {
    int threads = threads();
    if (n <= 0) {
      return;
    }
    if (threads == 1 || n <= grain || inWorker()) {
      body.run(0, n);
      return;
    }
    int chunks = Math.min(threads * 4, (n + grain - 1) / grain);
    List<RecursiveAction> tasks = new ArrayList<>(chunks);
    for (int i = 0; i < chunks; i++) {
      int from = (int) ((long) n * i / chunks);
      int to = (int) ((long) n * (i + 1) / chunks);
      tasks.add(
          new RecursiveAction() {
            private static final long serialVersionUID = 1L;

            @Override
            protected void compute() {
              body.run(from, to);
            }
          });
    }
    POOL.invoke(
        new RecursiveAction() {
          private static final long serialVersionUID = 1L;

          @Override
          protected void compute() {
            invokeAll(tasks);
          }
        });
  }
}
