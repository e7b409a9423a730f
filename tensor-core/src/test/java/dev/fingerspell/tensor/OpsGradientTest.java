package dev.fingerspell.tensor;

import static dev.fingerspell.tensor.GradCheck.check;

import dev.fingerspell.tensor.GradCheck.Input;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every op, forward and backward, against float64 references and finite differences. */
class OpsGradientTest {
  private static final double FWD = 1e-5;
  private static final double GRAD = 1e-4;

  static Stream<Arguments> convShapes() {
    List<Arguments> cases = new ArrayList<>();
    // n, c, h, w, oc, k, stride, pad, bias
    cases.add(Arguments.of(2, 3, 7, 7, 4, 3, 1, 1, true));
    cases.add(Arguments.of(1, 2, 9, 8, 3, 7, 2, 3, false)); // stem-like, batch 1, odd
    cases.add(Arguments.of(2, 4, 5, 5, 3, 1, 2, 0, false)); // downsample
    cases.add(Arguments.of(3, 2, 6, 5, 2, 3, 2, 1, true)); // stride 2, padding, odd width
    cases.add(Arguments.of(1, 1, 3, 3, 1, 3, 1, 0, true)); // a single output pixel
    cases.add(Arguments.of(2, 5, 4, 3, 3, 1, 1, 0, true)); // pointwise, images grouped
    cases.add(Arguments.of(1, 3, 4, 4, 2, 1, 1, 0, false)); // pointwise, the image is the matrix
    cases.add(Arguments.of(2, 2, 17, 17, 2, 3, 1, 1, true)); // large output: one image per group
    Rng rng = new Rng(7);
    for (int i = 0; i < 4; i++) { // random shapes, reproducible
      int k = 1 + 2 * rng.nextInt(3);
      int stride = 1 + rng.nextInt(2);
      int pad = rng.nextInt(k / 2 + 1);
      int h = k + rng.nextInt(6);
      int w = k + rng.nextInt(6);
      cases.add(
          Arguments.of(
              1 + rng.nextInt(3),
              1 + rng.nextInt(4),
              h,
              w,
              1 + rng.nextInt(5),
              k,
              stride,
              pad,
              rng.nextInt(2) == 0));
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "conv2d n{0} c{1} {2}x{3} oc{4} k{5} s{6} p{7} bias {8}")
  @MethodSource("convShapes")
  void conv2d(int n, int c, int h, int w, int oc, int k, int stride, int pad, boolean bias) {
    Rng rng = new Rng(n * 1000L + c * 100L + h * 10L + w + k);
    int[] xs = {n, c, h, w};
    int[] ws = {oc, c, k, k};
    Input[] in =
        bias
            ? new Input[] {
              Input.random(rng, true, xs), Input.random(rng, true, ws), Input.random(rng, true, oc)
            }
            : new Input[] {Input.random(rng, true, xs), Input.random(rng, true, ws)};
    check(
        "conv2d",
        rng,
        in,
        t -> Ops.conv2d(t[0], t[1], bias ? t[2] : null, stride, pad),
        v -> Reference.conv2d(v[0], xs, v[1], ws, bias ? v[2] : null, stride, pad),
        FWD,
        GRAD);
  }

  @Test
  void conv2dFrozenWeightGivesInputGradientOnly() {
    Rng rng = new Rng(3);
    int[] xs = {2, 3, 5, 5};
    int[] ws = {2, 3, 3, 3};
    check(
        "conv2d frozen weight",
        rng,
        new Input[] {Input.random(rng, true, xs), Input.random(rng, false, ws)},
        t -> Ops.conv2d(t[0], t[1], null, 1, 1),
        v -> Reference.conv2d(v[0], xs, v[1], ws, null, 1, 1),
        FWD,
        GRAD);
  }

  static Stream<Arguments> bnShapes() {
    return Stream.of(
        Arguments.of(new int[] {4, 3, 5, 5}),
        Arguments.of(new int[] {1, 2, 3, 3}), // batch 1
        Arguments.of(new int[] {6, 4}), // [N, C]
        Arguments.of(new int[] {2, 5, 3, 1}));
  }

  @ParameterizedTest(name = "batch_norm training {0}")
  @MethodSource("bnShapes")
  void batchNormTraining(int[] shape) {
    Rng rng = new Rng(Arrays.hashCode(shape));
    int n = shape[0];
    int c = shape[1];
    int hw = (int) (Shape.numel(shape) / (n * c));
    Input x = Input.random(rng, true, shape);
    Input gamma = positive(rng, c);
    Input beta = Input.random(rng, true, c);
    check(
        "batch_norm train",
        rng,
        new Input[] {x, gamma, beta},
        t -> Ops.batchNorm(t[0], t[1], t[2], null, null, true, 0.1f, 1e-5f),
        v -> Reference.batchNormTrain(v[0], n, c, hw, v[1], v[2], 1e-5),
        FWD,
        GRAD);
  }

  @ParameterizedTest(name = "batch_norm evaluation {0}")
  @MethodSource("bnShapes")
  void batchNormEvaluation(int[] shape) {
    Rng rng = new Rng(Arrays.hashCode(shape) + 1);
    int n = shape[0];
    int c = shape[1];
    int hw = (int) (Shape.numel(shape) / (n * c));
    double[] mean = Input.random(rng, false, c).values();
    double[] var = positive(rng, c).values();
    Tensor rm = Tensor.of(toFloat(mean), c);
    Tensor rv = Tensor.of(toFloat(var), c);
    check(
        "batch_norm eval",
        rng,
        new Input[] {Input.random(rng, true, shape), positive(rng, c), Input.random(rng, true, c)},
        t -> Ops.batchNorm(t[0], t[1], t[2], rm, rv, false, 0.1f, 1e-5f),
        v -> Reference.batchNormEval(v[0], n, c, hw, v[1], v[2], mean, var, 1e-5),
        FWD,
        GRAD);
  }

  static Stream<Arguments> poolShapes() {
    return Stream.of(
        Arguments.of(new int[] {2, 3, 9, 9}, 3, 2, 1),
        Arguments.of(new int[] {1, 2, 6, 5}, 2, 2, 0),
        Arguments.of(new int[] {1, 1, 5, 5}, 3, 1, 1),
        Arguments.of(new int[] {3, 2, 4, 7}, 3, 2, 0));
  }

  @ParameterizedTest(name = "max_pool2d {0} k{1} s{2} p{3}")
  @MethodSource("poolShapes")
  void maxPool2d(int[] shape, int k, int stride, int pad) {
    Rng rng = new Rng(Arrays.hashCode(shape) + k);
    check(
        "max_pool2d",
        rng,
        new Input[] {Input.random(rng, true, shape)},
        t -> Ops.maxPool2d(t[0], k, stride, pad),
        v -> Reference.maxPool2d(v[0], shape, k, stride, pad),
        FWD,
        GRAD);
  }

  @Test
  void globalAvgPool() {
    for (int[] shape : new int[][] {{2, 3, 4, 5}, {1, 1, 1, 1}, {3, 7, 2, 2}}) {
      Rng rng = new Rng(Arrays.hashCode(shape));
      int nc = shape[0] * shape[1];
      int hw = shape[2] * shape[3];
      check(
          "global_avg_pool",
          rng,
          new Input[] {Input.random(rng, true, shape)},
          t -> Ops.globalAvgPool(t[0]),
          v -> Reference.globalAvgPool(v[0], nc, hw),
          FWD,
          GRAD);
    }
  }

  @Test
  void matmul() {
    // sizes around the kernel's 4-row and 2-vector tiles, and their tails
    int[][] mkn = {{3, 4, 5}, {1, 33, 37}, {17, 9, 40}, {8, 3, 64}, {5, 1, 1}};
    for (int[] s : mkn) {
      Rng rng = new Rng(Arrays.hashCode(s));
      check(
          "matmul " + Arrays.toString(s),
          rng,
          new Input[] {Input.random(rng, true, s[0], s[1]), Input.random(rng, true, s[1], s[2])},
          t -> Ops.matmul(t[0], t[1]),
          v -> Reference.matmul(v[0], v[1], s[0], s[1], s[2]),
          FWD,
          GRAD);
    }
  }

  @Test
  void linear() {
    Rng rng = new Rng(11);
    check(
        "linear with bias",
        rng,
        new Input[] {
          Input.random(rng, true, 3, 5), Input.random(rng, true, 4, 5), Input.random(rng, true, 4)
        },
        t -> Ops.linear(t[0], t[1], t[2]),
        v -> Reference.linear(v[0], v[1], v[2], 3, 5, 4),
        FWD,
        GRAD);
    check(
        "linear batch 1 no bias",
        rng,
        new Input[] {Input.random(rng, true, 1, 7), Input.random(rng, true, 2, 7)},
        t -> Ops.linear(t[0], t[1], null),
        v -> Reference.linear(v[0], v[1], null, 1, 7, 2),
        FWD,
        GRAD);
    check(
        "linear frozen input (a head on cached features)",
        rng,
        new Input[] {
          Input.random(rng, false, 6, 5),
          Input.random(rng, true, 29, 5),
          Input.random(rng, true, 29)
        },
        t -> Ops.linear(t[0], t[1], t[2]),
        v -> Reference.linear(v[0], v[1], v[2], 6, 5, 29),
        FWD,
        GRAD);
  }

  static Stream<Arguments> broadcastShapes() {
    return Stream.of(
        Arguments.of(new int[] {2, 3}, new int[] {3}),
        Arguments.of(new int[] {2, 3, 4, 5}, new int[] {3, 1, 1}),
        Arguments.of(new int[] {4}, new int[] {2, 4}),
        Arguments.of(new int[] {3, 3}, new int[] {3, 3}),
        Arguments.of(new int[] {}, new int[] {2, 2}),
        Arguments.of(new int[] {2, 1, 3}, new int[] {1, 4, 1}));
  }

  @ParameterizedTest(name = "add {0} + {1}")
  @MethodSource("broadcastShapes")
  void addBroadcast(int[] a, int[] b) {
    Rng rng = new Rng(Arrays.hashCode(a) * 31L + Arrays.hashCode(b));
    check(
        "add",
        rng,
        new Input[] {Input.random(rng, true, a), Input.random(rng, true, b)},
        t -> Ops.add(t[0], t[1]),
        v -> Reference.add(v[0], a, v[1], b),
        FWD,
        GRAD);
  }

  @Test
  void elementwiseAndReductions() {
    Rng rng = new Rng(5);
    int[] s = {3, 5, 7};
    check(
        "mul",
        rng,
        new Input[] {Input.random(rng, true, s)},
        t -> Ops.mul(t[0], -2.5f),
        v -> Arrays.stream(v[0]).map(x -> x * -2.5).toArray(),
        FWD,
        GRAD);
    check(
        "relu",
        rng,
        new Input[] {Input.random(rng, true, s)},
        t -> Ops.relu(t[0]),
        v -> Arrays.stream(v[0]).map(x -> Math.max(x, 0)).toArray(),
        FWD,
        GRAD);
    check(
        "sum",
        rng,
        new Input[] {Input.random(rng, true, s)},
        t -> Ops.sum(t[0]),
        v -> new double[] {Arrays.stream(v[0]).sum()},
        FWD,
        GRAD);
    check(
        "mean",
        rng,
        new Input[] {Input.random(rng, true, s)},
        t -> Ops.mean(t[0]),
        v -> new double[] {Arrays.stream(v[0]).average().orElseThrow()},
        FWD,
        GRAD);
    check(
        "reshape and flatten",
        rng,
        new Input[] {Input.random(rng, true, 2, 3, 2, 2), Input.random(rng, true, 3, 12)},
        t -> Ops.linear(t[0].reshape(2, 3, 4).flatten(1), t[1], null),
        v -> Reference.linear(v[0], v[1], null, 2, 12, 3),
        FWD,
        GRAD);
  }

  @Test
  void softmaxFamily() {
    Rng rng = new Rng(9);
    for (int[] s : new int[][] {{4, 7}, {1, 29}, {3, 1}}) {
      int rows = s[0];
      int cols = s[1];
      check(
          "softmax " + Arrays.toString(s),
          rng,
          new Input[] {Input.random(rng, true, s)},
          t -> Ops.softmax(t[0]),
          v -> Reference.softmax(v[0], rows, cols),
          FWD,
          GRAD);
      check(
          "log_softmax " + Arrays.toString(s),
          rng,
          new Input[] {Input.random(rng, true, s)},
          t -> Ops.logSoftmax(t[0]),
          v -> Reference.logSoftmax(v[0], rows, cols),
          FWD,
          GRAD);
    }
  }

  @Test
  void crossEntropy() {
    Rng rng = new Rng(13);
    for (float smoothing : new float[] {0f, 0.1f, 1f}) {
      for (int[] s : new int[][] {{5, 7}, {1, 29}, {16, 29}}) {
        long[] labels = new long[s[0]];
        for (int i = 0; i < labels.length; i++) {
          labels[i] = rng.nextInt(s[1]);
        }
        Tensor lab = Tensor.ofLongs(labels, s[0]);
        check(
            "cross_entropy " + Arrays.toString(s) + " smoothing " + smoothing,
            rng,
            new Input[] {Input.random(rng, true, s)},
            t -> Ops.crossEntropy(t[0], lab, smoothing),
            v -> new double[] {Reference.crossEntropy(v[0], labels, s[0], s[1], smoothing)},
            FWD,
            GRAD);
      }
    }
  }

  private static Input positive(Rng rng, int c) {
    double[] v = new double[c];
    for (int i = 0; i < c; i++) {
      v[i] = (float) (0.5 + rng.nextDouble());
    }
    return new Input(new int[] {c}, v, true);
  }

  private static float[] toFloat(double[] d) {
    float[] f = new float[d.length];
    for (int i = 0; i < d.length; i++) {
      f[i] = (float) d[i];
    }
    return f;
  }
}
