package dev.fingerspell.cuda;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Storage;

/**
 * Device storage: a block from {@link CudaAllocator}, which takes the block back once this object
 * is unreachable (no tensor views it any more).
 */
final class CudaStorage implements Storage {
  final CudaRuntime runtime;
  final DevicePointer pointer;
  final long address;
  private final Device device;
  private final DType dtype;
  private final long numel;

  CudaStorage(CudaRuntime runtime, DevicePointer pointer, Device device, DType dtype, long numel) {
    this.runtime = runtime;
    this.pointer = pointer;
    this.address = pointer.address();
    this.device = device;
    this.dtype = dtype;
    this.numel = numel;
  }

  @Override
  public Device device() {
    return device;
  }

  @Override
  public DType dtype() {
    return dtype;
  }

  @Override
  public long numel() {
    return numel;
  }

  long bytes() {
    return numel * dtype.byteSize();
  }
}
