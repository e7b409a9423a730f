package dev.fingerspell.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/**
 * The parallel-for: every index once, the caller working too, nesting, failures, and two callers.
 */
class ParallelTest {
  @Test
  void everyIndexRunsExactlyOnce() {
    for (int n : new int[] {1, 2, 7, 64, 1000, 100_003}) {
      for (int grain : new int[] {1, 3, 1000}) {
        AtomicIntegerArray seen = new AtomicIntegerArray(n);
        Parallel.forRange(
            n,
            grain,
            (lo, hi) -> {
              for (int i = lo; i < hi; i++) {
                seen.incrementAndGet(i);
              }
            });
        for (int i = 0; i < n; i++) {
          assertEquals(1, seen.get(i), "n " + n + ", grain " + grain + ", index " + i);
        }
      }
    }
    Parallel.forRange(
        0,
        1,
        (lo, hi) -> {
          throw new AssertionError("an empty range runs nothing");
        });
  }

  @Test
  void theCallerWorksAndNestedCallsRunWhereTheyAre() {
    Thread caller = Thread.currentThread();
    assertFalse(Parallel.inWorker());
    var threads = ConcurrentHashMap.<Thread>newKeySet();
    // Many short rounds: whichever threads take chunks, the caller is among them at least once.
    for (int round = 0; round < 200; round++) {
      Parallel.forRange(
          64,
          1,
          (lo, hi) -> {
            threads.add(Thread.currentThread());
            assertTrue(Parallel.inWorker());
            Thread outer = Thread.currentThread();
            Parallel.forRange(16, 1, (a, b) -> assertSame(outer, Thread.currentThread()));
          });
    }
    assertTrue(threads.contains(caller), "the caller took no chunk");
    assertTrue(threads.size() <= Parallel.threads(), threads.size() + " threads");
    assertFalse(Parallel.inWorker(), "the caller is no longer in a region");
  }

  @Test
  void aChunkFailureReachesTheCallerAfterTheOthersEnd() {
    AtomicIntegerArray ran = new AtomicIntegerArray(8);
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () ->
                Parallel.forRange(
                    8,
                    1,
                    (lo, hi) -> {
                      ran.incrementAndGet(lo);
                      if (lo == 3) {
                        throw new IllegalStateException("chunk 3");
                      }
                    }));
    assertEquals("chunk 3", e.getMessage());
    for (int i = 0; i < 8; i++) {
      assertEquals(1, ran.get(i), "chunk " + i);
    }
    // The workers are free again.
    AtomicIntegerArray after = new AtomicIntegerArray(100);
    Parallel.forRange(100, 1, (lo, hi) -> after.incrementAndGet(lo));
    int total = 0;
    for (int i = 0; i < 100; i++) {
      total += after.get(i);
    }
    assertTrue(total > 0);
  }

  @Test
  void twoCallersAtOnceBothFinishWithEveryIndex() throws Exception {
    int n = 50_000;
    AtomicIntegerArray[] seen = {new AtomicIntegerArray(n), new AtomicIntegerArray(n)};
    CountDownLatch start = new CountDownLatch(1);
    Thread[] callers = new Thread[2];
    Throwable[] failed = new Throwable[2];
    for (int c = 0; c < 2; c++) {
      int me = c;
      callers[c] =
          new Thread(
              () -> {
                try {
                  start.await();
                  for (int round = 0; round < 50; round++) {
                    Parallel.forRange(
                        n,
                        64,
                        (lo, hi) -> {
                          for (int i = lo; i < hi; i++) {
                            seen[me].incrementAndGet(i);
                          }
                        });
                  }
                } catch (Throwable t) {
                  failed[me] = t;
                }
              });
      callers[c].start();
    }
    start.countDown();
    for (Thread t : callers) {
      t.join(60_000);
      assertFalse(t.isAlive(), "a caller never finished");
    }
    for (int c = 0; c < 2; c++) {
      assertEquals(null, failed[c]);
      for (int i = 0; i < n; i++) {
        assertEquals(50, seen[c].get(i), "caller " + c + ", index " + i);
      }
    }
  }
}
