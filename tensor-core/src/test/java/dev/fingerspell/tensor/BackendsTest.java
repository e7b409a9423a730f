package dev.fingerspell.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class BackendsTest {
  /**
   * An application that embeds the library and starts java without the Vector API's module is told
   * that, not that the CPU backend is missing; where another backend answers (the CUDA backend on a
   * GPU machine's class path), the tensor is made there instead.
   */
  @Test
  void aJvmWithoutTheVectorApiIsToldHowToStart() throws Exception {
    ProcessBuilder builder = OwnJvm.builder(List.of(), FirstTensor.class);
    builder.command().remove("--add-modules=jdk.incubator.vector");
    Process process = builder.redirectErrorStream(true).start();
    String said = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, process.waitFor(), said);
    String expected =
        Backends.all().stream()
            .filter(b -> b.deviceType() != Device.Type.CPU && b.isAvailable())
            .map(b -> new Device(b.deviceType(), 0).toString())
            .findFirst()
            .orElse(
                "no backend available; the CPU backend needs the Vector API: start java with"
                    + " --add-modules=jdk.incubator.vector");
    assertEquals(expected, said.strip());
  }

  /** Makes a tensor and prints the error that gives, if any. */
  public static final class FirstTensor {
    private FirstTensor() {}

    public static void main(String[] args) {
      try {
        System.out.println(Tensor.zeros(2, 2).device());
      } catch (IllegalStateException e) {
        System.out.println(e.getMessage());
      }
    }
  }
}
