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
          "auto, cpu, cuda, cuda:N, or nd4j for the CPU with ND4J's convolutions (default"
              + " ${DEFAULT-VALUE}: a GPU when the CUDA backend answers, else the CPU; predict"
              + " and evaluate take nd4j for up to "
              + FEW_IMAGES
              + " images where it is installed)")
  String device;

  /**
   * Up to this many images, a fresh JVM classifies them sooner with ND4J's native convolutions than
   * with the pure-Java kernels, which run in the Vector API's slow Java fallback until C2 has
   * compiled them: predict with a 224×224 model, 5 and 3 runs each, on 2 cores: 1 image 1.72–1.94 s
   * against 2.91–3.17 s, 8 images 2.07–2.13 against 3.46–4.02, 28 images 2.73–2.86 against
   * 5.01–5.40, 300 images 8.73–8.94 against 7.99–8.31.
   */
  static final int FEW_IMAGES = 100;

  /** Makes the chosen device the default; a GPU that does not answer is one line saying why. */
  void apply() {
    use(device);
  }

  /**
   * As {@link #apply()} for a run over {@code images} images, one JVM's whole work (predict,
   * evaluate): {@code auto} takes ND4J's convolutions for a few images when no GPU answers and ND4J
   * is installed.
   */
  void apply(int images) {
    if (device.equalsIgnoreCase("auto")
        && images <= FEW_IMAGES
        && !Backends.isAvailable(Device.Type.CUDA)
        && Backends.all().stream().anyMatch(b -> b.name().equals("nd4j") && b.isAvailable())) {
      use("nd4j");
    } else {
      apply();
    }
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
