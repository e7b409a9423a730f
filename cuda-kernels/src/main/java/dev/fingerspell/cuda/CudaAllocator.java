package dev.fingerspell.cuda;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import java.lang.ref.PhantomReference;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A caching allocator for one GPU. cuMemAlloc and cuMemFree are slow and synchronise the device, so
 * blocks are kept by size once their storage is unreachable and handed out again: a training step
 * or a forward pass asks for the same sizes every time, and after the first it reaches the device
 * allocator no more.
 *
 * <p>A block comes back when the garbage collector finds its {@link CudaStorage} unreachable (a
 * phantom reference, collected on each allocation). The collector does not see device memory and
 * the Java heap hardly grows with device tensors, so the allocator asks for a collection itself:
 * when its cache is dry after {@link #COLLECT_EVERY} allocations or an eighth of the soft limit in
 * bytes; and when the device is full, after which it frees its cache, and only then reports that
 * memory ran out.
 *
 * <p>Reuse is safe without events because everything runs on one stream (see {@link CudaDriver}):
 * work queued on a block before it was dropped finishes before work queued after it is reused.
 */
final class CudaAllocator {
  /** Live and cached bytes, and how often the device allocator was reached. */
  record Stats(
      long liveBytes,
      long liveBlocks,
      long cachedBytes,
      long peakLiveBytes,
      long deviceAllocations,
      long reuses,
      long collections) {}

  private static final long SMALL = 1 << 20;
  private static final long SMALL_ROUND = 512;
  private static final long LARGE_ROUND = 2 << 20;

  /**
   * Allocations between collections, at most (when the cache runs dry). A collection the allocator
   * asks for is a full one (System.gc: ~5 to 30 ms), so it must be rare against cuMemAlloc's tens
   * of microseconds: every 1,024 allocations it cost as much per allocation as the cache saved, and
   * a head-training epoch (some 34,000 small allocations) asked for 10 (stub driver: 185 ms of an
   * epoch's 1.1 s in the collector). The blocks one period holds are bounded by the byte limit
   * below as well, so large tensors are collected for far sooner.
   */
  static final int COLLECT_EVERY = Integer.getInteger("fingerspell.cuda.collectEvery", 16384);

  /** How long no reference may arrive before a collection's are taken to be all in. */
  private static final long QUIET_MILLIS = 5;

  private final DeviceMemory driver;
  private final long softLimit;
  private final ReferenceQueue<CudaStorage> released = new ReferenceQueue<>();
  private final Set<Block> live = Collections.newSetFromMap(new IdentityHashMap<>());
  private final Map<Long, ArrayDeque<DevicePointer>> cached = new HashMap<>();
  private long liveBytes;
  private long cachedBytes;
  private long peakLiveBytes;
  private long deviceAllocations;
  private long reuses;
  private long collections;
  private long allocatedSinceCollection;
  private long allocationsSinceCollection;

  /** A block in use: freed into the cache when its storage is collected. */
  private static final class Block extends PhantomReference<CudaStorage> {
    final DevicePointer pointer;
    final long size;

    Block(CudaStorage storage, ReferenceQueue<CudaStorage> queue, long size) {
      super(storage, queue);
      this.pointer = storage.pointer;
      this.size = size;
    }
  }

  CudaAllocator(DeviceMemory driver, long softLimit) {
    this.driver = driver;
    this.softLimit = softLimit;
  }

  /** Sizes are rounded so that near-equal requests share blocks: 512 B below 1 MiB, else 2 MiB. */
  static long roundedSize(long bytes) {
    long round = bytes < SMALL ? SMALL_ROUND : LARGE_ROUND;
    return Math.max(round, (bytes + round - 1) / round * round);
  }

  /** Storage for {@code numel} elements; its contents are whatever the block held before. */
  synchronized CudaStorage allocate(CudaRuntime runtime, Device device, DType dtype, long numel) {
    long size = roundedSize(numel * dtype.byteSize());
    collectReleased();
    DevicePointer p = takeCached(size);
    if (p == null
        && (allocationsSinceCollection >= COLLECT_EVERY
            || allocatedSinceCollection > softLimit / 8)) {
      // The cache is dry and much was handed out since the last collection: most of it has been
      // dropped by now. Collecting every so many allocations keeps the set of blocks as large as
      // one such period needs, after which a pass's allocations are all served from the cache.
      collectGarbage();
      p = takeCached(size);
    }
    if (p == null) {
      p = allocateOnDevice(size);
    }
    CudaStorage storage = new CudaStorage(runtime, p, device, dtype, numel);
    live.add(new Block(storage, released, size));
    liveBytes += size;
    allocatedSinceCollection += size;
    allocationsSinceCollection++;
    peakLiveBytes = Math.max(peakLiveBytes, liveBytes);
    return storage;
  }

  /** A new block from the device; when it is full, after a collection and with the cache freed. */
  private DevicePointer allocateOnDevice(long size) {
    DevicePointer p = driver.tryAlloc(size);
    if (p == null) {
      collectGarbage();
      p = takeCached(size);
      if (p != null) {
        return p;
      }
      emptyCache();
      p = driver.tryAlloc(size);
    }
    if (p == null) {
      long[] info = driver.memoryInfo();
      throw new CudaException(
          String.format(
              "out of GPU memory: asked for %.1f MiB with %.1f MiB in live tensors and %.1f MiB"
                  + " free of %.1f MiB; use a smaller batch size",
              size / 1048576.0, liveBytes / 1048576.0, info[0] / 1048576.0, info[1] / 1048576.0),
          2);
    }
    deviceAllocations++;
    return p;
  }

  private DevicePointer takeCached(long size) {
    ArrayDeque<DevicePointer> free = cached.get(size);
    if (free == null || free.isEmpty()) {
      return null;
    }
    cachedBytes -= size;
    reuses++;
    return free.pop();
  }

  /** Moves the blocks of collected storage into the cache. */
  private void collectReleased() {
    for (Reference<? extends CudaStorage> r; (r = released.poll()) != null; ) {
      release((Block) r);
    }
  }

  private void release(Block b) {
    if (live.remove(b)) {
      liveBytes -= b.size;
      cachedBytes += b.size;
      cached.computeIfAbsent(b.size, k -> new ArrayDeque<>()).push(b.pointer);
    }
  }

  /** Asks for a collection and takes back what it released. */
  synchronized void collectGarbage() {
    allocatedSinceCollection = 0;
    allocationsSinceCollection = 0;
    collections++;
    System.gc();
    // The reference handler thread queues the collected blocks' references over some
    // milliseconds after the collection, thousands of them after a period: take them until none
    // has come for a few milliseconds, or blocks arriving late are missed by the allocations that
    // follow, which then go to the device.
    try {
      long deadline = System.nanoTime() + 500_000_000L;
      Reference<? extends CudaStorage> r = released.remove(20);
      while (r != null) {
        release((Block) r);
        collectReleased();
        if (System.nanoTime() > deadline) {
          break;
        }
        r = released.remove(QUIET_MILLIS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    collectReleased();
  }

  /**
   * Collects until two readings of the live bytes agree (the references of one collection arrive
   * over some milliseconds), for statistics that hold still: tests and leak checks.
   */
  synchronized Stats collectUntilSettled() {
    long previous = -1;
    for (int i = 0; i < 10; i++) {
      collectGarbage();
      long now = liveBytes;
      if (now == previous) {
        break;
      }
      previous = now;
    }
    return stats();
  }

  /** Returns every cached block to the device. */
  synchronized void emptyCache() {
    collectReleased();
    for (Map.Entry<Long, ArrayDeque<DevicePointer>> e : cached.entrySet()) {
      for (DevicePointer p : e.getValue()) {
        driver.free(p);
        cachedBytes -= e.getKey();
      }
    }
    cached.clear();
  }

  synchronized Stats stats() {
    collectReleased();
    return new Stats(
        liveBytes, live.size(), cachedBytes, peakLiveBytes, deviceAllocations, reuses, collections);
  }
}
