package dev.fingerspell.cuda;

/**
 * What the CUDA backend needs of a device: memory, copies to and from Java arrays, and kernel
 * launches by name. {@link CudaDriver} is the GPU; {@link HostEmulator} runs the same kernels
 * compiled for the host, so that the backend's own code can be tested without one.
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

  /** Zeroes {@code bytes} at {@code p + offset}. */
  void zero(DevicePointer p, long offset, long bytes);

  /** Copies all of {@code src} to {@code dst + offset}. */
  void upload(DevicePointer dst, long offset, float[] src);

  /** Copies all of {@code src} to {@code dst + offset}. */
  void upload(DevicePointer dst, long offset, long[] src);

  /** Copies all of {@code src} to {@code dst + offset}. */
  void upload(DevicePointer dst, long offset, int[] src);

  /** Copies all of {@code src} to {@code dst + offset}. */
  void upload(DevicePointer dst, long offset, byte[] src);

  /** Copies {@code count} floats from {@code src + offset}; waits for the work queued before. */
  void download(float[] dst, int dstIndex, DevicePointer src, long offset, int count);

  /** Copies {@code count} longs from {@code src + offset}; waits for the work queued before. */
  void download(long[] dst, int dstIndex, DevicePointer src, long offset, int count);

  /** Device to device. */
  void copy(DevicePointer dst, long dstOffset, DevicePointer src, long srcOffset, long bytes);

  /** Waits for everything queued; a kernel's fault surfaces here at the latest. */
  void synchronize();

  /** Launches {@code kernel} over {@code blocks × threads} with the given arguments, in order. */
  void launch(String kernel, int blocks, int threads, Object... args);
}
