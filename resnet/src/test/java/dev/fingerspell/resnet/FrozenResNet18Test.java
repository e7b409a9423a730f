package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.GradCheck;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
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
}
