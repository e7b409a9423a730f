package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import dev.fingerspell.tensor.optim.Optimizer;
import dev.fingerspell.tensor.optim.Sgd;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Every op of the CUDA backend, forward and backward, against the CPU backend on the same values.
 * Each op runs through {@link Ops} on both devices; outputs and the gradients of {@code sum(out *
 * r)} for a random {@code r} are compared. {@link CudaBackendGpuTest} runs these on a GPU (cuDNN
 * and cuBLAS for convolution, batch norm and GEMM), {@link EmulatedKernelsTest} on the host
 * emulator (the CPU backend standing in for those: there it checks the operands the backend hands
 * over).
 */
abstract class CudaOpsChecks {
  static final Device GPU = new Device(Device.Type.CUDA, 0);

  static float[] random(Rng rng, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) rng.nextGaussian();
    }
    return v;
  }

  static double relError(float[] got, float[] want) {
    assertEquals(want.length, got.length, "length");
    double num = 0;
    double den = 0;
    for (int i = 0; i < got.length; i++) {
      double d = (double) got[i] - want[i];
      num += d * d;
      den += (double) want[i] * want[i];
    }
    return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  }

  static void close(String what, float[] got, float[] want, double tol) {
    double err = relError(got, want);
    assertTrue(err <= tol, what + ": relative error " + err + " > " + tol);
  }

  /**
   * Runs {@code op} on both devices over inputs of the given shapes (the first {@code withGrad} of
   * them requiring grad), compares the outputs, then the input gradients of sum(out * r).
   */
  static void compare(
      String name,
      long seed,
      double tol,
      int withGrad,
      Function<Tensor[], Tensor> op,
      int[]... shapes) {
    Rng rng = new Rng(seed);
    float[][] values = new float[shapes.length][];
    for (int i = 0; i < shapes.length; i++) {
      values[i] = random(rng, (int) dev.fingerspell.tensor.Shape.numel(shapes[i]));
    }
    Tensor[] cpu = new Tensor[shapes.length];
    Tensor[] gpu = new Tensor[shapes.length];
    for (int i = 0; i < shapes.length; i++) {
      cpu[i] = Tensor.of(Device.CPU, values[i], shapes[i]).requiresGrad(i < withGrad);
      gpu[i] = Tensor.of(GPU, values[i], shapes[i]).requiresGrad(i < withGrad);
    }
    Tensor outCpu = op.apply(cpu);
    Tensor outGpu = op.apply(gpu);
    assertEquals(GPU, outGpu.device(), name + " ran on the GPU");
    close(name + " forward", outGpu.toFloatArray(), outCpu.toFloatArray(), tol);
    if (withGrad == 0) {
      return;
    }
    float[] r = random(rng, (int) outCpu.numel());
    outCpu.backward(Tensor.of(Device.CPU, r, outCpu.shape()));
    outGpu.backward(Tensor.of(GPU, r, outGpu.shape()));
    for (int i = 0; i < withGrad; i++) {
      close(name + " grad " + i, gpu[i].grad().toFloatArray(), cpu[i].grad().toFloatArray(), tol);
    }
  }

  @Test
  void elementWiseAndBroadcast() {
    compare("add", 1, 1e-6, 2, t -> Ops.add(t[0], t[1]), new int[] {4, 5}, new int[] {4, 5});
    compare(
        "add broadcast rows",
        2,
        1e-6,
        2,
        t -> Ops.add(t[0], t[1]),
        new int[] {6, 7},
        new int[] {7});
    compare(
        "add broadcast 4-d",
        3,
        1e-6,
        2,
        t -> Ops.add(t[0], t[1]),
        new int[] {2, 3, 4, 5},
        new int[] {3, 1, 1});
    compare(
        "add broadcast both ways",
        4,
        1e-6,
        2,
        t -> Ops.add(t[0], t[1]),
        new int[] {3, 1, 5},
        new int[] {4, 1});
    compare("relu", 5, 1e-6, 1, t -> Ops.relu(t[0]), new int[] {1000});
    compare("mul", 6, 1e-6, 1, t -> Ops.mul(t[0], -0.5f), new int[] {33});
    compare("sum", 7, 1e-6, 1, t -> Ops.sum(t[0]), new int[] {10_003});
    compare("mean", 8, 1e-6, 1, t -> Ops.mean(t[0]), new int[] {17, 19});
  }

  /**
   * Overlapping 3×3 stride-1 windows with ties: each input sums the gradients of several outputs,
   * and the GPU adds them in the CPU's order, so the gradient is the CPU's bit for bit.
   */
  @Test
  void maxPoolGradientWithTiesIsTheCpusBitForBit() {
    Rng rng = new Rng(19);
    int[] shape = {2, 3, 9, 11};
    float[] values = random(rng, 2 * 3 * 9 * 11);
    for (int i = 0; i < values.length; i++) {
      values[i] = Math.round(values[i]); // mostly -1, 0 and 1: many ties
    }
    float[] grad = random(rng, 2 * 3 * 9 * 11);
    float[][] dx = new float[2][];
    for (Device d : new Device[] {Device.CPU, GPU}) {
      Tensor x = Tensor.of(d, values, shape).requiresGrad(true);
      Tensor y = Ops.maxPool2d(x, 3, 1, 1);
      y.backward(Tensor.of(d, grad, y.shape()));
      dx[d == GPU ? 1 : 0] = x.grad().toFloatArray();
    }
    assertArrayEquals(dx[0], dx[1]);
  }

  @Test
  void poolingSoftmaxAndLoss() {
    compare("max pool", 14, 1e-6, 1, t -> Ops.maxPool2d(t[0], 3, 2, 1), new int[] {2, 3, 15, 14});
    compare("max pool 2/2", 15, 1e-6, 1, t -> Ops.maxPool2d(t[0], 2, 2, 0), new int[] {1, 2, 6, 6});
    compare("global avg pool", 16, 1e-6, 1, t -> Ops.globalAvgPool(t[0]), new int[] {3, 5, 7, 7});
    compare("softmax", 17, 1e-6, 1, t -> Ops.softmax(t[0]), new int[] {9, 29});
    compare("log softmax", 18, 1e-6, 1, t -> Ops.logSoftmax(t[0]), new int[] {9, 1500});
    long[] labels = {0, 28, 5, 5, 17, 3, 9, 1, 27};
    for (float smoothing : new float[] {0f, 0.1f}) {
      compare(
          "cross entropy, smoothing " + smoothing,
          19,
          1e-6,
          1,
          t -> Ops.crossEntropy(t[0], Tensor.ofLongs(t[0].device(), labels, 9), smoothing),
          new int[] {9, 29});
    }
  }

  /**
   * A batch of no images (a classifier asked about none) reaches ops whose kernels run a block per
   * row: none must be launched, since the driver refuses an empty grid.
   */
  @Test
  void opsOverNoRowsAreEmptyAsOnTheCpu() {
    compare("softmax of no rows", 30, 0, 1, t -> Ops.softmax(t[0]), new int[] {0, 29});
    compare("log softmax of no rows", 31, 0, 1, t -> Ops.logSoftmax(t[0]), new int[] {0, 29});
    compare(
        "avg pool of no images", 32, 0, 1, t -> Ops.globalAvgPool(t[0]), new int[] {0, 8, 7, 7});
  }

  @Test
  void badLabelsAreRefusedBeforeTheKernel() {
    Tensor logits = Tensor.of(GPU, new float[6], 2, 3);
    Tensor labels = Tensor.ofLongs(GPU, new long[] {0, 3}, 2);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Ops.crossEntropy(logits, labels, 0f));
    assertEquals("label 3 of row 1 is outside [0, 3)", e.getMessage());
  }

  /** The loss backward only compares labels with columns: a bad one matches none, reads nothing. */
  @Test
  void lossBackwardOnlyComparesLabels() {
    Tensor labels = Tensor.ofLongs(GPU, new long[] {0, 3}, 2);
    Tensor dlogp = Tensor.zeros(GPU, DType.FLOAT32, 2, 3);
    Backends.forDevice(GPU)
        .nllLossBackward(2, 3, labels, 0f, Tensor.of(GPU, new float[] {1f}, 1), dlogp);
    assertArrayEquals(new float[] {-0.5f, 0, 0, 0, 0, 0}, dlogp.toFloatArray(), 0f);
  }

  /** Events around queued work time it on the device: some time, no more than the wall clock's. */
  @Test
  void deviceMillisTimesTheWorkQueuedInside() {
    CudaBackend cuda = (CudaBackend) Backends.forDevice(GPU);
    Tensor x = Tensor.zeros(GPU, DType.FLOAT32, 1 << 22);
    long start = System.nanoTime();
    double ms =
        cuda.deviceMillis(
            0,
            () -> {
              for (int i = 1; i <= 10; i++) {
                cuda.fill(x, i);
              }
            });
    double wall = (System.nanoTime() - start) / 1e6;
    assertTrue(ms > 0 && ms <= wall, "device " + ms + " ms, wall " + wall + " ms");
    assertEquals(10f, x.toFloatArray()[12345]);
  }

  /** A view (an offset into its storage) reads and writes where it should. */
  @Test
  void viewsGatherAndCopies() {
    float[] x = random(new Rng(20), 10 * 6);
    int[] rows = {9, 0, 3, 3};
    Tensor gpu = Tensor.of(GPU, x, 10, 6);
    assertArrayEquals(
        Ops.gatherRows(Tensor.of(Device.CPU, x, 10, 6), rows).toFloatArray(),
        Ops.gatherRows(gpu, rows).toFloatArray());
    Tensor middle = gpu.narrowRows(2, 5);
    float[] want = new float[18];
    System.arraycopy(x, 12, want, 0, 18);
    assertArrayEquals(want, middle.toFloatArray());
    assertArrayEquals(want, middle.copy().toFloatArray());
    Tensor relu = Ops.relu(middle);
    for (int i = 0; i < 18; i++) {
      assertEquals(Math.max(0f, want[i]), relu.toFloatArray()[i]);
    }
    Tensor labels = Tensor.ofLongs(GPU, new long[] {5, 6, 7}, 3);
    Tensor picked = labels.newZeros(DType.INT64, 2);
    labels.backend().gatherRows(labels, new int[] {2, 0}, picked);
    assertArrayEquals(new long[] {7, 5}, picked.toLongArray());
  }

  @Test
  void bytesNormalisedOnTheDeviceAsOnTheHost() {
    // two images out of the middle of a "shard" of five: the slice is read where it lies
    int per = 3 * 7 * 5;
    byte[] shard = new byte[5 * per];
    new java.util.Random(23).nextBytes(shard);
    MemorySegment bytes = MemorySegment.ofArray(shard).asSlice(2L * per, 2L * per);
    float[] mean = {0.485f, 0.456f, 0.406f};
    float[] std = {0.229f, 0.224f, 0.225f};
    float[] expected = new float[2 * per];
    for (int i = 0; i < expected.length; i++) {
      int ch = i / 35 % 3;
      expected[i] = ((shard[2 * per + i] & 0xff) / 255f - mean[ch]) / std[ch];
    }
    for (Device d : new Device[] {Device.CPU, GPU}) {
      Tensor out = Tensor.zeros(d, DType.FLOAT32, 2, 3, 7, 5);
      out.backend().normalizeImages(bytes, mean, std, out);
      assertArrayEquals(expected, out.toFloatArray(), d.toString());
    }
  }

  /** Evaluation-mode batch-norm backward is our kernel (cuDNN has none). */
  @Test
  void batchNormBackwardInEvaluationMode() {
    Rng rng = new Rng(21);
    int n = 3;
    int c = 4;
    int hw = 10;
    float[] x = random(rng, n * c * hw);
    float[] dy = random(rng, n * c * hw);
    float[] w = random(rng, c);
    float[] mean = random(rng, c);
    float[] var = {0.5f, 1f, 2f, 3f};
    float[][] dx = new float[2][];
    float[][] dw = new float[2][];
    float[][] db = new float[2][];
    int i = 0;
    for (Device d : new Device[] {Device.CPU, GPU}) {
      Backend be = Backends.forDevice(d);
      Tensor dxT = Tensor.zeros(d, DType.FLOAT32, n, c, hw);
      Tensor dwT = Tensor.zeros(d, DType.FLOAT32, c);
      Tensor dbT = Tensor.zeros(d, DType.FLOAT32, c);
      be.batchNormBackwardInference(
          n,
          c,
          hw,
          Tensor.of(d, x, n, c, hw),
          Tensor.of(d, dy, n, c, hw),
          Tensor.of(d, w, c),
          Tensor.of(d, mean, c),
          Tensor.of(d, var, c),
          1e-5f,
          dxT,
          dwT,
          dbT);
      dx[i] = dxT.toFloatArray();
      dw[i] = dwT.toFloatArray();
      db[i++] = dbT.toFloatArray();
    }
    close("dx", dx[1], dx[0], 1e-6);
    close("dweight", dw[1], dw[0], 1e-6);
    close("dbias", db[1], db[0], 1e-6);
  }

  /**
   * Ten optimizer steps from the same gradients end at the same parameters. On the GPU the
   * optimizer is rebuilt after five steps from its state as a resumed run restores it (read back to
   * the host, loaded onto the device), and goes on as the CPU's did without a break.
   */
  @Test
  void sgdAndAdamwSteps() {
    for (String kind : List.of("sgd", "sgd nesterov", "adamw")) {
      float[][] finals = new float[2][];
      int i = 0;
      for (Device d : new Device[] {Device.CPU, GPU}) {
        Rng rng = new Rng(22);
        Tensor w = Tensor.of(d, random(rng, 300), 300).requiresGrad(true);
        java.util.function.Supplier<Optimizer> make =
            () ->
                switch (kind) {
                  case "sgd" -> new Sgd(List.of(w), 0.1, 0.9, 0.1, 1e-4, false);
                  case "sgd nesterov" -> new Sgd(List.of(w), 0.1, 0.9, 0, 1e-4, true);
                  default -> new AdamW(List.of(w), 1e-2);
                };
        Optimizer opt = make.get();
        for (int step = 0; step < 10; step++) {
          if (step == 5 && d == GPU) {
            java.util.Map<String, Tensor> saved = new java.util.HashMap<>();
            opt.state(0).forEach((name, t) -> saved.put(name, t.to(Device.CPU).copy()));
            opt = make.get();
            opt.loadState(0, saved);
          }
          w.setGrad(Tensor.of(d, random(rng, 300), 300));
          opt.step();
        }
        finals[i++] = w.toFloatArray();
      }
      close(kind + " after 10 steps", finals[1], finals[0], 1e-6);
    }
  }

  /**
   * Passes spanning three or more of the allocator's collection periods (5 allocations each) keep
   * no memory, and the blocks they take from the device stop at what one period needs instead of
   * growing with the passes (without the cache or its collections, nearly every allocation would be
   * a new block: over 49,000 here). How few come from the device once the cache has grown, and
   * whether its cache ran dry at all (the JVM's own collections may feed it all along, and then the
   * allocator asks for none), depend on when the JVM collects: printed, not asserted.
   */
  @Test
  void allocatorStaysWithinACollectionPeriodOfBlocks() {
    CudaBackend cuda = (CudaBackend) Backends.forDevice(GPU);
    float[] image = random(new Rng(23), 3 * 32 * 32);
    Runnable pass =
        () -> {
          try (GradMode g = GradMode.noGrad()) {
            Tensor x = Tensor.of(GPU, image, 1, 3, 32, 32);
            Ops.sum(Ops.globalAvgPool(Ops.relu(Ops.maxPool2d(x, 3, 2, 1)))).item();
          }
        };
    long start = cuda.deviceAllocations(0);
    int settled = cuda.settleAllocator(0, pass, 5);
    long before = cuda.liveBytes(0);
    long allocations = cuda.deviceAllocations(0);
    long asked = cuda.collectionsAsked(0);
    int passes = 2 * cuda.collectionPeriod() / 5 + 100;
    for (int i = 0; i < passes; i++) {
      pass.run();
    }
    long collections = cuda.collectionsAsked(0) - asked;
    long fresh = cuda.deviceAllocations(0) - allocations;
    long total = cuda.deviceAllocations(0) - start;
    assertEquals(before, cuda.liveBytes(0), "live bytes after " + passes + " passes");
    System.out.printf(
        "allocator, settled in %d periods (0: not under 512 new blocks), then %d passes of 5"
            + " allocations: %d new blocks (%d in all), %d collections asked; %s%n",
        settled, passes, fresh, total, collections, cuda.memoryStats(0));
    assertTrue(
        total <= cuda.collectionPeriod() + 512,
        "blocks from the device: " + total + ", more than a collection period's");
  }

  @Test
  void matrixProductsInEveryTranspose() {
    // matmul's backward takes A·Bᵀ and Aᵀ·B, linear's forward A·Wᵀ: all four cuBLAS cases.
    compare(
        "matmul", 8, 1e-5, 2, t -> Ops.matmul(t[0], t[1]), new int[] {37, 64}, new int[] {64, 29});
    compare(
        "linear",
        9,
        1e-5,
        3,
        t -> Ops.linear(t[0], t[1], t[2]),
        new int[] {32, 512},
        new int[] {29, 512},
        new int[] {29});
  }

  @Test
  void convolutionsOfResNet18Shapes() {
    int[][] convs = { // n, c, size, oc, kernel, stride, pad
      {2, 3, 64, 8, 7, 2, 3},
      {2, 16, 28, 16, 3, 1, 1},
      {2, 16, 28, 32, 3, 2, 1},
      {2, 16, 28, 32, 1, 2, 0},
      {1, 64, 7, 64, 3, 1, 1},
      {3, 5, 9, 4, 3, 2, 1}
    };
    for (int[] c : convs) {
      int stride = c[5];
      int pad = c[6];
      compare(
          "conv2d " + java.util.Arrays.toString(c),
          c[2],
          1e-5,
          3,
          t -> Ops.conv2d(t[0], t[1], t[2], stride, pad),
          new int[] {c[0], c[1], c[2], c[2]},
          new int[] {c[3], c[1], c[4], c[4]},
          new int[] {c[3]});
    }
  }

  /**
   * The inference-only fused convolution (cuDNN's conv + bias + residual + ReLU) against the CPU.
   */
  @Test
  void fusedConvolutionWithAndWithoutResidualAndRelu() {
    Rng rng = new Rng(11);
    ConvGeometry g = new ConvGeometry(2, 16, 14, 14, 16, 3, 3, 1, 1, 1, 1);
    float[] x = random(rng, 2 * 16 * 14 * 14);
    float[] w = random(rng, 16 * 16 * 9);
    float[] b = random(rng, 16);
    float[] res = random(rng, 2 * 16 * 14 * 14);
    for (boolean relu : new boolean[] {true, false}) {
      for (boolean residual : new boolean[] {true, false}) {
        float[][] outs = new float[2][];
        int i = 0;
        for (Device d : new Device[] {Device.CPU, GPU}) {
          Tensor y = Tensor.zeros(d, dev.fingerspell.tensor.DType.FLOAT32, g.outShape());
          Backends.forDevice(d)
              .conv2dBiasActivation(
                  g,
                  Tensor.of(d, x, 2, 16, 14, 14),
                  Tensor.of(d, w, 16, 16, 3, 3),
                  Tensor.of(d, b, 16),
                  residual ? Tensor.of(d, res, g.outShape()) : null,
                  relu,
                  y);
          outs[i++] = y.toFloatArray();
        }
        close("fused relu " + relu + " residual " + residual, outs[1], outs[0], 1e-5);
      }
    }
  }

  @Test
  void batchNormTrainingAndEvaluation() {
    for (boolean training : new boolean[] {true, false}) {
      Rng rng = new Rng(12);
      float[] mean = random(rng, 8);
      float[] var = new float[8];
      for (int i = 0; i < 8; i++) {
        var[i] = 0.5f + i;
      }
      Tensor[] running = new Tensor[4];
      compare(
          "batch norm training " + training,
          13,
          1e-5,
          3,
          t -> {
            Device d = t[0].device();
            Tensor rm = Tensor.of(d, mean, 8);
            Tensor rv = Tensor.of(d, var, 8);
            running[d == Device.CPU ? 0 : 2] = rm;
            running[d == Device.CPU ? 1 : 3] = rv;
            return Ops.batchNorm(t[0], t[1], t[2], rm, rv, training, 0.1f, 1e-5f);
          },
          new int[] {4, 8, 5, 6},
          new int[] {8},
          new int[] {8});
      close("running mean", running[2].toFloatArray(), running[0].toFloatArray(), 1e-6);
      close("running var", running[3].toFloatArray(), running[1].toFloatArray(), 1e-6);
    }
  }

  /** Ten optimizer steps on both devices end at the same parameters. */
  @Test
  void sgdAndAdamwStepsMatchTheCpu() {
    for (String kind : List.of("sgd", "adamw")) {
      float[][] finals = new float[2][];
      int i = 0;
      for (Device d : new Device[] {Device.CPU, GPU}) {
        Rng rng = new Rng(20);
        Tensor w = Tensor.of(d, random(rng, 29 * 64), 29, 64).requiresGrad(true);
        Tensor x = Tensor.of(d, random(rng, 16 * 64), 16, 64);
        Tensor y =
            Tensor.ofLongs(
                d, new long[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 16);
        Optimizer opt =
            kind.equals("sgd")
                ? new Sgd(List.of(w), 0.1, 0.9, 0, 1e-4, true)
                : new AdamW(List.of(w), 1e-2);
        for (int step = 0; step < 10; step++) {
          opt.zeroGrad();
          Ops.crossEntropy(Ops.linear(x, w, null), y, 0.1f).backward();
          opt.step();
        }
        finals[i++] = w.toFloatArray();
      }
      close(kind + " after 10 steps", finals[1], finals[0], 1e-5);
    }
  }
}
