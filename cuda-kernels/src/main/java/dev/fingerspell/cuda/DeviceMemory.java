package dev.fingerspell.cuda;

/** What the caching allocator needs of a device: raw blocks and how full it is. */
interface DeviceMemory {
  /** {@code bytes} of device memory, or null when the device has none left. */
  DevicePointer tryAlloc(long bytes);

  /** Returns a block to the device, once the work queued before has run (it may use the block). */
  void free(DevicePointer p);

  /** {free, total} bytes of device memory. */
  long[] memoryInfo();
}
