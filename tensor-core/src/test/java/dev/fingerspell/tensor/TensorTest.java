package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorTest {
  @Test
  void gatherRowsDrawsRowsInOrderAndRejectsOutOfRange() {
    Tensor x = Tensor.of(new float[] {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}, 4, 3);
    Tensor g = Ops.gatherRows(x, new int[] {3, 0, 3});
    assertArrayEquals(new int[] {3, 3}, g.shape());
    assertArrayEquals(new float[] {30, 31, 32, 0, 1, 2, 30, 31, 32}, g.toFloatArray());
    // a view's offset is honoured
    assertArrayEquals(
        new float[] {20, 21, 22}, Ops.gatherRows(x.narrowRows(1, 3), new int[] {1}).toFloatArray());
    assertThrows(IllegalArgumentException.class, () -> Ops.gatherRows(x, new int[] {4}));
    assertThrows(IllegalArgumentException.class, () -> Ops.gatherRows(x, new int[] {-1}));
  }

  @Test
  void creationAndReadBack() {
    Tensor z = Tensor.zeros(2, 3);
    assertArrayEquals(new int[] {2, 3}, z.shape());
    assertEquals(6, z.numel());
    assertEquals(DType.FLOAT32, z.dtype());
    assertEquals(Backends.defaultDevice(), z.device()); // the GPU in the GPU check
    assertArrayEquals(new float[6], z.toFloatArray());
    assertArrayEquals(new float[] {1, 1}, Tensor.ones(2).toFloatArray());
    assertArrayEquals(new float[] {7, 7, 7}, Tensor.full(7f, 3).toFloatArray());
    assertEquals(2.5f, Tensor.scalar(2.5f).item());
    assertEquals(0, Tensor.scalar(1f).rank());
    Tensor labels = Tensor.ofLongs(new long[] {4, 28}, 2);
    assertEquals(DType.INT64, labels.dtype());
    assertArrayEquals(new long[] {4, 28}, labels.toLongArray());
    assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[3], 2, 2));
    assertThrows(IllegalStateException.class, labels::toFloatArray);
    assertThrows(IllegalStateException.class, () -> labels.requiresGrad(true));
    assertThrows(IllegalStateException.class, () -> Tensor.zeros(2).item());
  }

  @Test
  void fromArrayCopies() {
    float[] data = {1, 2};
    Tensor t = Tensor.of(data, 2);
    data[0] = 9;
    assertArrayEquals(new float[] {1, 2}, t.toFloatArray());
  }

  @Test
  void copyAndNarrowRows() {
    Tensor t = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
    Tensor rows = t.narrowRows(1, 3);
    assertArrayEquals(new float[] {3, 4, 5, 6}, rows.toFloatArray());
    Tensor c = t.copy();
    c.fill(0f);
    assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, t.toFloatArray());
    rows.copyFrom(Tensor.of(new float[] {0, 0, 0, 0}, 4));
    assertArrayEquals(new float[] {1, 2, 0, 0, 0, 0}, t.toFloatArray());
    assertThrows(IllegalArgumentException.class, () -> t.narrowRows(2, 4));
  }

  @Test
  void seededRandomnessIsReproducibleAndPortable() {
    // SplitMix64's published first output for seed 0
    assertEquals(0xE220A8397B1DCDAFL, new Rng(0).nextLong());
    assertArrayEquals(
        Tensor.randn(new Rng(42), 5, 7).toFloatArray(),
        Tensor.randn(new Rng(42), 5, 7).toFloatArray());
    assertNotEquals(
        Tensor.randn(new Rng(42), 3).toFloatArray()[0],
        Tensor.randn(new Rng(43), 3).toFloatArray()[0]);
    float[] u = Tensor.uniform(new Rng(1), -2f, 3f, 100_000).toFloatArray();
    double mean = 0;
    for (float v : u) {
      assertTrue(v >= -2f && v < 3f);
      mean += v / u.length;
    }
    assertEquals(0.5, mean, 0.05);
    float[] g = Tensor.randn(new Rng(2), 20_000).toFloatArray();
    double m = 0;
    double sq = 0;
    for (float v : g) {
      m += v / g.length;
      sq += (double) v * v / g.length;
    }
    assertEquals(0, m, 0.03);
    assertEquals(1, sq, 0.03);
  }

  @Test
  void shapesBroadcastByNumPyRules() {
    assertArrayEquals(new int[] {2, 3}, Shape.broadcast(new int[] {2, 3}, new int[] {3}));
    assertArrayEquals(new int[] {2, 4, 3}, Shape.broadcast(new int[] {2, 1, 3}, new int[] {4, 1}));
    assertThrows(
        IllegalArgumentException.class, () -> Shape.broadcast(new int[] {2, 3}, new int[] {2}));
    assertArrayEquals(new long[] {0, 1}, Shape.broadcastStrides(new int[] {3}, new int[] {2, 3}));
  }

  @Test
  void devicesParseAndBackendsAreFound() {
    assertEquals(Device.CPU, Device.parse("cpu"));
    assertEquals(new Device(Device.Type.CUDA, 1), Device.parse("cuda:1"));
    assertEquals("cuda:0", Device.parse("CUDA").toString());
    assertThrows(IllegalArgumentException.class, () -> Device.parse("tpu"));
    assertThrows(IllegalArgumentException.class, () -> Device.parse("cuda:x"));
    assertEquals("cpu", Backends.forDevice(Device.CPU).name());
    if (!Backends.isAvailable(
        Device.Type.CUDA)) { // here: the CPU is the default, and asking for a GPU says what to do
      assertEquals(Device.CPU, Backends.defaultDevice());
      IllegalStateException e =
          assertThrows(
              IllegalStateException.class,
              () -> Backends.forDevice(new Device(Device.Type.CUDA, 0)));
      assertTrue(e.getMessage().contains("cpu device"), e.getMessage());
    }
  }

  @Test
  void devicesAreChosenByNameAndAutoGoesBack() {
    try {
      Backends.useDevice("CPU");
      assertEquals(Device.CPU, Backends.defaultDevice());
      assertEquals("cpu", Tensor.zeros(1).backend().name());
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Backends.useDevice("tpu"));
      // tensor-core alone knows no backend beyond the devices' own
      assertEquals("unknown device 'tpu': use auto, cpu, cuda, cuda:N", e.getMessage());
      Backends.useDevice(" auto ");
    } finally {
      Backends.useDevice((Device) null);
    }
  }

  @Test
  void opsRejectBadInputsWithClearMessages() {
    Tensor x = Tensor.zeros(1, 3, 5, 5);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Ops.conv2d(x, Tensor.zeros(2, 4, 3, 3), null, 1, 1));
    assertTrue(e.getMessage().contains("3 channels"), e.getMessage());
    assertThrows(
        IllegalArgumentException.class, () -> Ops.matmul(Tensor.zeros(2, 3), Tensor.zeros(2, 3)));
    assertThrows(
        IllegalArgumentException.class,
        () -> Ops.crossEntropy(Tensor.zeros(2, 3), Tensor.ofLongs(new long[] {0, 3}, 2), 0f));
    assertThrows(
        IllegalArgumentException.class,
        () -> Ops.crossEntropy(Tensor.zeros(2, 3), Tensor.ofLongs(new long[] {0, 1}, 2), 1.5f));
    assertThrows(IllegalArgumentException.class, () -> Ops.maxPool2d(x, 2, 2, 2));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            Ops.batchNorm(
                Tensor.zeros(1, 2, 1, 1),
                Tensor.ones(2),
                Tensor.zeros(2),
                null,
                null,
                true,
                0.1f,
                1e-5f));
  }
}
