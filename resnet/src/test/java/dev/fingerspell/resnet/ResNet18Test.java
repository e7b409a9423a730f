package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Ops;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.tensor.Tensor;
import dev.fingerspell.tensor.nn.Module;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ResNet18Test {
  @Test
  void parametersAreTimmsNamesShapesAndDtypes() throws IOException {
    ResNet18 m = new ResNet18(1000, new Rng(1));
    List<String> expected = new ArrayList<>();
    try (BufferedReader r =
        new BufferedReader(
            new InputStreamReader(
                getClass().getResourceAsStream("/timm-resnet18-keys.txt"),
                StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        if (!line.isBlank() && line.contains("[")) { // the last line is a summary
          expected.add(line.trim());
        }
      }
    }
    Map<String, Tensor> state = m.stateDict();
    List<String> actual = new ArrayList<>();
    for (Map.Entry<String, Tensor> e : state.entrySet()) {
      Tensor t = e.getValue();
      String dtype = t.dtype() == DType.INT64 ? "I64" : "F32";
      actual.add(e.getKey() + " " + Arrays.toString(t.shape()).replace(" ", " ") + " " + dtype);
    }
    assertEquals(122, state.size());
    assertEquals(normalise(expected), normalise(actual));
    assertEquals(11_689_512, m.parameterCount());
  }

  private static List<String> normalise(List<String> lines) {
    List<String> out = new ArrayList<>();
    for (String l : lines) {
      out.add(l.replaceAll("\\s+", " ").replace("[ ", "[").replace(" ]", "]"));
    }
    out.sort(String::compareTo);
    return out;
  }

  @Test
  void headOnlyFreezesTheBackboneAndKeepsItsBatchNormInEvaluation() {
    ResNet18 m = new ResNet18(29, new Rng(2)).setTrainable(ResNet18.Trainable.HEAD);
    m.train(true);
    assertEquals(List.of(m.fc().weight(), m.fc().bias()), m.trainableParameters());
    for (Map.Entry<String, Module> e : m.namedModules().entrySet()) {
      if (!e.getKey().isEmpty() && !e.getKey().equals("fc")) {
        assertFalse(e.getValue().isTraining(), e.getKey() + " must stay in evaluation mode");
      }
    }
    Tensor x = Tensor.randn(new Rng(3), 2, 3, 32, 32);
    float[] runningBefore = m.stateDict().get("layer1.0.bn1.running_mean").toFloatArray();
    Tensor features = m.forwardFeatures(x);
    assertNull(features.gradFn(), "a frozen backbone records no graph");
    assertArrayEquals(
        runningBefore,
        m.stateDict().get("layer1.0.bn1.running_mean").toFloatArray(),
        "frozen statistics must not drift");
    Tensor loss =
        Ops.crossEntropy(m.forwardHead(features), Tensor.ofLongs(new long[] {1, 2}, 2), 0f);
    loss.backward();
    assertNotNull(m.fc().weight().grad());
    assertNull(m.stateDict().get("conv1.weight").grad());
  }

  @Test
  void layer4AndAllTrainWhatTheySay() {
    ResNet18 m = new ResNet18(29, new Rng(4)).setTrainable(ResNet18.Trainable.LAYER4);
    m.train(true);
    assertTrue(m.stateDict().get("layer4.1.conv2.weight").requiresGrad());
    assertFalse(m.stateDict().get("layer3.1.conv2.weight").requiresGrad());
    assertTrue(m.namedModules().get("layer4.0.bn1").isTraining());
    assertFalse(m.namedModules().get("layer3.0.bn1").isTraining());
    m.setTrainable(ResNet18.Trainable.ALL);
    assertEquals(m.parameters().size(), m.trainableParameters().size());
    assertTrue(m.namedModules().get("layer1.0.bn1").isTraining());
    assertEquals(ResNet18.Trainable.LAYER4, ResNet18.Trainable.parse(" layer4 "));
    assertThrows(IllegalArgumentException.class, () -> ResNet18.Trainable.parse("backbone"));
  }

  @Test
  void resetClassifierChangesTheClassCountAndKeepsFreezing() {
    ResNet18 m = new ResNet18(1000, new Rng(5)).setTrainable(ResNet18.Trainable.HEAD);
    m.resetClassifier(29, new Rng(6));
    assertEquals(29, m.numClasses());
    assertArrayEquals(new int[] {29, 512}, m.stateDict().get("fc.weight").shape());
    assertEquals(2, m.trainableParameters().size());
    Tensor out = m.eval().forward(Tensor.randn(new Rng(7), 1, 3, 64, 64));
    assertArrayEquals(new int[] {1, 29}, out.shape());
  }
}
