package dev.fingerspell.tensor;

/**
 * Where a tensor's storage lives: a device type and an ordinal ({@code cuda:0}).
 *
 * @param type the kind of device
 * @param index the ordinal among devices of that kind; always 0 for the CPU
 */
public record Device(Type type, int index) {

  /** Kinds of device a backend can serve. */
  public enum Type {
    CPU,
    CUDA
  }

  /** The host. */
  public static final Device CPU = new Device(Type.CPU, 0);

  /** Validates the ordinal. */
  public Device {
    if (index < 0) {
      throw new IllegalArgumentException("device index must be >= 0, got " + index);
    }
  }

  /** Parses {@code cpu}, {@code cuda} or {@code cuda:N}. */
  public static Device parse(String text) {
    String t = text.trim().toLowerCase(java.util.Locale.ROOT);
    if (t.equals("cpu")) {
      return CPU;
    }
    if (t.equals("cuda")) {
      return new Device(Type.CUDA, 0);
    }
    if (t.startsWith("cuda:")) {
      try {
        return new Device(Type.CUDA, Integer.parseInt(t.substring(5)));
      } catch (NumberFormatException e) {
        // fall through to the error below
      }
    }
    throw new IllegalArgumentException("unknown device '" + text + "': use cpu, cuda or cuda:N");
  }

  @Override
  public String toString() {
    return type == Type.CPU ? "cpu" : "cuda:" + index;
  }
}
