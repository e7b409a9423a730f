package dev.fingerspell.tensor;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * Finds the backends on the class path with {@link ServiceLoader}, once, and picks one per device.
 * The default device is the one of the highest-priority backend that says it is available, so a
 * CUDA backend on the class path with a GPU answering wins over the CPU.
 */
public final class Backends {
  private static volatile List<Backend> loaded;
  // why backends on the class path did not load, one line each: said when none can serve a device
  private static volatile List<String> failed = List.of();
  private static volatile Device chosen;
  // a backend chosen by name for its device type (nd4j for the CPU, say), over the priority order
  private static volatile Backend pinned;

  private Backends() {}

  /** Every backend found, available or not, highest priority first. */
  public static List<Backend> all() {
    List<Backend> l = loaded;
    if (l == null) {
      synchronized (Backends.class) {
        l = loaded;
        if (l == null) {
          List<Backend> found = new ArrayList<>();
          List<String> failures = new ArrayList<>();
          Iterator<Backend> it =
              ServiceLoader.load(Backend.class, Backends.class.getClassLoader()).iterator();
          while (failures.size() < 16) {
            try {
              if (!it.hasNext()) {
                break;
              }
              found.add(it.next());
            } catch (ServiceConfigurationError | LinkageError e) {
              // a plug-in whose own libraries are missing (an installation without them) is not
              // there; the iterator goes on with the next one
              failures.add(loadFailure(e));
            }
          }
          found.sort(Comparator.comparingInt(Backend::priority).reversed());
          failed = failures.stream().distinct().toList();
          loaded = l = List.copyOf(found);
        }
      }
    }
    return l;
  }

  /**
   * Why a backend did not load, in one line. The commonest: a JVM started without the Vector API's
   * module, which the CPU backend is written in (an application embedding the library).
   */
  private static String loadFailure(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (String.valueOf(t.getMessage()).contains("jdk/incubator/vector")) {
        return "the CPU backend needs the Vector API: start java with"
            + " --add-modules=jdk.incubator.vector";
      }
    }
    Throwable root = e;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    return "a backend did not load: " + root;
  }

  /** {@code message}, then why backends did not load, if any did not. */
  private static String withLoadFailures(String message) {
    List<String> f = failed;
    return f.isEmpty() ? message : message + "; " + String.join("; ", f);
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
    Backend p = pinned;
    return p != null && p.deviceType() == device.type() ? p : byPriority(device);
  }

  private static Backend byPriority(Device device) {
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
      throw notAvailable(device.toString(), why);
    }
    throw new IllegalStateException(
        withLoadFailures(
            "no backend available for device "
                + device
                + (device.type() == Device.Type.CUDA
                    ? ": put the cuda-kernels artifact on the class path and check that a GPU and"
                        + " its driver answer, or use the cpu device"
                    : "")));
  }

  /**
   * Makes {@code device} the default for tensors made without one ({@code runtime.device}); null
   * goes back to the automatic choice. Fails, saying why, when no backend can serve it. A backend
   * chosen by name before ({@link #useDevice(String)}) is forgotten.
   */
  public static void useDevice(Device device) {
    if (device != null) {
      byPriority(device);
    }
    pinned = null;
    chosen = device;
  }

  /**
   * {@code auto}, a device ({@code cpu}, {@code cuda}, {@code cuda:N}), or the name of a backend
   * found on the class path ({@code nd4j}): that backend then serves its device type, in place of
   * the one the priority order would give; {@code cpu} and {@code cuda} are served by the backends
   * of those names. Fails, saying what is accepted, for anything else.
   */
  public static void useDevice(String spec) {
    String s = spec.trim();
    if (s.equalsIgnoreCase("auto")) {
      useDevice((Device) null);
      return;
    }
    Device device = deviceOrNull(s);
    if (device != null) { // a device before a backend of the same name (cpu, cuda)
      byPriority(device); // says why when nothing can serve it
      // and that backend serves it: cpu is the pure-Java one even where ND4J comes first (slow JVM)
      pinned =
          all().stream()
              .filter(b -> b.name().equalsIgnoreCase(s) && b.isAvailable())
              .findFirst()
              .orElse(null);
      chosen = device;
      return;
    }
    StringBuilder names = new StringBuilder();
    for (Backend b : all()) {
      if (b.name().equalsIgnoreCase(s)) {
        if (!b.isAvailable()) {
          throw notAvailable(b.name(), b.unavailableReason());
        }
        pinned = b; // before the device, so that a reader of the device finds the backend
        chosen = new Device(b.deviceType(), 0);
        return;
      }
      if (deviceOrNull(b.name()) == null) {
        names.append(", ").append(b.name());
      }
    }
    throw new IllegalArgumentException(
        "unknown device '" + spec + "': use auto, cpu, cuda, cuda:N" + names);
  }

  private static IllegalStateException notAvailable(String device, String why) {
    // the reason may be several sentences: the way out goes last, as a sentence of its own
    String sentence = why.endsWith(".") ? why : why + ".";
    return new IllegalStateException(
        "device " + device + " is not available: " + sentence + " Or use the cpu device.");
  }

  /** The device {@code s} names, or null when it names none. */
  private static Device deviceOrNull(String s) {
    try {
      return Device.parse(s);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /**
   * The default device: the one given to {@link #useDevice}, else the {@code fingerspell.device}
   * system property (as {@link #useDevice(String)} takes it), else that of the best available
   * backend.
   */
  public static Device defaultDevice() {
    Device d = chosen;
    if (d != null) {
      return d;
    }
    String property = System.getProperty("fingerspell.device", "auto");
    if (!property.equalsIgnoreCase("auto")) {
      useDevice(property);
      return chosen;
    }
    for (Backend b : all()) {
      if (b.isAvailable()) {
        return new Device(b.deviceType(), 0);
      }
    }
    throw new IllegalStateException(
        failed.isEmpty()
            ? "no backend available (tensor-core's CPU backend is missing)"
            : withLoadFailures("no backend available"));
  }
}
