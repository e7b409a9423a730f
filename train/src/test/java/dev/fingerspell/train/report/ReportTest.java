package dev.fingerspell.train.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
