package dev.fingerspell.train;

import dev.fingerspell.tensor.Backend;
import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.Device;
import dev.fingerspell.tensor.cpu.VectorCompilation;
import java.io.PrintWriter;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

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

  @Spec(Spec.Target.MIXEE)
  CommandSpec command;

  /**
   * Whether this JVM's slowness for the CPU kernels was said (once, though devices are set twice).
   */
  private static final AtomicBoolean slowJvmSaid = new AtomicBoolean();

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
    use(device, err());
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
        && nd4j().filter(Backend::isAvailable).isPresent()) {
      use("nd4j", err());
    } else {
      apply();
    }
  }

  /** The ND4J backend, where the installation has it (bin/make-runtime leaves it out). */
  private static Optional<Backend> nd4j() {
    return Backends.all().stream().filter(b -> b.name().equals("nd4j")).findFirst();
  }

  private PrintWriter err() {
    return command.commandLine().getErr();
  }

  /**
   * {@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N} or a backend's name as the default;
   * where the CPU does the work and this JVM does not compile the Vector API, says so on {@code
   * err}, once.
   */
  static void use(String device, PrintWriter err) {
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
    String why = VectorCompilation.missing();
    if (why.isEmpty()) {
      return;
    }
    Backend running = Backends.forDevice(Backends.defaultDevice());
    if (running.deviceType() == Device.Type.CPU && slowJvmSaid.compareAndSet(false, true)) {
      err.println("fingerspell: warning: " + slowJvm(why, running.name()));
    }
  }

  /**
   * What the CPU backend {@code running} costs where the Vector API is not compiled, as {@code
   * why}.
   */
  static String slowJvm(String why, String running) {
    String head = "this JVM does not compile the Vector API to SIMD: " + why;
    if (running.equals("nd4j")) {
      return head
          + "; the CPU runs ND4J's convolutions in its place, 2–3× slower than the pure-Java"
          + " kernels compiled: drop that option for full speed";
    }
    return head
        + "; the pure-Java kernels run 14–290× slower: drop that option, or "
        + (nd4j().isPresent()
            ? "use --device nd4j (ND4J's native convolutions)"
            : "make an installation with ND4J's native convolutions (bin/make-runtime"
                + " --with-nd4j DIR)");
  }
}
