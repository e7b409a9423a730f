package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.Function;

/**
 * Checks an op twice: its float32 forward against a float64 reference, and its backward (the
 * gradient of {@code sum(out * r)} for a random {@code r}) against central finite differences of
 * that reference, element by element.
 */
public final class GradCheck {
  private GradCheck() {}

  /** One input: a shape, values (float-exact), and whether its gradient is checked. */
  public record Input(int[] shape, double[] values, boolean wantsGrad) {
    /** A random input of {@code shape} with values in about [-2, 2], drawn from {@code rng}. */
    public static Input random(Rng rng, boolean wantsGrad, int... shape) {
      double[] v = new double[(int) Shape.numel(shape)];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) rng.nextGaussian();
      }
      return new Input(shape, v, wantsGrad);
    }

    Tensor toTensor() {
      float[] f = new float[values.length];
      for (int i = 0; i < f.length; i++) {
        f[i] = (float) values[i];
      }
      Tensor t = Tensor.of(f, shape);
      return wantsGrad ? t.requiresGrad(true) : t;
    }
  }

  /** ‖a − b‖ / ‖b‖ (or ‖a − b‖ when b is 0). */
  public static double relError(float[] a, double[] b) {
    assertEquals(b.length, a.length, "length");
    double num = 0;
    double den = 0;
    for (int i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) * (a[i] - b[i]);
      den += b[i] * b[i];
    }
    return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  }

  /** Float values as doubles. */
  public static double[] toDouble(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  /**
   * Runs the check; {@code op} builds the float32 result from tensors, {@code ref} the float64 one
   * from the same values.
   */
  public static void check(
      String name,
      Rng rng,
      Input[] inputs,
      Function<Tensor[], Tensor> op,
      Function<double[][], double[]> ref,
      double forwardTol,
      double gradTol) {
    Tensor[] tensors = new Tensor[inputs.length];
    double[][] values = new double[inputs.length][];
    for (int i = 0; i < inputs.length; i++) {
      tensors[i] = inputs[i].toTensor();
      values[i] = inputs[i].values().clone();
    }
    Tensor out = op.apply(tensors);
    double[] expected = ref.apply(values);
    double fwd = relError(out.toFloatArray(), expected);
    assertTrue(fwd < forwardTol, name + ": forward relative error " + fwd);

    double[] r = new double[expected.length];
    float[] rf = new float[r.length];
    for (int i = 0; i < r.length; i++) {
      rf[i] = (float) rng.nextGaussian();
      r[i] = rf[i];
    }
    out.backward(Tensor.of(rf, out.shape()));

    for (int i = 0; i < inputs.length; i++) {
      if (!inputs[i].wantsGrad()) {
        assertNull(tensors[i].grad(), name + ": input " + i + " must get no gradient");
        continue;
      }
      assertNotNull(tensors[i].grad(), name + ": input " + i + " got no gradient");
      double[] numeric = new double[values[i].length];
      double h = 1e-6;
      for (int k = 0; k < numeric.length; k++) {
        double keep = values[i][k];
        values[i][k] = keep + h;
        double plus = dot(ref.apply(values), r);
        values[i][k] = keep - h;
        double minus = dot(ref.apply(values), r);
        values[i][k] = keep;
        numeric[k] = (plus - minus) / (2 * h);
      }
      double err = relError(tensors[i].grad().toFloatArray(), numeric);
      assertTrue(err < gradTol, name + ": gradient of input " + i + " relative error " + err);
    }
  }

  private static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }
}
