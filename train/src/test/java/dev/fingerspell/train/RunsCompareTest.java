package dev.fingerspell.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fingerspell runs --html}: runs side by side on one page, as W&B compares them. */
class RunsCompareTest {
  @TempDir Path dir;

  private CliRun run(String... args) {
    return CliRun.run(Map.of(), args);
  }

  /** A finished run folder as training leaves it, with the given lr, data version and epochs. */
  private Path runFolder(String name, String lr, String data, double... valAcc) throws Exception {
    Path run = Files.createDirectories(dir.resolve("runs").resolve(name));
    Files.writeString(
        run.resolve("config.yaml"),
        "seed: 42\nname: asl\ndata:\n  dir: data/processed\n  image_size: 64\nmodel:\n"
            + "  trainable: head\ntrain:\n  epochs: "
            + valAcc.length
            + "\n  optimizer: adamw\n  lr: "
            + lr
            + "\n  weight_decay: 1.0E-4\nrun:\n  dir: "
            + run
            + "\n");
    StringBuilder metrics = new StringBuilder();
    for (int e = 0; e < valAcc.length; e++) {
      metrics.append(
          String.format(
              java.util.Locale.ROOT,
              "{\"epoch\":%d,\"train_loss\":%.3f,\"train_acc\":%.3f,\"val_loss\":%s,\"val_acc\":%s,"
                  + "\"lr\":%s,\"seconds\":1.5}%n",
              e + 1,
              2.0 / (e + 1),
              0.5 + 0.1 * e,
              Double.isNaN(valAcc[e]) ? "null" : Double.toString(1 - valAcc[e]),
              Double.isNaN(valAcc[e]) ? "null" : Double.toString(valAcc[e]),
              lr));
    }
    Files.writeString(run.resolve("metrics.jsonl"), metrics);
    Files.writeString(
        run.resolve("run.json"),
        "{\"status\":\"completed\",\"data_fingerprint\":\"" + data + "\"}");
    return run;
  }

  @Test
  void thePageShowsTheRunsWhatDiffersAndACurveAPerRun() throws Exception {
    Files.writeString(
        runFolder("a-fast", "0.001", "aaaaaaaaaaaa1111", 0.5, 0.7, 0.8).resolve("report.html"),
        "<html></html>");
    runFolder("b-slow", "0.0005", "aaaaaaaaaaaa1111", 0.4, 0.6);
    runFolder("c-newdata", "0.001", "bbbbbbbbbbbb2222", 0.6, 0.9, 0.85);
    Path html = dir.resolve("out/compare.html");
    Files.createDirectories(html.getParent());
    CliRun r = run("runs", "--html", html.toString(), dir.resolve("runs").toString());
    assertEquals(0, r.status(), r.err());
    assertEquals(6, r.out().lines().count(), r.out()); // header, three runs, best, the page
    assertTrue(
        r.out().contains("\nbest: c-newdata: validation accuracy 0.9000 at epoch 2\n"), r.out());
    assertTrue(r.out().endsWith("comparison: " + html.toAbsolutePath() + "\n"), r.out());
    String page = Files.readString(html);
    assertTrue(page.contains("<h1>3 runs compared</h1>"), page);
    assertTrue(
        page.contains("<p>Best: c-newdata: validation accuracy 0.9000 at epoch 2</p>"), page);
    // and for a script, the best run's folder alone
    CliRun best = run("runs", "--best", dir.resolve("runs").toString());
    assertEquals(dir.resolve("runs/c-newdata") + "\n", best.out());
    // the runs table, as the console's, each run's name a link to its report where it has one
    assertTrue(page.contains("<td>c-newdata</td><td>completed</td><td>3/3</td><td>0.9000 (ep 2)"));
    assertTrue(page.contains("<td><a href=\"../runs/a-fast/report.html\">a-fast</a></td>"), page);
    // only what differs, with each run's value: lr as it was given, the data version
    assertEquals(
        List.of(
            "train.epochs|3|2|3",
            "train.lr|0.001|0.0005|0.001",
            "data version|aaaaaaaaaaaa|aaaaaaaaaaaa|bbbbbbbbbbbb"),
        differingRows(page));
    // four curves, each a PNG with a line per run
    Matcher png =
        Pattern.compile("<img alt=\"([^\"]+)\" src=\"data:image/png;base64,").matcher(page);
    List<String> plots = png.results().map(m -> m.group(1)).toList();
    assertEquals(
        List.of(
            "train.epochs", // best accuracy against each numeric setting that differs
            "train.lr",
            "Validation accuracy",
            "Validation loss",
            "Training accuracy",
            "Training loss"),
        plots);
    assertFalse(page.contains("<script"), "self-contained, no scripts");
  }

  @Test
  void runsStartedAlikeSayNothingDiffersAndRunsWithoutValidationHaveNoValidationCurves()
      throws Exception {
    runFolder("one", "0.001", "d", Double.NaN, Double.NaN);
    runFolder("two", "0.001", "d", Double.NaN, Double.NaN);
    Path html = dir.resolve("compare.html");
    CliRun r = run("runs", "--json", "--html", html.toString(), dir.resolve("runs").toString());
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().startsWith("["), "--json keeps stdout JSON: " + r.out());
    String page = Files.readString(html);
    assertTrue(page.contains("None: the runs were started with the same settings."), page);
    assertFalse(page.contains("alt=\"Validation accuracy\""), page);
    assertTrue(page.contains("alt=\"Training accuracy\""), page);
  }

  @Test
  void withoutValidationTheBestIsByTrainingAccuracyAndNoneIsOneLine() throws Exception {
    CliRun none = run("runs", "--best", dir.toString());
    assertEquals(1, none.status());
    assertEquals("fingerspell: no run in " + dir + " has a best epoch yet", none.err().strip());
    runFolder("one", "0.001", "d", Double.NaN, Double.NaN);
    Path two = runFolder("two", "0.001", "d", Double.NaN, Double.NaN);
    Files.writeString( // a better training accuracy in its second epoch
        two.resolve("metrics.jsonl"),
        Files.readString(two.resolve("metrics.jsonl"))
            .replace("\"train_acc\":0.600", "\"train_acc\":0.900"));
    assertEquals(two + "\n", run("runs", "--best", dir.resolve("runs").toString()).out());
    CliRun both = run("runs", "--best", "--json", dir.toString());
    assertEquals(
        "fingerspell: --best prints one folder: give it without --json and --html",
        both.err().strip());
  }

  @Test
  void nothingToCompareIsOneLine() {
    CliRun r = run("runs", "--html", dir.resolve("c.html").toString(), dir.toString());
    assertEquals(1, r.status());
    assertEquals("fingerspell: no runs to compare in " + dir, r.err().strip());
    assertFalse(Files.exists(dir.resolve("c.html")));
  }

  /** The "settings that differ" table, a row a line: setting|value|value|... */
  private static List<String> differingRows(String page) {
    String table = page.substring(page.indexOf("<h2>Settings that differ</h2>"));
    table = table.substring(0, table.indexOf("</table>"));
    return Pattern.compile("<tr><td>(.*?)</tr>")
        .matcher(table)
        .results()
        .map(m -> m.group(1).replace("</td><td>", "|").replace("</td>", ""))
        .toList();
  }
}
