package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class MainTest {
  private record Result(int status, String out, String err) {}

  private static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int status = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    return new Result(status, out.toString(), err.toString());
  }

  @Test
  void versionNamesTheBuildAndTheRuntime() {
    Result r = run("--version");
    assertEquals(0, r.status());
    assertTrue(r.out().startsWith("fingerspell 0."), r.out());
    assertTrue(r.out().contains("Java " + Runtime.version().feature()), r.out());
  }

  @Test
  void helpListsTheCommands() {
    Result r = run("--help");
    assertEquals(0, r.status());
    assertTrue(r.out().contains("Usage: fingerspell"), r.out());
    assertTrue(r.out().contains("backends"), r.out());
  }

  @Test
  void backendsListsTheCpuAsDefault() {
    Result r = run("backends");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("cpu"), r.out());
    assertTrue(r.out().contains("(default)"), r.out());
  }

  @Test
  void unknownOptionIsOneLineAndNonZero() {
    Result r = run("--no-such-option");
    assertEquals(2, r.status());
    assertTrue(r.err().contains("Unknown option"), r.err());
  }
}
