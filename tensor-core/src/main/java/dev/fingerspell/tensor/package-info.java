/**
 * Tensors, reverse-mode autograd and the {@link dev.fingerspell.tensor.Backend} SPI.
 *
 * <p>Read {@link dev.fingerspell.tensor.Tensor} for storage and the autograd engine, {@link
 * dev.fingerspell.tensor.Ops} for every op's forward and backward, and the {@code cpu} package for
 * the reference kernels.
 */
package dev.fingerspell.tensor;
