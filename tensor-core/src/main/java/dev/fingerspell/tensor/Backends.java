package dev.fingerspell.tensor;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Finds the backends on the class path with {@link ServiceLoader}, once, and picks one per device.
 * The default device is the one of the highest-priority backend that says it is available, so a
 * CUDA backend on the class path with a GPU answering wins over the CPU.
 */
public final class Backends {
  private static volatile List<Backend> loaded;
  private static volatile Device chosen;

  private Backends() {}

  /** Every backend found, available or not, highest priority first. */
  public static List<Backend> all() {
    List<Backend> l = loaded;
    if (l == null) {
      synchronized (Backends.class) {
        l = loaded;
        if (l == null) {
          List<Backend> found = new ArrayList<>();
          for (Backend b : ServiceLoader.load(Backend.class, Backends.class.getClassLoader())) {
            found.add(b);
          }
          found.sort(Comparator.comparingInt(Backend::priority).reversed());
          loaded = l = List.copyOf(found);
        }
      }
    }
    return l;
  }

  /** Whether some backend can serve devices of {@code type} here (a GPU answers, say). */
  public static boolean isAvailable(Device.Type type) {
    for (Backend b : all()) {
      if (b.deviceType() == type && b.isAvailable()) {
        return true;
      }
    }
    return false;
  }

  /** The available backend serving {@code device}'s type, or an error saying what is missing. */
  public static Backend forDevice(Device device) {
    String why = "";
    for (Backend b : all()) {
      if (b.deviceType() == device.type()) {
        if (b.isAvailable()) {
          return b;
        }
        why = b.unavailableReason();
      }
    }
    if (!why.isEmpty()) {
      // the reason may be several sentences: the way out goes last, as a sentence of its own
      String sentence = why.endsWith(".") ? why : why + ".";
      throw new IllegalStateException(
          "device " + device + " is not available: " + sentence + " Or use the cpu device.");
    }
    throw new IllegalStateException(
        "no backend available for device "
            + device
            + (device.type() == Device.Type.CUDA
                ? ": put the cuda-kernels artifact on the class path and check that a GPU and"
                    + " its driver answer, or use the cpu device"
                : ""));
  }

  /**
   * Makes {@code device} the default for tensors made without one ({@code runtime.device}); null
   * goes back to the automatic choice. Fails, saying why, when no backend can serve it.
   */
  public static void useDevice(Device device) {
    if (device != null) {
      forDevice(device);
    }
    chosen = device;
  }

  /**
   * The default device: the one given to {@link #useDevice}, else the {@code fingerspell.device}
   * system property ({@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N}), else that of the
   * best available backend.
   */
  public static Device defaultDevice() {
    Device d = chosen;
    if (d != null) {
      return d;
    }
    String property = System.getProperty("fingerspell.device", "auto");
    if (!property.equalsIgnoreCase("auto")) {
      d = Device.parse(property);
      forDevice(d);
      chosen = d;
      return d;
    }
    for (Backend b : all()) {
      if (b.isAvailable()) {
        return new Device(b.deviceType(), 0);
      }
    }
    throw new IllegalStateException("no backend available (tensor-core's CPU backend is missing)");
  }
}
