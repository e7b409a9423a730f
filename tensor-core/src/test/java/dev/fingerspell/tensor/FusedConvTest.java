package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The inference-only fused convolution ({@link Backend#conv2dBiasActivation}) against the unfused
 * ops it replaces, in float64: the direct (packed GEMM) path and, for 3×3 stride-1 layers with
 * enough 4×4 tiles, the Winograd path, and for small outputs with many channels the pixel-major
 * path; with and without residual and ReLU, on sizes that do not divide into tiles or panels. Each
 * weight is used twice, so a cached preparation is exercised.
 */
class FusedConvTest {
  @ParameterizedTest(name = "[{0},{1},{2},{3}] -> {4}, k{5} s{6} p{7}, residual {8}, relu {9}")
  @CsvSource({
    // Winograd: 3×3, stride 1, pad 1, more than 48 tiles over the batch
    "3, 6, 17, 19, 8, 3, 1, 1, true, true",
    "1, 16, 30, 30, 24, 3, 1, 1, false, true",
    "2, 9, 28, 28, 13, 3, 1, 1, true, false",
    "14, 5, 7, 7, 11, 3, 1, 1, true, true",
    "13, 3, 7, 7, 5, 3, 1, 1, false, false",
    // ... split by output channels: weights over twice the tiles' input, 3 panels (layer4 at 32)
    "32, 6, 7, 7, 260, 3, 1, 1, true, true",
    // Winograd with tiles by rows: a row of 14 to 16 tiles a vector (layer1 at 224), or 30 in two
    "1, 3, 56, 56, 8, 3, 1, 1, true, true",
    "2, 5, 54, 55, 7, 3, 1, 1, false, true",
    "1, 4, 62, 64, 9, 3, 1, 1, true, false",
    "1, 3, 21, 120, 5, 3, 1, 1, true, true",
    // ... and two rows of 7 or 8 tiles a vector (layer2 at 224), rows pairing across images
    "2, 5, 28, 28, 9, 3, 1, 1, true, true",
    "1, 4, 27, 30, 6, 3, 1, 1, false, true",
    "3, 3, 26, 25, 10, 3, 1, 1, true, false",
    // ... four rows of 4 tiles a vector (layer3 at 224), rows past the batch, 3 panels. (Layer2's
    // rows at 128 channels run the two-row code above; with 70 channels the error vs float64 is
    // 1.6e-6, too near the bound to tell a bug from rounding.)
    "5, 6, 14, 14, 20, 3, 1, 1, true, true",
    "7, 4, 13, 15, 9, 3, 1, 1, false, true",
    "4, 3, 16, 13, 10, 3, 1, 1, true, false",
    "8, 24, 14, 14, 80, 3, 1, 1, true, true",
    // tile-major Winograd: 16 to 48 tiles, output channels split in vectors across panels
    "1, 24, 14, 14, 40, 3, 1, 1, true, true",
    "2, 7, 13, 11, 70, 3, 1, 1, false, true",
    "3, 5, 9, 10, 100, 3, 1, 1, true, false",
    "4, 9, 5, 6, 17, 3, 1, 1, false, false",
    "3, 16, 14, 14, 33, 3, 1, 1, true, true",
    // ... layer3's 16 vectors of channels at batch 1, in runs of 9 and 7 on 2 threads
    "1, 20, 14, 14, 256, 3, 1, 1, true, true",
    // direct: too few tiles, other kernels and strides
    "1, 4, 7, 7, 6, 3, 1, 1, true, true",
    "2, 3, 23, 21, 10, 7, 2, 3, false, true",
    "3, 8, 14, 14, 16, 1, 2, 0, false, false",
    "2, 8, 15, 15, 9, 3, 2, 1, true, true",
    // direct from phase planes: many taps a plane value, output rows two vectors wide or more
    "1, 3, 70, 66, 8, 7, 2, 3, true, true", // one image: planes built over the workers
    "3, 3, 66, 70, 8, 7, 2, 3, false, true", // an image a worker
    "2, 4, 36, 40, 6, 5, 1, 2, true, false",
    // ... at batch > 1 also where rows are one vector wide: a vector across two rows is blended
    "3, 4, 40, 38, 6, 3, 2, 1, true, true", // 3×3 stride 2, 20- and 19-wide rows
    "2, 8, 36, 34, 10, 1, 2, 0, false, false", // 1×1 stride 2: one plane of four
    // pixel-major: few pixels, many output channels (layer4 at batch 1)
    "1, 16, 7, 7, 96, 3, 1, 1, true, true",
    "2, 12, 13, 13, 130, 3, 2, 1, false, true",
    "1, 32, 13, 13, 96, 1, 2, 0, true, false",
    // ... with more than one block of 1024 product rows (120 or 300 channels × 9 taps)
    "1, 120, 7, 7, 70, 3, 1, 1, true, true",
    "1, 300, 5, 5, 300, 3, 1, 1, false, true"
  })
  void matchesUnfusedOps(
      int n, int c, int h, int w, int oc, int k, int s, int p, boolean residual, boolean relu) {
    Backend be = Backends.forDevice(Backends.defaultDevice()); // the GPU in the GPU check
    Rng rng = new Rng(31L * n + c + h + oc);
    Tensor x = Tensor.randn(rng, n, c, h, w);
    Tensor weight = Tensor.randn(rng, oc, c, k, k);
    Tensor bias = Tensor.randn(rng, oc);
    ConvGeometry g = new ConvGeometry(n, c, h, w, oc, k, k, s, s, p, p);
    Tensor res = residual ? Tensor.randn(rng, g.outShape()) : null;
    double[] want =
        reference(
            g,
            x.toFloatArray(),
            weight.toFloatArray(),
            bias.toFloatArray(),
            res == null ? null : res.toFloatArray(),
            relu);
    for (int round = 0; round < 2; round++) {
      Tensor y = Tensor.zeros(g.outShape());
      be.conv2dBiasActivation(g, x, weight, bias, res, relu, y);
      double err = GradCheck.relError(y.toFloatArray(), want);
      assertTrue(err < 2e-6, "relative error " + err + " on round " + round);
    }
  }

  /**
   * An input that is a view inside a larger array (as the network's buffers are): the Winograd
   * transforms by rows load whole vectors around each row and mask off what lies outside the image,
   * so the values before and after the view (here NaN) must never reach the output.
   */
  @ParameterizedTest(name = "[{0},{1},{2},{2}] -> {3}")
  @CsvSource({
    "2, 3, 56, 5", // a row of 14 tiles a vector
    "3, 4, 28, 6", // two rows of 7
    "5, 3, 14, 7", // four rows of 4
    "2, 5, 30, 4" // a row of 8 tiles: half a vector empty on AVX-512, a vector on AVX2
  })
  void ignoresWhatLiesAroundAnInputView(int n, int c, int size, int oc) {
    Backend be = Backends.forDevice(Backends.defaultDevice());
    Rng rng = new Rng(n + c + size);
    Tensor around = Tensor.full(Float.NaN, n + 2, c, size, size);
    Tensor x = around.narrowRows(1, n + 1);
    Tensor inside = Tensor.randn(rng, n, c, size, size);
    Tensor weight = Tensor.randn(rng, oc, c, 3, 3);
    Tensor bias = Tensor.randn(rng, oc);
    x.copyFrom(inside);
    ConvGeometry g = new ConvGeometry(n, c, size, size, oc, 3, 3, 1, 1, 1, 1);
    double[] want =
        reference(
            g, inside.toFloatArray(), weight.toFloatArray(), bias.toFloatArray(), null, false);
    Tensor y = Tensor.zeros(g.outShape());
    be.conv2dBiasActivation(g, x, weight, bias, null, false, y);
    double err = GradCheck.relError(y.toFloatArray(), want);
    assertTrue(err < 2e-6, "relative error " + err);
  }

  /** The path choice reads all six window sizes: one that differs in a single one must not pass. */
  @Test
  void isSquareComparesBothDirections() {
    assertTrue(new ConvGeometry(1, 2, 9, 9, 3, 3, 3, 1, 1, 1, 1).isSquare(3, 1, 1));
    assertFalse(new ConvGeometry(1, 2, 9, 9, 3, 3, 1, 1, 1, 1, 1).isSquare(3, 1, 1));
    assertFalse(new ConvGeometry(1, 2, 9, 9, 3, 3, 3, 1, 2, 1, 1).isSquare(3, 1, 1));
    assertFalse(new ConvGeometry(1, 2, 9, 9, 3, 3, 3, 1, 1, 1, 0).isSquare(3, 1, 1));
    assertFalse(new ConvGeometry(1, 2, 9, 9, 3, 3, 3, 1, 1, 1, 1).isSquare(1, 1, 0));
  }

  /** The convolution in float64, with bias, optional residual and ReLU. */
  static double[] reference(
      ConvGeometry g, float[] x, float[] w, float[] b, float[] res, boolean relu) {
    int oh = g.outHeight();
    int ow = g.outWidth();
    double[] y = new double[g.batch() * g.outChannels() * oh * ow];
    int i = 0;
    for (int n = 0; n < g.batch(); n++) {
      for (int o = 0; o < g.outChannels(); o++) {
        for (int yy = 0; yy < oh; yy++) {
          for (int xx = 0; xx < ow; xx++, i++) {
            double acc = b[o];
            for (int c = 0; c < g.inChannels(); c++) {
              for (int kh = 0; kh < g.kernelH(); kh++) {
                for (int kw = 0; kw < g.kernelW(); kw++) {
                  int iy = yy * g.strideH() - g.padH() + kh;
                  int ix = xx * g.strideW() - g.padW() + kw;
                  if (iy >= 0 && iy < g.inHeight() && ix >= 0 && ix < g.inWidth()) {
                    acc +=
                        (double)
                                x[((n * g.inChannels() + c) * g.inHeight() + iy) * g.inWidth() + ix]
                            * w[((o * g.inChannels() + c) * g.kernelH() + kh) * g.kernelW() + kw];
                  }
                }
              }
            }
            if (res != null) {
              acc += res[i];
            }
            y[i] = relu ? Math.max(acc, 0) : acc;
          }
        }
      }
    }
    return y;
  }
}
