package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.nn.BatchNorm2d;
import dev.fingerspell.tensor.nn.Conv2d;
import dev.fingerspell.tensor.nn.GlobalAvgPool;
import dev.fingerspell.tensor.nn.Linear;
import dev.fingerspell.tensor.nn.MaxPool2d;
import dev.fingerspell.tensor.nn.ReLU;
import dev.fingerspell.tensor.nn.Sequential;
import org.junit.jupiter.api.Test;

class AutogradTest {

  @Test
  void frozenBackboneRecordsNoGraph() {
    Rng rng = new Rng(1);
    Sequential backbone =
        new Sequential(
            new Conv2d(3, 4, 3, 2, 1, false, rng),
            new BatchNorm2d(4),
            new ReLU(),
            new MaxPool2d(3, 2, 1),
            new GlobalAvgPool());
    backbone.requiresGrad(false).eval();
    Linear head = new Linear(4, 29, true, rng);

    Tensor images = Tensor.randn(rng, 2, 3, 16, 16);
    Tensor features = backbone.forward(images);
    assertNull(features.gradFn(), "a frozen backbone must not record a graph");
    assertFalse(features.requiresGrad());

    Tensor logits = head.forward(features);
    Tensor loss = Ops.crossEntropy(logits, Tensor.ofLongs(new long[] {3, 28}, 2), 0f);
    loss.backward();
    // Only the head's parameters get gradients; the backbone's stay untouched.
    for (Tensor p : backbone.parameters()) {
      assertNull(p.grad());
    }
    for (Tensor p : head.parameters()) {
      assertTrue(p.grad() != null);
    }
  }

  @Test
  void noGradScopeRecordsNothingAndRestores() {
    Tensor w = Tensor.ones(3).requiresGrad(true);
    try (GradMode g = GradMode.noGrad()) {
      assertFalse(GradMode.isEnabled());
      Tensor y = w.mul(2f).sum();
      assertNull(y.gradFn());
      assertFalse(y.requiresGrad());
      try (GradMode inner = GradMode.enableGrad()) {
        assertTrue(w.mul(2f).requiresGrad());
      }
      assertFalse(GradMode.isEnabled());
    }
    assertTrue(GradMode.isEnabled());
    assertTrue(w.mul(2f).requiresGrad());
  }

  @Test
  void gradientsAccumulateAcrossBackwardCalls() {
    Tensor w = Tensor.of(new float[] {1, 2, 3}, 3).requiresGrad(true);
    w.mul(2f).sum().backward();
    w.mul(3f).sum().backward();
    assertArrayEquals(new float[] {5, 5, 5}, w.grad().toFloatArray());
  }

  @Test
  void aTensorUsedTwiceGetsBothGradients() {
    Tensor x = Tensor.of(new float[] {1, -2}, 2).requiresGrad(true);
    Tensor y = Ops.add(x.mul(3f), x.relu()).sum(); // d/dx = 3 + [x > 0]
    y.backward();
    assertArrayEquals(new float[] {4, 3}, x.grad().toFloatArray());
  }

  @Test
  void leafGradientDoesNotAliasAnotherLeaf() {
    Tensor a = Tensor.zeros(2).requiresGrad(true);
    Tensor b = Tensor.zeros(2).requiresGrad(true);
    Ops.add(a, b).sum().backward();
    assertNotSame(a.grad(), b.grad());
    a.grad().fill(7f);
    assertArrayEquals(new float[] {1, 1}, b.grad().toFloatArray());
  }

  @Test
  void detachCutsTheGraphButSharesStorage() {
    Tensor x = Tensor.ones(2).requiresGrad(true);
    Tensor y = x.mul(2f);
    Tensor d = y.detach();
    assertNull(d.gradFn());
    assertFalse(d.requiresGrad());
    assertSame(y.storage(), d.storage());
  }

  @Test
  void backwardTwiceThroughAFreedGraphIsAnError() {
    Tensor x = Tensor.ones(2).requiresGrad(true);
    Tensor y = x.mul(2f).sum();
    y.backward();
    IllegalStateException e = assertThrows(IllegalStateException.class, y::backward);
    assertTrue(e.getMessage().contains("second time"), e.getMessage());
  }

  @Test
  void backwardNeedsAScalarAndAGraph() {
    Tensor x = Tensor.ones(2).requiresGrad(true);
    assertThrows(IllegalStateException.class, () -> x.mul(2f).backward());
    assertThrows(IllegalStateException.class, () -> Tensor.ones(1).backward());
    assertThrows(IllegalStateException.class, () -> x.mul(2f).requiresGrad(false));
  }

  @Test
  void reshapeIsAViewAndDifferentiable() {
    Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).requiresGrad(true);
    Tensor r = x.reshape(3, -1);
    assertArrayEquals(new int[] {3, 2}, r.shape());
    assertSame(x.storage(), r.storage());
    r.mul(2f).sum().backward();
    assertArrayEquals(new float[] {2, 2, 2, 2, 2, 2}, x.grad().toFloatArray());
    assertThrows(IllegalArgumentException.class, () -> x.reshape(4, -1));
    assertThrows(IllegalArgumentException.class, () -> x.reshape(-1, -1));
    assertEquals6(x.flatten(0).numel());
  }

  private static void assertEquals6(long n) {
    assertTrue(n == 6, "numel " + n);
  }
}
