package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.fingerspell.nd4j.Nd4jBackend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import java.io.IOException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * ResNet18 with its convolutions in ND4J (oneDNN): logits against the PyTorch golden within 1e-4,
 * live and frozen, and whole-network training steps that end where the pure-Java backend's do.
 */
class ResNet18Nd4jTest {
  @AfterEach
  void backToAuto() {
    Backends.useDevice((Device) null);
  }

  @Test
  void logitsMatchPyTorch() throws IOException {
    Backends.useDevice("nd4j");
    ResNet18 model = DeviceParity.logitsMatchPyTorch("nd4j");
    assertInstanceOf(Nd4jBackend.class, model.conv1().weight().backend());
  }

  /** Two SGD steps of the whole network end where the pure-Java backend's do. */
  @Test
  void trainingStepsOfTheWholeNetworkMatchThePureJavaBackend() {
    ResNet18[] models =
        DeviceParity.trainingStepsMatch(
            "nd4j", () -> Backends.useDevice("cpu"), () -> Backends.useDevice("nd4j"));
    assertInstanceOf(Nd4jBackend.class, models[1].conv1().weight().backend());
  }
}
