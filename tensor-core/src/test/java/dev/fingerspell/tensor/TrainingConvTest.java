package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The training convolution's forward, input gradient and weight gradient against float64, on the
 * shapes where the CPU computes them as Winograd (3×3, stride 1, pad 1, more than 48 tiles over the
 * batch; weights transformed at every call) and, for contrast, where it does not. Each weight is
 * changed between two calls: a cached transform would give the first weight's answer the second
 * time.
 */
class TrainingConvTest {
  @ParameterizedTest(name = "[{0},{1},{2},{3}] -> {4}, k{5} s{6} p{7}")
  @CsvSource({
    "3, 6, 17, 19, 8, 3, 1, 1",
    "2, 9, 28, 28, 13, 3, 1, 1",
    "1, 16, 30, 30, 24, 3, 1, 1",
    "1, 3, 56, 56, 8, 3, 1, 1",
    "14, 5, 7, 7, 11, 3, 1, 1",
    "6, 2, 56, 56, 3, 3, 1, 1", // 1,176 tiles, one chunk of the weight gradient
    "3, 60, 56, 56, 62, 3, 1, 1", // 588 tiles: two chunks, a worker each (small dU)
    "25, 81, 14, 14, 73, 3, 1, 1", // 400 tiles: two chunks, shared by the workers (large dU)
    "4, 50, 15, 15, 20, 3, 1, 1", // channels past a panel, a sliver and a vector
    "1, 4, 7, 7, 6, 3, 1, 1",
    "2, 8, 15, 15, 9, 3, 2, 1"
  })
  void forwardAndGradientsMatchFloat64(int n, int c, int h, int w, int oc, int k, int s, int p) {
    Backend be = Backends.forDevice(Backends.defaultDevice());
    Rng rng = new Rng(17L * n + c + h + oc);
    ConvGeometry g = new ConvGeometry(n, c, h, w, oc, k, k, s, s, p, p);
    Tensor x = Tensor.randn(rng, n, c, h, w);
    Tensor dy = Tensor.randn(rng, g.outShape()); // changed between steps too
    Tensor bias = Tensor.randn(rng, oc);
    Tensor weight = Tensor.randn(rng, oc, c, k, k);
    for (int step = 0; step < 2; step++) {
      float[] wv = weight.toFloatArray();
      Tensor y = Tensor.zeros(g.outShape());
      be.conv2dForward(g, x, weight, bias, y);
      double[] want =
          FusedConvTest.reference(g, x.toFloatArray(), wv, bias.toFloatArray(), null, false);
      double err = GradCheck.relError(y.toFloatArray(), want);
      assertTrue(err < 2e-6, "forward: relative error " + err + " at step " + step);

      Tensor dx = Tensor.randn(rng, n, c, h, w); // overwritten, not added to
      be.conv2dBackwardData(g, dy, weight, dx);
      double[][] grads = gradients(g, x.toFloatArray(), wv, dy.toFloatArray());
      err = GradCheck.relError(dx.toFloatArray(), grads[0]);
      assertTrue(err < 2e-6, "input gradient: relative error " + err + " at step " + step);

      Tensor dw = Tensor.randn(rng, oc, c, k, k); // overwritten, not added to
      Tensor db = Tensor.randn(rng, oc);
      be.conv2dBackwardFilter(g, x, dy, dw, db);
      err = GradCheck.relError(dw.toFloatArray(), grads[1]);
      assertTrue(err < 1e-5, "weight gradient: relative error " + err + " at step " + step);
      err = GradCheck.relError(db.toFloatArray(), grads[2]);
      assertTrue(err < 1e-5, "bias gradient: relative error " + err + " at step " + step);

      weight = Tensor.randn(rng, oc, c, k, k);
      dy = Tensor.randn(rng, g.outShape());
    }
  }

  /**
   * The gradients in float64, {@code {dx, dw, db}}: for every output and every tap that read an
   * input value, {@code dx += dy · w} and {@code dw += dy · x}; {@code db = Σ dy}.
   */
  private static double[][] gradients(ConvGeometry g, float[] x, float[] w, float[] dy) {
    int oh = g.outHeight();
    int ow = g.outWidth();
    int ic = g.inChannels();
    int oc = g.outChannels();
    double[] dx = new double[g.batch() * ic * g.inHeight() * g.inWidth()];
    double[] dw = new double[oc * ic * g.kernelH() * g.kernelW()];
    double[] db = new double[oc];
    for (int n = 0; n < g.batch(); n++) {
      for (int o = 0; o < oc; o++) {
        for (int yy = 0; yy < oh; yy++) {
          for (int xx = 0; xx < ow; xx++) {
            double d = dy[((n * oc + o) * oh + yy) * ow + xx];
            db[o] += d;
            for (int c = 0; c < ic; c++) {
              for (int kh = 0; kh < g.kernelH(); kh++) {
                for (int kw = 0; kw < g.kernelW(); kw++) {
                  int iy = yy * g.strideH() - g.padH() + kh;
                  int ix = xx * g.strideW() - g.padW() + kw;
                  if (iy >= 0 && iy < g.inHeight() && ix >= 0 && ix < g.inWidth()) {
                    int in = ((n * ic + c) * g.inHeight() + iy) * g.inWidth() + ix;
                    int tap = ((o * ic + c) * g.kernelH() + kh) * g.kernelW() + kw;
                    dx[in] += d * w[tap];
                    dw[tap] += d * x[in];
                  }
                }
              }
            }
          }
        }
      }
    }
    return new double[][] {dx, dw, db};
  }
}
