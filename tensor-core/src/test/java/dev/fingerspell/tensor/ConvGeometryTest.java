package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ConvGeometryTest {
  /** A refused geometry is said with the sizes it was given (not the zeros of unset fields). */
  @Test
  void aRefusedGeometryNamesItsSizes() {
    assertEquals(
        "conv sizes must be positive: input [0, 3, 224, 224], 64 output channels, kernel 7x7,"
            + " stride 2x2, padding 3x3",
        assertThrows(
                IllegalArgumentException.class,
                () -> new ConvGeometry(0, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3))
            .getMessage());
    assertEquals(
        "bad kernel/stride/padding: input [1, 8, 5, 5], 8 output channels, kernel 3x3, stride 0x1,"
            + " padding 1x1",
        assertThrows(
                IllegalArgumentException.class,
                () -> new ConvGeometry(1, 8, 5, 5, 8, 3, 3, 0, 1, 1, 1))
            .getMessage());
    assertEquals(
        "kernel larger than padded input: input [1, 8, 2, 2], 8 output channels, kernel 5x5,"
            + " stride 1x1, padding 1x1",
        assertThrows(
                IllegalArgumentException.class,
                () -> new ConvGeometry(1, 8, 2, 2, 8, 5, 5, 1, 1, 1, 1))
            .getMessage());
  }
}
