package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.GradCheck;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The frozen network against the live one in evaluation mode, on a batch that runs the stem in
 * several chunks with a short last one (the stem takes one image per core at a time), twice on the
 * same instance so that the second pass reuses the first one's buffers.
 */
class FrozenResNet18Test {
  @Test
  void chunkedStemMatchesTheModel() {
    ResNet18 model = new ResNet18(7, new Rng(0));
    SeededWeights.fill(model, 5L);
    model.eval();
    int batch = 2 * Runtime.getRuntime().availableProcessors() + 1;
    Tensor x = Tensor.randn(new Rng(9), batch, 3, 40, 40);
    float[] want;
    try (GradMode g = GradMode.noGrad()) {
      want = model.forward(x).toFloatArray();
    }
    FrozenResNet18 frozen = FrozenResNet18.of(model);
    for (int pass = 0; pass < 2; pass++) {
      double err = GradCheck.relError(frozen.forward(x).toFloatArray(), GradCheck.toDouble(want));
      assertTrue(err < 1e-4, "pass " + pass + ": logits relative error " + err);
    }
  }

  /**
   * The folded stages up to each layer, then the model's own from the next one, give the model's
   * logits; the stages' output is the caller's, not overwritten by the next pass.
   */
  @Test
  void stagesThroughOneLayerThenTheModelFromTheNext() {
    ResNet18 model = new ResNet18(7, new Rng(0));
    SeededWeights.fill(model, 6L);
    model.eval();
    Tensor x = Tensor.randn(new Rng(3), 3, 3, 48, 48);
    FrozenResNet18 frozen = FrozenResNet18.of(model);
    try (GradMode g = GradMode.noGrad()) {
      double[] want = GradCheck.toDouble(model.forward(x).toFloatArray());
      // at 48×48: the max pool's output, then layer1 to layer3's
      int[][] shapes = {{3, 64, 12, 12}, {3, 64, 12, 12}, {3, 128, 6, 6}, {3, 256, 3, 3}};
      for (int last = 0; last < 4; last++) {
        Tensor stages = frozen.forwardThrough(x, last);
        assertArrayEquals(shapes[last], stages.shape(), "through layer" + last);
        float[] kept = stages.toFloatArray();
        frozen.forwardThrough(Tensor.randn(new Rng(4), 3, 3, 48, 48), last); // reuses the buffers
        assertArrayEquals(kept, stages.toFloatArray(), "through layer" + last + ", kept");
        double err = GradCheck.relError(model.forwardFrom(last + 1, stages).toFloatArray(), want);
        assertTrue(err < 1e-5, "through layer" + last + ": logits relative error " + err);
      }
    }
    assertThrows(IllegalArgumentException.class, () -> frozen.forwardThrough(x, 5));
    assertThrows(IllegalArgumentException.class, () -> model.forwardFrom(0, x));
  }

  /**
   * Training layer4 on the folded stages' output gives the gradients of training it through the
   * whole model (whose earlier stages run their batch norms in evaluation mode).
   */
  @Test
  void layer4TrainsOnTheFoldedStagesAsOnTheModel() {
    ResNet18 model = new ResNet18(5, new Rng(1)).setTrainable(ResNet18.Trainable.LAYER4);
    SeededWeights.fill(model, 8L);
    model.train(true);
    Tensor x = Tensor.randn(new Rng(5), 4, 3, 64, 64);
    Tensor y = Tensor.ofLongs(new long[] {0, 3, 1, 4}, 4);
    List<Tensor> params = model.trainableParameters();
    Ops.crossEntropy(model.forward(x), y, 0f).backward();
    List<float[]> want = params.stream().map(p -> p.grad().toFloatArray()).toList();
    params.forEach(p -> p.setGrad(null));
    FrozenResNet18 frozen = FrozenResNet18.of(model);
    Ops.crossEntropy(model.forwardFrom(4, frozen.forwardThrough(x, 3)), y, 0f).backward();
    for (int i = 0; i < params.size(); i++) {
      double err =
          GradCheck.relError(params.get(i).grad().toFloatArray(), GradCheck.toDouble(want.get(i)));
      assertTrue(err < 1e-4, "parameter " + i + ": gradient relative error " + err);
    }
  }
}
