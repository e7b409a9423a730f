package dev.fingerspell.train.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class FeaturePassTest {
  /**
   * A batch's input is written into the input of the batch two before (whose features have been
   * read back), never into the one the pass has not read back yet; every batch still gets its own
   * features.
   */
  @Test
  void inputsTakeTurnsInTwoTensors() {
    ResNet18 model = new ResNet18(29, new Rng(5));
    model.eval();
    FrozenResNet18 backbone = FrozenResNet18.of(model);
    Preprocess pre = new Preprocess(32, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    Rng rng = new Rng(3);
    List<MemorySegment> batches = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      byte[] images = new byte[4 * 3 * 32 * 32];
      for (int j = 0; j < images.length; j++) {
        images[j] = (byte) rng.nextInt(256);
      }
      batches.add(MemorySegment.ofArray(images));
    }
    List<Tensor> offered = new ArrayList<>();
    List<Tensor> inputs = new ArrayList<>();
    List<float[]> features = new ArrayList<>();

    FeaturePass.run(
        backbone,
        batches,
        (b, reuse) -> {
          offered.add(reuse);
          Tensor x = pre.batchFromRgb(b, 4, 32, 32, reuse);
          inputs.add(x);
          return x;
        },
        (b, f) -> features.add(f));

    assertNull(offered.get(0));
    assertNull(offered.get(1));
    for (int i = 2; i < batches.size(); i++) {
      assertSame(inputs.get(i - 2), offered.get(i), "batch " + i + " is offered");
      assertSame(inputs.get(i - 2), inputs.get(i), "batch " + i + "'s input");
    }
    assertEquals(batches.size(), features.size());
    try (GradMode g = GradMode.noGrad()) {
      for (int i = 0; i < batches.size(); i++) {
        float[] alone =
            backbone.forwardFeatures(pre.batchFromRgb(batches.get(i), 4, 32, 32)).toFloatArray();
        assertArrayEquals(alone, features.get(i), 1e-6f, "features of batch " + i);
      }
    }
  }
}
