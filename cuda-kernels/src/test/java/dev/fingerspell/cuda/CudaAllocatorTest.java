package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The caching allocator's bookkeeping on a pretend device (addresses handed out from a counter, a
 * fixed capacity): blocks come back when their storage is collected and are reused by size, a full
 * device triggers a collection and then the release of the cache, and running out for good is one
 * line with the numbers. No GPU needed.
 */
class CudaAllocatorTest {
  private static final Device GPU = new Device(Device.Type.CUDA, 0);
  private static final long MIB = 1 << 20;

  /** A device of {@code capacity} bytes that counts its allocations and frees. */
  static final class PretendDevice implements DeviceMemory {
    final long capacity;
    long used;
    long next = 1 << 20;
    int allocations;
    int frees;
    final Map<Long, Long> live = new HashMap<>(); // address -> bytes

    PretendDevice(long capacity) {
      this.capacity = capacity;
    }

    @Override
    public DevicePointer tryAlloc(long bytes) {
      if (used + bytes > capacity) {
        return null;
      }
      used += bytes;
      allocations++;
      DevicePointer p = new DevicePointer(next);
      live.put(next, bytes);
      next += bytes;
      return p;
    }

    @Override
    public void free(DevicePointer p) {
      Long bytes = live.remove(p.address());
      assertTrue(bytes != null, "freed twice or never allocated: " + p.address());
      used -= bytes;
      frees++;
    }

    @Override
    public long[] memoryInfo() {
      return new long[] {capacity - used, capacity};
    }
  }

  private static CudaStorage allocate(CudaAllocator a, long floats) {
    return a.allocate(null, GPU, DType.FLOAT32, floats);
  }

  /** Drops every reference the caller held and lets the allocator take the blocks back. */
  private static void collect(CudaAllocator a) {
    a.collectUntilSettled();
  }

  @Test
  void sizesRoundToShareBlocks() {
    assertEquals(512, CudaAllocator.roundedSize(1));
    assertEquals(1024, CudaAllocator.roundedSize(513));
    assertEquals(2 * MIB, CudaAllocator.roundedSize(MIB));
    assertEquals(4 * MIB, CudaAllocator.roundedSize(2 * MIB + 1));
  }

  @Test
  void aCollectedBlockIsReusedForTheSameSize() {
    PretendDevice device = new PretendDevice(1L << 40);
    CudaAllocator a = new CudaAllocator(device, Long.MAX_VALUE);
    long first = allocate(a, 1000).address; // dropped at once
    collect(a);
    assertEquals(4096, a.stats().cachedBytes());
    CudaStorage again = allocate(a, 1000);
    assertEquals(first, again.address, "the cached block is handed out again");
    assertEquals(1, device.allocations);
    CudaStorage other = allocate(a, 5000); // another size: a new block
    assertNotEquals(first, other.address);
    assertEquals(2, device.allocations);
    CudaAllocator.Stats s = a.stats();
    assertEquals(4096 + 20480, s.liveBytes());
    assertEquals(2, s.liveBlocks());
    assertEquals(1, s.reuses());
  }

  /**
   * A thousand allocate-and-drop rounds of 4 MiB: a collection every eighth of the soft limit (64
   * MiB here) brings the dropped blocks back, so the device is reached mostly in the first period.
   */
  @Test
  void steadyStateReachesTheDeviceMostlyInTheFirstPeriod() {
    PretendDevice device = new PretendDevice(1024 * MIB);
    CudaAllocator a = new CudaAllocator(device, 512 * MIB);
    for (int i = 0; i < 1000; i++) {
      allocate(a, 1 << 20); // 4 MiB each, dropped at once
    }
    collect(a);
    CudaAllocator.Stats s = a.stats();
    assertEquals(0, s.liveBytes());
    // The first period's 16, and a few more where a collection's references came in late.
    assertTrue(device.allocations <= 100, "device allocations: " + device.allocations);
    assertTrue(s.reuses() >= 1000 - device.allocations, s.toString());
    assertTrue(s.collections() < 100, s.toString());
  }

  @Test
  void aFullDeviceIsOneLineWithTheNumbers() {
    PretendDevice device = new PretendDevice(16 * MIB);
    CudaAllocator a = new CudaAllocator(device, Long.MAX_VALUE);
    List<CudaStorage> held = new ArrayList<>();
    held.add(allocate(a, 3 * MIB / 4)); // 4 MiB rounded: 12 MiB of 16 in use
    held.add(allocate(a, 3 * MIB / 4));
    held.add(allocate(a, 3 * MIB / 4));
    CudaException e = assertThrows(CudaException.class, () -> allocate(a, 2 * MIB)); // 8 MiB
    assertEquals(
        "out of GPU memory: asked for 8.0 MiB with 12.0 MiB in live tensors and 4.0 MiB free of"
            + " 16.0 MiB; use a smaller batch size",
        e.getMessage());
    assertEquals(3, held.size());
  }

  /**
   * When the device is full, dropped blocks of other sizes are collected and freed to make room.
   */
  @Test
  void aFullDeviceGivesBackTheCacheOfOtherSizes() {
    PretendDevice device = new PretendDevice(16 * MIB);
    CudaAllocator a = new CudaAllocator(device, Long.MAX_VALUE);
    for (int i = 0; i < 3; i++) {
      allocate(a, 3 * MIB / 4); // 4 MiB blocks, dropped but not yet collected
    }
    CudaStorage big = allocate(a, 2 * MIB); // needs 8 MiB: only after the cache is freed
    assertTrue(big.address != 0);
    assertEquals(3, device.frees, "the three cached 4 MiB blocks went back to the device");
  }
}
