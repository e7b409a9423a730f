package dev.fingerspell.cuda;

/**
 * One GPU as the backend uses it: the device (our kernels, memory, copies), the caching allocator,
 * the libraries for convolution, batch norm and GEMM, and the pinned buffers copies go through.
 */
final class CudaRuntime {
  final DeviceApi device;
  final CudaAllocator allocator;
  final Libraries libraries;
  final Transfers transfers;
  private DeviceApi.Event[] clock; // start and end, for deviceMillis

  private CudaRuntime(
      DeviceApi device, java.util.function.Function<CudaAllocator, Libraries> libs) {
    this.device = device;
    long[] memory = device.memoryInfo();
    long softLimit =
        Long.getLong(
            "fingerspell.cuda.softLimitBytes", (long) (Math.min(memory[0], memory[1]) * 0.8));
    allocator = new CudaAllocator(device, softLimit);
    libraries = libs.apply(allocator);
    transfers = new Transfers(device);
  }

  /** GPU {@code ordinal} with cuDNN and cuBLAS, as {@code probe} found them. */
  static CudaRuntime open(int ordinal, CudaProbe probe) {
    CudaDriver driver = CudaDriver.open(ordinal, probe);
    boolean tf32 = Boolean.getBoolean("fingerspell.cuda.tf32");
    // the files the probe found and loaded for good, with what cuDNN opens by itself
    Cudnn cudnn = new Cudnn(probe.cudnn());
    Cublas cublas = new Cublas(probe.cublas());
    return new CudaRuntime(
        driver, a -> new GpuLibraries(driver, driver.streamAddress(), a, cudnn, cublas, tf32));
  }

  /**
   * For tests: GPU {@code ordinal} through the driver, with the CPU backend's kernels for the
   * libraries, which read device addresses as host memory: only right on the stub driver ({@code
   * src/test/emulator/stub_driver.cpp}), whose device memory is host memory.
   */
  static CudaRuntime withHostLibraries(int ordinal, CudaProbe probe) {
    CudaDriver driver = CudaDriver.open(ordinal, probe);
    return new CudaRuntime(driver, a -> new HostLibraries(driver));
  }

  /** Our kernels compiled for the host, with the CPU backend's kernels for the libraries. */
  static CudaRuntime emulated(java.nio.file.Path kernels) {
    HostEmulator emulator = new HostEmulator(kernels);
    return new CudaRuntime(emulator, a -> new HostLibraries(emulator));
  }

  /** Device milliseconds from the start of {@code work}'s queued work to its end. */
  synchronized double deviceMillis(Runnable work) {
    device.bind();
    if (clock == null) { // made once: events are a driver resource
      clock = new DeviceApi.Event[] {device.newEvent(true), device.newEvent(true)};
    }
    clock[0].record();
    work.run();
    clock[1].record();
    clock[1].await();
    return clock[1].millisSince(clock[0]);
  }

  /** One line for `fingerspell backends` and logs. */
  String describe() {
    return "cuda:" + device.ordinal() + " " + device.name() + ", " + libraries.describe();
  }
}
