package dev.fingerspell.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.nn.BatchNorm2d;
import dev.fingerspell.tensor.nn.Conv2d;
import dev.fingerspell.tensor.nn.Linear;
import dev.fingerspell.tensor.nn.Module;
import dev.fingerspell.weights.SafetensorsWriter.Entry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDictsTest {
  @TempDir Path dir;

  /** conv1, bn1, fc: the names timm's ResNet uses. */
  static final class Tiny extends Module {
    final Conv2d conv1;
    final BatchNorm2d bn1;
    Linear fc;

    Tiny(int classes) {
      Rng rng = new Rng(classes);
      conv1 = registerModule("conv1", new Conv2d(3, 4, 3, 1, 1, false, rng));
      bn1 = registerModule("bn1", new BatchNorm2d(4));
      fc = registerModule("fc", new Linear(4, classes, true, rng));
    }

    @Override
    public Tensor forward(Tensor x) {
      return fc.forward(Ops.globalAvgPool(bn1.forward(conv1.forward(x))));
    }
  }

  private Path save(Module m, Map<String, String> meta) {
    Path p = dir.resolve("m" + System.nanoTime() + ".safetensors");
    SafetensorsWriter.write(p, SafetensorsWriter.entries(m.stateDict()), meta);
    return p;
  }

  @Test
  void roundTripCopiesEveryTensor() {
    Tiny a = new Tiny(5);
    a.bn1.runningMean().fill(0.25f);
    Tiny b = new Tiny(5);
    StateDicts.LoadReport r = StateDicts.load(b, save(a, Map.of()), true);
    assertEquals(7, r.loaded()); // all but num_batches_tracked, which is ignored
    for (Map.Entry<String, Tensor> e : a.stateDict().entrySet()) {
      if (!e.getKey().endsWith("num_batches_tracked")) {
        assertArrayEquals(
            e.getValue().toFloatArray(), b.stateDict().get(e.getKey()).toFloatArray(), e.getKey());
      }
    }
    assertTrue(r.notices().isEmpty());
  }

  @Test
  void aClassifierOfAnotherSizeIsSkippedWithANotice() {
    Tiny imagenet = new Tiny(1000);
    Tiny asl = new Tiny(29);
    float[] before = asl.fc.weight().toFloatArray();
    List<String> notices = new ArrayList<>();
    try (SafetensorsFile f = SafetensorsFile.open(save(imagenet, Map.of()))) {
      StateDicts.load(asl, f, true, notices::add);
    }
    assertEquals(1, notices.size());
    assertTrue(notices.get(0).contains("skipping the stored classifier"), notices.get(0));
    assertArrayEquals(before, asl.fc.weight().toFloatArray());
    assertArrayEquals(imagenet.conv1.weight().toFloatArray(), asl.conv1.weight().toFloatArray());
  }

  @Test
  void strictReportsEveryProblemAtOnce() {
    Path p = dir.resolve("odd.safetensors");
    SafetensorsWriter.write(
        p,
        List.of(
            Entry.f32("conv1.weight", new int[] {4, 3, 5, 5}, new float[300]),
            Entry.f32("extra.weight", new int[] {1}, new float[1])),
        Map.of());
    SafetensorsException e =
        assertThrows(SafetensorsException.class, () -> StateDicts.load(new Tiny(3), p, true));
    String m = e.getMessage();
    assertTrue(m.contains("missing bn1.weight, bn1.bias"), m);
    assertTrue(m.contains("unexpected extra.weight"), m);
    assertTrue(
        m.contains("shape mismatch conv1.weight (file [4, 3, 5, 5], model [4, 3, 3, 3])"), m);
    assertTrue(!m.contains("num_batches_tracked"), m);
    StateDicts.LoadReport lenient = StateDicts.load(new Tiny(3), p, false);
    assertEquals(0, lenient.loaded());
    assertTrue(lenient.notices().get(0).startsWith("loaded leniently"));
  }
}
