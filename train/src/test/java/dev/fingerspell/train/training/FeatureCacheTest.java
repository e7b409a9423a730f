package dev.fingerspell.train.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.fingerspell.resnet.FrozenResNet18;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.GradMode;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.train.data.DataPrepare;
import dev.fingerspell.train.data.PreparedData;
import dev.fingerspell.train.data.SynthData;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FeatureCacheTest {
  @TempDir Path dir;

  /**
   * The feature pass reads each batch back only after sending the next: every row must still get
   * its own image's features and label, across batches and shards (here batches of the inference
   * size in shards of 50, against one image at a time).
   */
  @Test
  void featuresAndLabelsStayPairedAcrossBatchesAndShards() {
    SynthData.write(dir.resolve("raw"), 3, 7);
    PreparedData data =
        PreparedData.open(
            DataPrepare.run(
                new DataPrepare.Options(
                    dir.resolve("raw"), dir.resolve("processed"), 32, 0.2, 1, 50, 2),
                DataPrepare.NO_PROGRESS));
    ResNet18 model = new ResNet18(29, new Rng(5));
    Preprocess pre = new Preprocess(32, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    AtomicInteger reported = new AtomicInteger();

    FeatureCache.Features got =
        FeatureCache.compute(model, data, "train", pre, null, reported::addAndGet, () -> false);

    int count = data.count("train");
    assertEquals(count, got.count());
    assertEquals(count, reported.get());
    FrozenResNet18 backbone = FrozenResNet18.of(model);
    int row = 0;
    try (GradMode g = GradMode.noGrad()) {
      for (PreparedData.Batch b : data.batches("train", 1)) {
        float[] want =
            backbone.forwardFeatures(pre.batchFromRgb(b.bytes(), b.count(), 32, 32)).toFloatArray();
        float[] have = new float[ResNet18.FEATURES];
        System.arraycopy(got.values(), row * ResNet18.FEATURES, have, 0, have.length);
        assertArrayEquals(want, have, 1e-4f, "features of row " + row);
        assertEquals(b.labels()[0], got.labels()[row], "label of row " + row);
        row++;
      }
    }
    assertEquals(count, row);
  }
}
