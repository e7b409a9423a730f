package dev.fingerspell.tensor.cpu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jdk.incubator.vector.FloatVector;

/**
 * Whether this JVM compiles the Vector API to SIMD instructions. The CPU kernels are written in it,
 * and HotSpot's C2 is what turns it into SIMD; without C2 (an IDE's or a container's "fast start"
 * {@code -XX:TieredStopAtLevel=1}, {@code -Xint}) or with its vector support off, each vector is a
 * Java object and a forward runs 14–290× slower (bench/results/cpu-nd4j-2026-12-04.md).
 *
 * <p>Told from HotSpot's options. {@code java.vm.info} shows the two common cases for free
 * ("emulated-client", "interpreted mode"); the rest needs the diagnostic bean, 27 ms a start, so it
 * is asked only when the JVM's options mention one of {@link #FLAGS} or come from a file. A JVM
 * that is not HotSpot (OpenJ9) is not judged: how much of the API it compiles is not known here.
 */
public final class VectorCompilation {
  /** The HotSpot options that decide it, read from the diagnostic bean. */
  static final List<String> FLAGS =
      List.of("UseCompiler", "TieredCompilation", "TieredStopAtLevel", "EnableVectorSupport");

  private static volatile String missing;

  private VectorCompilation() {}

  /**
   * Empty when the Vector API is compiled here (or this is not HotSpot); else why not, naming the
   * option: "C2 is left out (-XX:TieredStopAtLevel=1)".
   */
  public static String missing() {
    String m = missing;
    if (m == null) {
      missing = m = judge();
    }
    return m;
  }

  private static String judge() {
    String vm = System.getProperty("java.vm.name", "");
    if (!vm.contains("HotSpot") && !vm.startsWith("OpenJDK")
        || ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      return ""; // not judged; without the module, Backends says what to do
    }
    Map<String, String> flags = new HashMap<>();
    if (optionsMayMatter() && ModuleLayer.boot().findModule("jdk.management").isPresent()) {
      flags.putAll(DiagnosticBean.options());
    }
    return missing(
        System.getProperty("java.vm.info", ""),
        flags,
        FloatVector.SPECIES_PREFERRED.vectorBitSize());
  }

  /**
   * Why the Vector API is not compiled, from {@code java.vm.info}, the options that were read
   * (absent ones at their defaults) and the preferred vector's width; empty when it is.
   */
  static String missing(String vmInfo, Map<String, String> flags, int preferredBits) {
    if (vmInfo.contains("interpreted mode") || "false".equals(flags.get("UseCompiler"))) {
      return "the JIT compilers are off (-Xint or -XX:-UseCompiler)";
    }
    String level = flags.get("TieredStopAtLevel");
    if (vmInfo.contains("emulated-client")
        || (!"false".equals(flags.get("TieredCompilation"))
            && level != null
            && Integer.parseInt(level) < 4)) {
      return "C2 is left out (-XX:TieredStopAtLevel=" + (level == null ? "1" : level) + ")";
    }
    if ("false".equals(flags.get("EnableVectorSupport"))) {
      return "C2's Vector API support is off (-XX:-EnableVectorSupport)";
    }
    if (preferredBits < 128) {
      return "vectors here are "
          + preferredBits
          + " bits wide, too narrow (-XX:MaxVectorSize or the CPU)";
    }
    return "";
  }

  /**
   * Whether the JVM's own options (its command line, the JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS
   * variables) might set one of {@link #FLAGS}; true when they cannot be read or name an options
   * file.
   */
  private static boolean optionsMayMatter() {
    StringBuilder options = new StringBuilder();
    for (String variable : List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")) {
      options.append(System.getenv().getOrDefault(variable, "")).append('\0');
    }
    try {
      options.append(
          new String(Files.readAllBytes(Path.of("/proc/self/cmdline")), StandardCharsets.UTF_8));
    } catch (IOException | UnsupportedOperationException e) {
      return true; // not Linux: ask the bean
    }
    return mayMatter(options.toString());
  }

  /** Whether {@code options}, separated by NULs or spaces, might set one of {@link #FLAGS}. */
  static boolean mayMatter(String options) {
    for (String option : options.split("[\\s\\x00]+")) {
      if (option.startsWith("@")
          || option.startsWith("-XX:Flags=")
          || option.startsWith("-XX:VMOptionsFile=")
          || option.equals("-Xint")) {
        return true;
      }
      if (option.startsWith("-XX:")) {
        for (String flag : FLAGS) {
          if (option.contains(flag)) {
            return true;
          }
        }
      }
    }
    return false;
  }

  /** Apart, so that the diagnostic bean's classes load only when asked for. */
  private static final class DiagnosticBean {
    static Map<String, String> options() {
      var bean =
          java.lang.management.ManagementFactory.getPlatformMXBean(
              com.sun.management.HotSpotDiagnosticMXBean.class);
      Map<String, String> values = new HashMap<>();
      for (String flag : FLAGS) {
        try {
          values.put(flag, bean.getVMOption(flag).getValue());
        } catch (IllegalArgumentException e) {
          // not an option in this mode (EnableVectorSupport without C2, or not unlocked): default
        }
      }
      return values;
    }
  }
}
