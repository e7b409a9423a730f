package dev.fingerspell.cuda;

import java.lang.foreign.MemorySegment;

/**
 * What the CUDA backend needs of a device: memory, copies, events, and kernel launches by name, all
 * queued in order on one stream and run by the device in that order. {@link CudaDriver} is the GPU;
 * {@link HostEmulator} runs the same kernels compiled for the host, so that the backend's own code
 * can be tested without one.
 *
 * <p>Offsets are in bytes. Kernel arguments are given as they are declared: {@link Long} for device
 * addresses and {@code long long}, {@link Integer} for {@code int}, {@link Float} for {@code
 * float}, and {@code long[]} or {@code int[]} for a struct of 64-bit or 32-bit fields passed by
 * value.
 */
interface DeviceApi extends DeviceMemory {
  /** One line naming the device. */
  String name();

  /** The device's ordinal. */
  int ordinal();

  /** Makes the device current on the calling thread (once per thread). */
  void bind();

  /** Queues zeroing {@code bytes} at {@code p + offset}. */
  void zero(DevicePointer p, long offset, long bytes);

  /**
   * {@code bytes} of page-locked host memory: the device copies to and from it on its own, at the
   * bus's full speed, while the host goes on ({@link Transfers} stages array copies through it).
   * Kept until the process ends.
   */
  MemorySegment allocatePinned(long bytes);

  /**
   * Queues a copy of pinned {@code src} to {@code dst + offset} behind the work queued before, and
   * returns at once; {@code src} must stay as it is until an event recorded after it has passed.
   */
  void copyToDevice(DevicePointer dst, long offset, MemorySegment src);

  /**
   * Queues a copy from {@code src + offset} into pinned {@code dst} behind the work queued before,
   * and returns at once; read {@code dst} after an event recorded after it has passed.
   */
  void copyToHost(MemorySegment dst, DevicePointer src, long offset);

  /** A marker in the device's stream. */
  interface Event {
    /** Places the marker behind the work queued so far. */
    void record();

    /** Waits until the device has passed the marker (at once if it was never recorded). */
    void await();

    /**
     * Device milliseconds from {@code start}'s marker to this one's, both events timed and
     * recorded, this one passed.
     */
    float millisSince(Event start);
  }

  /** A new event, not yet recorded; {@code timed} if it is to measure time (else cheaper). */
  Event newEvent(boolean timed);

  /** Queues a copy from device to device. */
  void copy(DevicePointer dst, long dstOffset, DevicePointer src, long srcOffset, long bytes);

  /** Waits for everything queued; a kernel's fault surfaces here at the latest. */
  void synchronize();

  /**
   * Queues {@code kernel} over {@code blocks × threads} with the given arguments, in order; no
   * blocks (an op over no rows) queue nothing.
   */
  void launch(String kernel, int blocks, int threads, Object... args);
}
