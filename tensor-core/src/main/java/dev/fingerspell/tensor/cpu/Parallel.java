package dev.fingerspell.tensor.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The CPU backend's workers and a parallel-for over index ranges. The calling thread works too,
 * beside one helper thread per further core; nested calls from inside a region run serially, so a
 * kernel that splits its outer loop never oversubscribes the cores.
 *
 * <p>Why not a {@code ForkJoinPool}: a batch-1 forward pass is ~45 parallel regions of ~0.5 ms, and
 * waking a parked pool worker for each (and the caller after it) cost a tenth of the pass on a VM.
 * Here a helper that finishes a region waits hot for {@link #SPIN_NANOS} before it parks, so the
 * regions of one pass find it awake; an idle process still parks its helpers.
 *
 * <p>One region runs at a time. A second thread that asks while one runs (two requests served at
 * once) runs its range itself, serially: the cores are busy anyway.
 */
final class Parallel {
  private static final int THREADS =
      Math.max(
          1,
          Integer.getInteger(
              "fingerspell.cpu.threads", Runtime.getRuntime().availableProcessors()));

  /** How long a helper stays awake after a region: longer than the serial steps of a pass. */
  private static final long SPIN_NANOS = 500_000;

  /** The thread whose region is running, or null. */
  private static final AtomicReference<Thread> OWNER = new AtomicReference<>();

  /** The region helpers should join; replaced by each region, cleared when it ends. */
  private static volatile Region current;

  private static final Helper[] HELPERS = new Helper[THREADS - 1];

  static {
    for (int i = 0; i < HELPERS.length; i++) {
      HELPERS[i] = new Helper(i + 1);
      HELPERS[i].start();
    }
  }

  private Parallel() {}

  /** A body over {@code [from, to)}. */
  @FunctionalInterface
  interface Range {
    void run(int from, int to);
  }

  /** The number of threads a region runs on, the caller included. */
  static int threads() {
    return THREADS;
  }

  /**
   * Where part {@code part} of {@code n} split into {@code parts} near-equal contiguous runs begins
   * (part {@code parts} is n): a worker's share when each takes one run.
   */
  static int share(int n, int part, int parts) {
    return (int) ((long) n * part / parts);
  }

  /** Whether the calling thread is already working in a region (a helper, or a region's caller). */
  static boolean inWorker() {
    Thread t = Thread.currentThread();
    return t instanceof Helper || OWNER.get() == t;
  }

  /**
   * Runs {@code body} over {@code [0, n)} split into contiguous chunks of at least {@code grain}
   * indices, about four chunks per thread so uneven chunks balance; threads take chunks in order as
   * they come free. Rethrows the first exception a chunk threw, once every chunk has ended.
   */
  static void forRange(int n, int grain, Range body) {
    if (n <= 0) {
      return;
    }
    if (THREADS == 1
        || n <= grain
        || inWorker()
        || !OWNER.compareAndSet(null, Thread.currentThread())) {
      body.run(0, n);
      return;
    }
    Region region = new Region(body, n, Math.min(THREADS * 4, (n + grain - 1) / grain));
    try {
      current = region;
      for (Helper h : HELPERS) {
        if (h.parked) {
          LockSupport.unpark(h);
        }
      }
      region.work();
      region.awaitChunks();
    } finally {
      current = null;
      region.body = null; // the body's captures (activations) are not kept by a helper's "seen"
      OWNER.set(null);
    }
    Throwable error = region.error.get();
    if (error instanceof RuntimeException e) {
      throw e;
    }
    if (error instanceof Error e) {
      throw e;
    }
  }

  /** One call's chunks, taken in order by whichever thread comes free. */
  private static final class Region {
    Range body;
    final int n;
    final int chunks;
    final AtomicInteger next = new AtomicInteger();
    final AtomicInteger ended = new AtomicInteger();
    final AtomicReference<Throwable> error = new AtomicReference<>();

    Region(Range body, int n, int chunks) {
      this.body = body;
      this.n = n;
      this.chunks = chunks;
    }

    /** Runs chunks until none is left to take. */
    void work() {
      for (int i = next.getAndIncrement(); i < chunks; i = next.getAndIncrement()) {
        try {
          body.run((int) ((long) n * i / chunks), (int) ((long) n * (i + 1) / chunks));
        } catch (Throwable t) {
          error.compareAndSet(null, t);
        } finally {
          ended.incrementAndGet();
        }
      }
    }

    /** Waits for the chunks helpers are still running: they are short, so hot, yielding later. */
    void awaitChunks() {
      for (int spins = 0; ended.get() < chunks; spins++) {
        if (spins < 1 << 14) {
          Thread.onSpinWait();
        } else {
          Thread.yield();
        }
      }
    }
  }

  /** A worker beside the caller: joins each region, waits hot between regions, then parks. */
  private static final class Helper extends Thread {
    /** Set before parking and re-checked after, so a region's start never misses it. */
    volatile boolean parked;

    Helper(int index) {
      super("fingerspell-cpu-" + index);
      setDaemon(true);
    }

    @Override
    public void run() {
      Region seen = null;
      while (true) {
        Region r = current;
        if (r != null && r != seen) {
          seen = r;
          r.work();
          continue;
        }
        long idleSince = System.nanoTime();
        while ((r = current) == null || r == seen) {
          if (System.nanoTime() - idleSince < SPIN_NANOS) {
            Thread.onSpinWait();
          } else {
            parked = true;
            if ((r = current) == null || r == seen) {
              LockSupport.park(this);
            }
            parked = false;
            idleSince = System.nanoTime();
          }
        }
      }
    }
  }
}
