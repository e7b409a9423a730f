package dev.fingerspell.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.tensor.OwnJvm;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VectorCompilationTest {
  private static final String MIXED = "mixed mode, sharing";

  @Test
  void theBuildsJvmCompilesIt() {
    assertEquals("", VectorCompilation.missing());
    CpuBackend cpu = new CpuBackend();
    assertEquals(0, cpu.priority());
    assertTrue(cpu.describe().startsWith("the Vector API at "), cpu.describe());
  }

  @Test
  void judgedFromTheOptions() {
    assertEquals("", VectorCompilation.missing(MIXED, Map.of(), 512));
    assertEquals("", VectorCompilation.missing(MIXED, Map.of("TieredStopAtLevel", "4"), 128));
    // without tiers, the one compiler is C2, whatever the level says
    assertEquals(
        "",
        VectorCompilation.missing(
            MIXED, Map.of("TieredCompilation", "false", "TieredStopAtLevel", "1"), 256));
    assertEquals(
        "C2 is left out (-XX:TieredStopAtLevel=1)",
        VectorCompilation.missing("mixed mode, emulated-client, sharing", Map.of(), 512));
    assertTrue(
        VectorCompilation.missing(MIXED, Map.of("TieredStopAtLevel", "3"), 512)
            .contains("(-XX:TieredStopAtLevel=3)"));
    assertEquals(
        "the JIT compilers are off (-Xint or -XX:-UseCompiler)",
        VectorCompilation.missing("interpreted mode, sharing", Map.of(), 512));
    assertTrue(
        VectorCompilation.missing(MIXED, Map.of("UseCompiler", "false"), 512).contains("-Xint"));
    assertEquals(
        "C2's Vector API support is off (-XX:-EnableVectorSupport)",
        VectorCompilation.missing(MIXED, Map.of("EnableVectorSupport", "false"), 512));
    assertEquals(
        "vectors here are 64 bits wide, too narrow (-XX:MaxVectorSize or the CPU)",
        VectorCompilation.missing(MIXED, Map.of(), 64));
  }

  @Test
  void theBeanIsAskedOnlyWhenTheOptionsMightSetIt() {
    assertFalse(VectorCompilation.mayMatter("java\0-Dx=1\0-XX:+UseG1GC\0-cp\0a.jar\0Main\0"));
    assertFalse(VectorCompilation.mayMatter("\0-Xmx2g -Xss1m\0"));
    assertTrue(VectorCompilation.mayMatter("java\0-XX:TieredStopAtLevel=2\0Main"));
    assertTrue(VectorCompilation.mayMatter("-Xmx1g -XX:-EnableVectorSupport\0"));
    assertTrue(VectorCompilation.mayMatter("java\0-Xint\0Main"));
    assertTrue(VectorCompilation.mayMatter("java\0@options.txt\0Main"));
    assertTrue(VectorCompilation.mayMatter("java\0-XX:VMOptionsFile=jvm.opts\0Main"));
  }

  /** In JVMs with those options: level 3 and the vector switch show only through the bean. */
  @Test
  void aJvmWithoutItIsTold() throws Exception {
    OwnJvm.Result c1 = OwnJvm.run(List.of("-XX:TieredStopAtLevel=3"), Map.of(), Probe.class);
    assertEquals(0, c1.status(), c1.output());
    assertTrue(c1.output().contains("(-XX:TieredStopAtLevel=3)\npriority -20"), c1.output());
    OwnJvm.Result off =
        OwnJvm.run(
            List.of(),
            Map.of(
                "JAVA_TOOL_OPTIONS", "-XX:+UnlockExperimentalVMOptions -XX:-EnableVectorSupport"),
            Probe.class);
    assertTrue(off.output().contains("(-XX:-EnableVectorSupport)\npriority -20"), off.output());
    OwnJvm.Result plain = OwnJvm.run(List.of("-XX:+UseSerialGC"), Map.of(), Probe.class);
    assertTrue(plain.output().contains("compiled\npriority 0"), plain.output());
  }

  /** Prints what it was told and the CPU backend's priority. */
  public static final class Probe {
    private Probe() {}

    public static void main(String[] args) {
      String missing = VectorCompilation.missing();
      System.out.println(missing.isEmpty() ? "compiled" : missing);
      System.out.println("priority " + new CpuBackend().priority());
    }
  }
}
