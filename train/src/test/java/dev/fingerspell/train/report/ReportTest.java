package dev.fingerspell.train.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class ReportTest {
  @Test
  void aHeadEpochOfMillisecondsIsNotShownAsZero() {
    assertEquals("0.015", Report.seconds(0.0153));
    assertEquals("0.000", Report.seconds(0));
  }

  @Test
  void longerEpochsKeepTenthsOfASecond() {
    assertEquals("0.1", Report.seconds(0.1));
    assertEquals("154.3", Report.seconds(154.34));
  }

  /**
   * An epoch without a value (a run without validation) is a gap in its line, not a point at the
   * bottom of the plot; a series with no value at all is neither drawn nor named.
   */
  @Test
  void missingValuesAreGapsNotZeros() throws Exception {
    double nan = Double.NaN;
    byte[] one =
        Plots.curves(null, "t", "y", List.of(new Plots.Series("a", new double[] {1, 2, 3})));
    byte[] withNothing =
        Plots.curves(
            null,
            "t",
            "y",
            List.of(
                new Plots.Series("a", new double[] {1, 2, 3}),
                new Plots.Series("b", new double[] {nan, nan, nan})));
    assertArrayEquals(one, withNothing);
    BufferedImage gap =
        ImageIO.read(
            new ByteArrayInputStream(
                Plots.curves(
                    null, "t", "y", List.of(new Plots.Series("a", new double[] {1, nan, 3})))));
    // epoch 2 of 3 is at the plot's middle, x = 70 + 550 / 2; its bottom edge at y = 350
    for (int x = 340; x <= 350; x++) {
      for (int y = 300; y <= 355; y++) {
        assertNotEquals(0x1f77b4, gap.getRGB(x, y) & 0xffffff, "drawn at " + x + "," + y);
      }
    }
  }

  /** Runs compared name their lines beside the plot, where they hide no point. */
  @Test
  void moreThanTwoLinesAreNamedBesideThePlot() throws Exception {
    double[] v = {1, 2};
    List<Plots.Series> two = List.of(new Plots.Series("train", v), new Plots.Series("val", v));
    List<Plots.Series> three =
        List.of(
            new Plots.Series("a", v), new Plots.Series("b", v), new Plots.Series("a long run", v));
    assertEquals(
        640, ImageIO.read(new ByteArrayInputStream(Plots.curves(null, "t", "y", two))).getWidth());
    int wide =
        ImageIO.read(new ByteArrayInputStream(Plots.curves(null, "t", "y", three))).getWidth();
    assertTrue(wide > 640 + 36, "legend beside: " + wide);
  }

  /** A setting's values against the scores: a point a run, in its colour, where it belongs. */
  @Test
  void aScatterPutsEachRunWhereItsValueAndScoreAre() throws Exception {
    BufferedImage plot =
        ImageIO.read(
            new ByteArrayInputStream(
                Plots.scatter(
                    "train.lr",
                    "train.lr",
                    "best accuracy",
                    new double[] {0.0001, 0.01},
                    new double[] {0.5, 0.9},
                    true)));
    // x: 5% and 95% of the 550-pixel plot from 70; y: the lower and upper 5% of 310 from 40
    assertEquals(0x1f77b4, plot.getRGB(70 + 28, 40 + 310 - 15) & 0xffffff);
    assertEquals(0xff7f0e, plot.getRGB(70 + 522, 40 + 15) & 0xffffff);
  }
}
