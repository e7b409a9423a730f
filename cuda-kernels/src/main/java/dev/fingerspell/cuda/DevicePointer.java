package dev.fingerspell.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A JCuda device pointer that tells its address, so that the same allocation can be handed to cuDNN
 * and cuBLAS through {@code java.lang.foreign} and to our kernels as a 64-bit argument.
 */
final class DevicePointer extends CUdeviceptr {
  /** An empty pointer for cuMemAlloc to fill in. */
  DevicePointer() {}

  /** A pointer to a known address (JCuda adds the byte offset to a null base). */
  DevicePointer(long address) {
    super(new CUdeviceptr(), address);
  }

  /** The device address. */
  long address() {
    return getNativePointer() + getByteOffset();
  }
}
