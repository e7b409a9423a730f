package dev.fingerspell.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;

/**
 * Copies between Java memory and one device, staged through a ring of pinned host buffers.
 *
 * <p>Why: from ordinary (pageable) memory the driver copies at a fraction of the bus's speed, and a
 * copy to the device first waits until the device has finished everything queued before it, so the
 * host cannot queue the next batch's work while the GPU runs this one. From pinned memory the
 * device copies on its own: an upload copies the array into a free buffer, queues the transfer and
 * returns. Large copies go in chunks, alternating between buffers, so that filling one buffer
 * overlaps the transfer out of another.
 *
 * <p>Each buffer has an event recorded behind its last transfer; a buffer is filled or read only
 * after its event has passed. The ring is shared by every thread using the device.
 */
final class Transfers {
  /**
   * Buffers in the ring: 64 MiB in all holds a whole batch of 256 images at 224×224 (38 MB), so
   * that it can be sent while the previous batch still runs (its transfers queue behind that work,
   * and a smaller ring would wait for their buffers).
   */
  static final int SLOTS = 8;

  /** Bytes per buffer, the largest chunk: 8 MiB moves at the bus's full speed. */
  static final long CHUNK_BYTES = 8L << 20;

  private final DeviceApi device;
  private final int slots;
  private final long chunkBytes;
  private Slot[] ring;
  private int next;

  /** A pinned buffer and the event behind its last transfer. */
  private record Slot(MemorySegment buffer, DeviceApi.Event done) {}

  /** A chunk on its way to the host: where in the destination it goes. */
  private record Arriving(Slot slot, long at, long bytes) {}

  Transfers(DeviceApi device) {
    this(device, SLOTS, CHUNK_BYTES);
  }

  /** A ring of {@code slots} buffers of {@code chunkBytes} (tests use small ones). */
  Transfers(DeviceApi device, int slots, long chunkBytes) {
    this.device = device;
    this.slots = slots;
    this.chunkBytes = chunkBytes;
  }

  /** The next buffer in the ring, once its last transfer has passed; pinned on first use. */
  private Slot take() {
    if (ring == null) {
      ring = new Slot[slots];
      for (int i = 0; i < slots; i++) {
        ring[i] = new Slot(device.allocatePinned(chunkBytes), device.newEvent(false));
      }
    }
    Slot s = ring[next];
    next = (next + 1) % slots;
    s.done().await();
    return s;
  }

  /**
   * Queues a copy of {@code src} (any memory, a Java array's included) to {@code dst + offset};
   * returns once {@code src} has been read, before the device has it.
   */
  synchronized void upload(DevicePointer dst, long offset, MemorySegment src) {
    device.bind();
    for (long at = 0; at < src.byteSize(); at += chunkBytes) {
      long bytes = Math.min(chunkBytes, src.byteSize() - at);
      Slot s = take();
      MemorySegment.copy(src, at, s.buffer(), 0, bytes);
      device.copyToDevice(dst, offset + at, s.buffer().asSlice(0, bytes));
      s.done().record();
    }
  }

  /**
   * Copies {@code dst.byteSize()} bytes from {@code src + offset} into {@code dst}, after the work
   * queued before has run; returns when {@code dst} holds them.
   */
  synchronized void download(MemorySegment dst, DevicePointer src, long offset) {
    device.bind();
    ArrayDeque<Arriving> arriving = new ArrayDeque<>();
    for (long at = 0; at < dst.byteSize(); at += chunkBytes) {
      if (arriving.size() == slots) { // the ring has wrapped: the oldest chunk's buffer is next
        land(arriving.removeFirst(), dst);
      }
      long bytes = Math.min(chunkBytes, dst.byteSize() - at);
      Slot s = take();
      device.copyToHost(s.buffer().asSlice(0, bytes), src, offset + at);
      s.done().record();
      arriving.add(new Arriving(s, at, bytes));
    }
    while (!arriving.isEmpty()) {
      land(arriving.removeFirst(), dst);
    }
  }

  /** Waits for a chunk's transfer, then copies it out of its buffer. */
  private static void land(Arriving a, MemorySegment dst) {
    a.slot().done().await();
    MemorySegment.copy(a.slot().buffer(), 0, dst, a.at(), a.bytes());
  }
}
