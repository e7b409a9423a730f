package dev.fingerspell.train;

import dev.fingerspell.tensor.Backends;
import picocli.CommandLine.Option;

/** {@code --device} for the commands that run the network. */
final class DeviceOption {
  @Option(
      names = "--device",
      paramLabel = "DEVICE",
      defaultValue = "auto",
      description =
          "auto, cpu, cuda, cuda:N, or nd4j for the CPU with ND4J's convolutions (default"
              + " ${DEFAULT-VALUE}: a GPU when the CUDA backend answers, else the CPU)")
  String device;

  /** Makes the chosen device the default; a GPU that does not answer is one line saying why. */
  void apply() {
    use(device);
  }

  /** {@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N} or a backend's name as the default. */
  static void use(String device) {
    try {
      Backends.useDevice(device);
    } catch (IllegalArgumentException e) {
      if (device.trim().equalsIgnoreCase("nd4j")) { // left out of an installation (make-runtime)
        throw new IllegalArgumentException(
            "the nd4j backend is not installed here: bin/make-runtime --with-nd4j DIR makes an"
                + " installation with it, or use the cpu device",
            e);
      }
      throw e;
    }
  }
}
