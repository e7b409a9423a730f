package dev.fingerspell.train;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import picocli.CommandLine.Option;

/** {@code --device} for the commands that run the network. */
final class DeviceOption {
  @Option(
      names = "--device",
      paramLabel = "DEVICE",
      defaultValue = "auto",
      description =
          "auto, cpu, cuda or cuda:N (default ${DEFAULT-VALUE}: a GPU when the CUDA backend"
              + " answers, else the CPU)")
  String device;

  /** Makes the chosen device the default; a GPU that does not answer is one line saying why. */
  void apply() {
    use(device);
  }

  /** {@code auto}, {@code cpu}, {@code cuda} or {@code cuda:N} as the default device. */
  static void use(String device) {
    Backends.useDevice(device.equalsIgnoreCase("auto") ? null : Device.parse(device));
  }
}
