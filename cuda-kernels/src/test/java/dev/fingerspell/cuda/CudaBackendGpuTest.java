package dev.fingerspell.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.ConvGeometry;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.optim.AdamW;
import dev.fingerspell.tensor.optim.Optimizer;
import dev.fingerspell.tensor.optim.Sgd;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every op of the CUDA backend, forward and backward, against the CPU backend on the same values:
 * each is run through {@link Ops} on both devices, and the outputs and the gradients of {@code
 * sum(out * r)} for a random {@code r} are compared. Skipped (each test reported as such) where no
 * GPU answers.
 */
class CudaBackendGpuTest extends CudaOpsChecks {
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
