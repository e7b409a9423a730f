package dev.fingerspell.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A JCuda device pointer that tells its address, so that the same allocation can be handed to cuDNN
 * and cuBLAS through {@code java.lang.foreign} and to our kernels as a 64-bit argument.
 */
final class DevicePointer extends CUdeviceptr {
  /** The device address cuMemAlloc wrote into this pointer. */
  long address() {
    return getNativePointer() + getByteOffset();
  }
}
