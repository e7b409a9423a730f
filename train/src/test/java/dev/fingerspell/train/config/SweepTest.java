package dev.fingerspell.train.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SweepTest {
  @Test
  void everyCombinationTheFirstListVaryingSlowest() {
    List<Sweep.Job> jobs =
        Sweep.expand(List.of("train.lr=0.01,0.001", "seed=1", "model.trainable=head,layer4,all"));
    assertEquals(6, jobs.size());
    assertEquals(
        List.of("train.lr=0.01", "seed=1", "model.trainable=head"), jobs.get(0).overrides());
    assertEquals(List.of("train.lr=0.01", "model.trainable=layer4"), jobs.get(1).swept());
    assertEquals(List.of("train.lr=0.001", "model.trainable=head"), jobs.get(3).swept());
    assertEquals(
        List.of("train.lr=0.001", "seed=1", "model.trainable=all"), jobs.get(5).overrides());
    assertEquals(5, jobs.get(5).number());
    assertEquals("5-train.lr=0.001,model.trainable=all", jobs.get(5).folderName());
  }

  @Test
  void nothingListedIsOneRunWithNothingSwept() {
    List<Sweep.Job> jobs = Sweep.expand(List.of("train.epochs=2"));
    assertEquals(1, jobs.size());
    assertEquals(List.of(), jobs.get(0).swept());
    assertEquals("0", jobs.get(0).folderName());
    assertFalse(Sweep.sweeps(List.of("train.epochs=2", "name=a\\,b")));
    assertTrue(Sweep.sweeps(List.of("train.epochs=2,3")));
  }

  @Test
  void anEscapedCommaIsPartOfTheValue() {
    assertEquals(List.of("a,b", "c"), Sweep.values("a\\,b,c"));
    List<Sweep.Job> jobs = Sweep.expand(List.of("name=x\\,y"));
    assertEquals(List.of("name=x,y"), jobs.get(0).overrides());
  }

  @Test
  void folderNamesAreSafe() {
    Sweep.Job job =
        Sweep.expand(List.of("model.weights=/w/a.safetensors,/w/b c.safetensors")).get(1);
    assertEquals("1-model.weights=_w_b_c.safetensors", job.folderName());
    String many = "x".repeat(300);
    assertEquals(120, Sweep.expand(List.of("name=a," + many)).get(1).folderName().length());
  }

  @Test
  void theFolderOfTheSweepIsNotSwept() {
    ConfigException e =
        assertThrows(ConfigException.class, () -> Sweep.expand(List.of("run.dir=a,b")));
    assertEquals(
        "run.dir cannot be swept: it is the folder the sweep's runs go in", e.getMessage());
    assertThrows(ConfigException.class, () -> Sweep.expand(List.of("train.lr")));
  }

  @Test
  void hydrasChoiceAndRangeAndBracketsAreUnderstood() {
    assertEquals(List.of("sgd", "adamw"), Sweep.values("choice(sgd, adamw)"));
    assertEquals(List.of("1", "2", "3"), Sweep.values("range(1,4)"));
    assertEquals(List.of("10", "6", "2"), Sweep.values("range(10, 0, -4)"));
    assertEquals(List.of("[1,2]"), Sweep.values("[1,2]"));
    assertEquals(List.of("[1,2]", "{a: 1, b: 2}"), Sweep.values("[1,2],{a: 1, b: 2}"));
    assertEquals(3, Sweep.expand(List.of("train.epochs=range(1,4)")).size());
    ConfigException bad = assertThrows(ConfigException.class, () -> Sweep.values("range(1,x)"));
    assertEquals(
        "'range(1,x)': a range is range(start,stop) or range(start,stop,step), in integers",
        bad.getMessage());
    assertEquals(
        "'range(3,1)' is an empty range",
        assertThrows(ConfigException.class, () -> Sweep.values("range(3,1)")).getMessage());
  }
}
