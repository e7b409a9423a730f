package dev.fingerspell.tensor;

/**
 * A flat block of elements owned by one backend. Only that backend looks inside: a CPU storage may
 * hold a Java array, a CUDA storage a device pointer. Tensors are views into a storage (offset +
 * shape), so several tensors may share one.
 */
public interface Storage {
  /** The device the elements live on. */
  Device device();

  /** The element type. */
  DType dtype();

  /** The number of elements. */
  long numel();
}
