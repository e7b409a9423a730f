package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import dev.fingerspell.tensor.optim.Optimizer;
import dev.fingerspell.tensor.optim.Sgd;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every op of the CUDA backend, forward and backward, against the CPU backend on the same values:
 * each is run through {@link Ops} on both devices, and the outputs and the gradients of {@code
 * sum(out * r)} for a random {@code r} are compared. Skipped (each test reported as such) where no
 * GPU answers.
 */
class CudaBackendGpuTest {
  static final Device GPU = new Device(Device.Type.CUDA, 0);

  @BeforeEach
  void requireGpu() {
    assumeTrue(gpuAnswers(), "no CUDA GPU here");
  }

  static boolean gpuAnswers() {
    for (Backend b : Backends.all()) {
      if (b.deviceType() == Device.Type.CUDA && b.isAvailable()) {
        return true;
      }
    }
    return false;
  }

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
    compare("relu", 4, 1e-6, 1, t -> Ops.relu(t[0]), new int[] {1000});
    compare("mul", 5, 1e-6, 1, t -> Ops.mul(t[0], -0.5f), new int[] {33});
    compare("sum", 6, 1e-6, 1, t -> Ops.sum(t[0]), new int[] {100_003});
    compare("mean", 7, 1e-6, 1, t -> Ops.mean(t[0]), new int[] {17, 19});
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

  @Test
  void poolingSoftmaxAndLoss() {
    compare("max pool", 14, 1e-6, 1, t -> Ops.maxPool2d(t[0], 3, 2, 1), new int[] {2, 3, 15, 14});
    compare("global avg pool", 15, 1e-6, 1, t -> Ops.globalAvgPool(t[0]), new int[] {3, 5, 7, 7});
    compare("softmax", 16, 1e-6, 1, t -> Ops.softmax(t[0]), new int[] {9, 29});
    compare("log softmax", 17, 1e-6, 1, t -> Ops.logSoftmax(t[0]), new int[] {9, 1500});
    long[] labels = {0, 28, 5, 5, 17, 3, 9, 1, 27};
    compare(
        "cross entropy smoothed",
        18,
        1e-6,
        1,
        t -> Ops.crossEntropy(t[0], Tensor.ofLongs(t[0].device(), labels, 9), 0.1f),
        new int[] {9, 29});
  }

  @Test
  void badLabelsAreRefusedBeforeTheKernel() {
    Tensor logits = Tensor.of(GPU, new float[6], 2, 3);
    Tensor labels = Tensor.ofLongs(GPU, new long[] {0, 3}, 2);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Ops.crossEntropy(logits, labels, 0f));
    assertEquals("label 3 of row 1 is outside [0, 3)", e.getMessage());
  }

  @Test
  void gatherRowsOfFloatsAndLabels() {
    float[] x = random(new Rng(19), 10 * 6);
    int[] rows = {9, 0, 3, 3};
    assertArrayEquals(
        Ops.gatherRows(Tensor.of(Device.CPU, x, 10, 6), rows).toFloatArray(),
        Ops.gatherRows(Tensor.of(GPU, x, 10, 6), rows).toFloatArray());
    Tensor labels = Tensor.ofLongs(GPU, new long[] {5, 6, 7}, 3);
    Tensor picked = labels.newZeros(dev.fingerspell.tensor.DType.INT64, 2);
    labels.backend().gatherRows(labels, new int[] {2, 0}, picked);
    assertArrayEquals(new long[] {7, 5}, picked.toLongArray());
  }

  /** Images sent as bytes and normalised on the device: the same floats as on the host. */
  @Test
  void bytesNormalisedOnTheDeviceAsOnTheHost() {
    byte[] bytes = new byte[2 * 3 * 7 * 5];
    new java.util.Random(23).nextBytes(bytes);
    float[] mean = {0.485f, 0.456f, 0.406f};
    float[] std = {0.229f, 0.224f, 0.225f};
    float[][] outs = new float[2][];
    int i = 0;
    for (Device d : new Device[] {Device.CPU, GPU}) {
      Tensor out = Tensor.zeros(d, dev.fingerspell.tensor.DType.FLOAT32, 2, 3, 7, 5);
      out.backend().normalizeImages(bytes, mean, std, out);
      outs[i++] = out.toFloatArray();
    }
    assertArrayEquals(outs[0], outs[1]);
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

  /** Dropped tensors come back to the allocator and are handed out again, not re-allocated. */
  @Test
  void allocatorReusesBlocksAndDoesNotLeak() {
    CudaBackend cuda = (CudaBackend) Backends.forDevice(GPU);
    Tensor w = Tensor.of(GPU, random(new Rng(21), 64 * 3 * 3 * 3), 64, 3, 3, 3);
    float[] image = random(new Rng(22), 3 * 64 * 64);
    Runnable pass =
        () -> {
          try (GradMode g = GradMode.noGrad()) {
            Ops.relu(Ops.conv2d(Tensor.of(GPU, image, 1, 3, 64, 64), w, null, 1, 1)).sum().item();
          }
        };
    for (int i = 0; i < 300; i++) { // past the allocator's first collection period
      pass.run();
    }
    long before = cuda.liveBytes(0);
    long allocations = cuda.deviceAllocations(0);
    for (int i = 0; i < 1000; i++) {
      pass.run();
    }
    long after = cuda.liveBytes(0);
    System.out.println("allocator after 1000 passes: " + cuda.memoryStats(0));
    assertEquals(before, after, "live bytes after 1000 passes");
    long fresh = cuda.deviceAllocations(0) - allocations;
    // About 4 allocations a pass: nearly all must come from the cache.
    assertTrue(fresh <= 50, "cuMemAlloc calls in 1000 passes: " + fresh);
  }
}
