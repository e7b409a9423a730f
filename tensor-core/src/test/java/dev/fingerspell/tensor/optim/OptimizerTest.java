package dev.fingerspell.tensor.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.nn.Linear;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class OptimizerTest {
  @Test
  void parametersWithoutGradientAreSkippedAndZeroGradClears() {
    Tensor a = Tensor.ones(2).requiresGrad(true);
    Tensor b = Tensor.ones(2).requiresGrad(true);
    Sgd sgd = new Sgd(List.of(a, b), 0.5, 0.9, 0, 0, false);
    a.setGrad(Tensor.ones(2));
    sgd.step();
    assertArrayEquals(new float[] {0.5f, 0.5f}, a.toFloatArray());
    assertArrayEquals(new float[] {1, 1}, b.toFloatArray());
    sgd.zeroGrad();
    assertNull(a.grad());
  }

  @Test
  void invalidSettingsAreRejected() {
    Tensor p = Tensor.ones(1).requiresGrad(true);
    assertThrows(IllegalArgumentException.class, () -> new Sgd(List.of(p), -1));
    assertThrows(IllegalArgumentException.class, () -> new Sgd(List.of(p), 0.1, 0, 0, 0, true));
    assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(p), 0.1, 1.0, 0.9, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> new Sgd(List.of(Tensor.ones(1)), 0.1));
    assertThrows(IllegalArgumentException.class, () -> LrSchedule.cosine(0.1, 0, 0));
  }

  @Test
  void schedulesSetTheRate() {
    Tensor p = Tensor.ones(1).requiresGrad(true);
    Sgd sgd = new Sgd(List.of(p), 1);
    LrSchedule.step(0.1, 2, 0.1).apply(sgd, 3);
    assertEquals(0.01, sgd.lr(), 1e-15);
    assertEquals(0.0, LrSchedule.cosine(0.1, 4, 0).lr(4), 1e-15);
  }

  /** A linear classifier on separable clusters must fit them with either optimizer. */
  @Test
  void aLinearHeadLearnsSeparableClasses() {
    trains(params -> new Sgd(params, 0.5, 0.9, 0, 1e-4, true));
    trains(params -> new AdamW(params, 0.05));
  }

  private static void trains(Function<List<Tensor>, Optimizer> make) {
    Rng rng = new Rng(8);
    int n = 90;
    int classes = 3;
    float[] x = new float[n * 4];
    long[] y = new long[n];
    for (int i = 0; i < n; i++) {
      y[i] = i % classes;
      for (int j = 0; j < 4; j++) {
        x[i * 4 + j] = (float) (rng.nextGaussian() * 0.3 + (j == y[i] ? 2 : 0));
      }
    }
    Tensor features = Tensor.of(x, n, 4);
    Tensor labels = Tensor.ofLongs(y, n);
    Linear head = new Linear(4, classes, true, rng);
    Optimizer opt = make.apply(head.trainableParameters());
    float first = 0;
    float last = 0;
    for (int step = 0; step < 60; step++) {
      opt.zeroGrad();
      Tensor loss = Ops.crossEntropy(head.forward(features), labels, 0f);
      loss.backward();
      opt.step();
      if (step == 0) {
        first = loss.item();
      }
      last = loss.item();
    }
    assertTrue(last < 0.1f * first, "loss " + first + " -> " + last);
  }

  /**
   * An optimizer rebuilt from another's saved state (momentum, or AdamW's moments and step count)
   * steps exactly as the first one goes on stepping: what resuming a run relies on.
   */
  @Test
  void anOptimizerRestoredFromItsStateStepsAsTheOriginalGoesOn() {
    List<Function<List<Tensor>, Optimizer>> makers =
        List.of(
            params -> new Sgd(params, 0.1, 0.9, 0, 1e-4, true),
            params -> new Sgd(params, 0.1, 0.9, 0.1, 0, false),
            params -> new AdamW(params, 0.01));
    for (Function<List<Tensor>, Optimizer> make : makers) {
      Rng rng = new Rng(3);
      Tensor x = Tensor.randn(rng, 6, 4);
      Linear original = new Linear(4, 3, true, rng);
      Optimizer a = make.apply(original.trainableParameters());
      assertTrue(a.state(0).isEmpty(), "no state before the first step");
      for (int step = 0; step < 3; step++) {
        step(original, a, x);
      }
      Linear copy = new Linear(4, 3, true, new Rng(99));
      for (int i = 0; i < 2; i++) {
        copy.parameters().get(i).copyFrom(original.parameters().get(i));
      }
      Optimizer b = make.apply(copy.trainableParameters());
      for (int i = 0; i < 2; i++) {
        java.util.Map<String, Tensor> saved = new java.util.HashMap<>();
        a.state(i).forEach((name, t) -> saved.put(name, t.copy()));
        b.loadState(i, saved);
      }
      for (int step = 0; step < 3; step++) {
        step(original, a, x);
        step(copy, b, x);
      }
      for (int i = 0; i < 2; i++) {
        assertArrayEquals(
            original.parameters().get(i).toFloatArray(),
            copy.parameters().get(i).toFloatArray(),
            a.getClass().getSimpleName());
      }
      assertThrows(
          IllegalArgumentException.class,
          () -> b.loadState(0, java.util.Map.of("nonsense", Tensor.zeros(3, 4))));
      String slot = a instanceof AdamW ? "exp_avg" : "momentum_buffer";
      java.util.Map<String, Tensor> wrongShape = new java.util.HashMap<>(a.state(0));
      wrongShape.put(slot, Tensor.zeros(4, 3, 1));
      assertThrows(IllegalArgumentException.class, () -> b.loadState(0, wrongShape));
    }
  }

  /** One step on the cross-entropy of {@code x}'s rows against classes 0, 1, 2, 0, ... */
  private static void step(Linear model, Optimizer opt, Tensor x) {
    opt.zeroGrad();
    long[] y = new long[x.size(0)];
    for (int i = 0; i < y.length; i++) {
      y[i] = i % 3;
    }
    Ops.crossEntropy(model.forward(x), Tensor.ofLongs(y, y.length), 0f).backward();
    opt.step();
  }
}
