package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.Rng;
import dev.fingerspell.weights.SafetensorsWriter;
import dev.fingerspell.weights.WeightFetch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PretrainedTest {
  @TempDir Path dir;

  @Test
  void anImageNetCheckpointLoadsIntoA29ClassModelWithANotice() {
    ResNet18 imagenet = new ResNet18(1000, new Rng(3));
    Path file = dir.resolve("resnet18.safetensors");
    SafetensorsWriter.write(file, SafetensorsWriter.entries(imagenet.stateDict()), Map.of());
    List<String> notices = new ArrayList<>();
    WeightFetch fetch = new WeightFetch(dir.resolve("cache"), "http://127.0.0.1:9", null);
    ResNet18 asl =
        Pretrained.resnet18(file.toString(), 29, 0, fetch, WeightFetch.Progress.NONE, notices::add);
    assertEquals(29, asl.numClasses());
    assertArrayEquals(
        imagenet.stateDict().get("layer3.1.conv2.weight").toFloatArray(),
        asl.stateDict().get("layer3.1.conv2.weight").toFloatArray());
    assertEquals(1, notices.size());
    assertTrue(
        notices.get(0).contains("skipping the stored classifier (fc [1000, 512])"), notices.get(0));

    List<String> none = new ArrayList<>();
    Pretrained.resnet18("none", 29, 7, fetch, WeightFetch.Progress.NONE, none::add);
    assertTrue(none.get(0).contains("random initialisation"), none.toString());
  }
}
