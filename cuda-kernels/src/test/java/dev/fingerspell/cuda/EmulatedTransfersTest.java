package dev.fingerspell.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The pinned staging ring ({@link Transfers}) on the host emulator, whose copies wait in a queue
 * until an event or the next other operation runs them, as a stream's do: a buffer refilled before
 * its last transfer has passed would send the new bytes instead of the old. Tiny buffers make every
 * copy wrap the ring many times.
 */
@SuppressWarnings("restricted") // reads the emulator's device memory directly
class EmulatedTransfersTest {
  private HostEmulator emulator;

  @BeforeEach
  void requireEmulator() {
    String library = System.getProperty("fingerspell.cuda.emulator");
    assumeTrue(
        library != null && Files.exists(Path.of(library)), "the host-compiled kernels are absent");
    emulator = new HostEmulator(Path.of(library));
  }

  private static byte[] pattern(int n, int seed) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (i * 31 + seed);
    }
    return b;
  }

  private DevicePointer zeroedBlock(int n) {
    DevicePointer block = emulator.tryAlloc(n);
    emulator.zero(block, 0, n);
    return block;
  }

  private MemorySegment pinnedPattern(int n, int seed) {
    MemorySegment pinned = emulator.allocatePinned(n);
    pinned.copyFrom(MemorySegment.ofArray(pattern(n, seed)));
    return pinned;
  }

  private static byte[] deviceBytes(DevicePointer p, int n) {
    return MemorySegment.ofAddress(p.address()).reinterpret(n).toArray(JAVA_BYTE);
  }

  /**
   * The emulator's queue is what makes the other tests able to fail: a copy waits for its event.
   */
  @Test
  void copiesWaitInTheQueueUntilTheirEventPasses() {
    DevicePointer block = zeroedBlock(8);
    MemorySegment pinned = pinnedPattern(8, 1);
    DeviceApi.Event event = emulator.newEvent(false);
    emulator.copyToDevice(block, 0, pinned);
    event.record();
    assertArrayEquals(new byte[8], deviceBytes(block, 8), "ran before anything waited for it");
    event.await();
    assertArrayEquals(pattern(8, 1), deviceBytes(block, 8));
  }

  /** An event waits for the copies queued before its record, not those after. */
  @Test
  void anEventRunsOnlyTheCopiesQueuedBeforeIt() {
    DevicePointer block = zeroedBlock(16);
    MemorySegment pinned = pinnedPattern(16, 2);
    DeviceApi.Event first = emulator.newEvent(false);
    emulator.copyToDevice(block, 0, pinned.asSlice(0, 8));
    first.record();
    emulator.copyToDevice(block, 8, pinned.asSlice(8, 8));
    first.await();
    byte[] seen = deviceBytes(block, 16);
    byte[] want = pattern(16, 2);
    java.util.Arrays.fill(want, 8, 16, (byte) 0);
    assertArrayEquals(want, seen);
    emulator.synchronize();
    assertArrayEquals(pattern(16, 2), deviceBytes(block, 16));
  }

  @Test
  void uploadsManyTimesTheRingThenDownloadsThemBack() {
    Transfers transfers = new Transfers(emulator, 2, 16);
    int n = 16 * 7 + 5; // wraps a two-buffer ring three times and ends in a partial chunk
    DevicePointer a = emulator.tryAlloc(n);
    DevicePointer b = emulator.tryAlloc(n);
    transfers.upload(a, 0, MemorySegment.ofArray(pattern(n, 3)));
    transfers.upload(b, 0, MemorySegment.ofArray(pattern(n, 4))); // still queued behind a's
    byte[] back = new byte[n];
    transfers.download(MemorySegment.ofArray(back), a, 0);
    assertArrayEquals(pattern(n, 3), back);
    transfers.download(MemorySegment.ofArray(back), b, 0);
    assertArrayEquals(pattern(n, 4), back);
  }

  /** An upload returns before the device has the bytes; the source may be reused at once. */
  @Test
  void anUploadsSourceMayChangeAsSoonAsItReturns() {
    Transfers transfers = new Transfers(emulator, 3, 8);
    DevicePointer block = emulator.tryAlloc(40);
    byte[] source = pattern(40, 5);
    transfers.upload(block, 0, MemorySegment.ofArray(source));
    java.util.Arrays.fill(source, (byte) 0);
    byte[] back = new byte[40];
    transfers.download(MemorySegment.ofArray(back), block, 0);
    assertArrayEquals(pattern(40, 5), back);
  }

  /** Offsets on both sides; a download waits for a kernel queued before it. */
  @Test
  void downloadsWaitForTheWorkQueuedBefore() {
    Transfers transfers = new Transfers(emulator, 2, 12);
    float[] values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    DevicePointer block = emulator.tryAlloc(4L * values.length);
    transfers.upload(block, 0, MemorySegment.ofArray(values));
    emulator.launch("fill_f32", 1, 1, block.address() + 8, 7f, 3L); // floats 2..4 become 7
    float[] back = new float[12];
    transfers.download(MemorySegment.ofArray(back).asSlice(4, 4L * 9), block, 4);
    assertArrayEquals(new float[] {0, 2, 7, 7, 7, 6, 7, 8, 9, 10, 0, 0}, back);
  }
}
