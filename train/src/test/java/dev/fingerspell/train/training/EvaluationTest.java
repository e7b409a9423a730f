package dev.fingerspell.train.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.fingerspell.resnet.AslClassifier;
import dev.fingerspell.resnet.AslLabels;
import dev.fingerspell.resnet.ModelFile;
import dev.fingerspell.resnet.Preprocess;
import dev.fingerspell.resnet.ResNet18;
import dev.fingerspell.tensor.Rng;
import dev.fingerspell.train.Fixtures;
import dev.fingerspell.train.data.DataException;
import dev.fingerspell.train.data.SynthData;
import dev.fingerspell.train.report.Confusion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Scoring a raw folder in the Kaggle layout: which images each split takes, and bad ones. */
class EvaluationTest {
  @TempDir static Path dir;
  static Path raw;
  static Path damaged;
  static AslClassifier model;

  /** 29 classes × 3 training images (one damaged) and the 28 labelled test images. */
  @BeforeAll
  static void data() throws Exception {
    raw = dir.resolve("raw");
    SynthData.write(raw, 3, 7);
    damaged =
        raw.resolve("asl_alphabet_train")
            .resolve("asl_alphabet_train")
            .resolve("B")
            .resolve("B1.jpg");
    byte[] whole = Files.readAllBytes(damaged);
    Files.write(damaged, Arrays.copyOf(whole, 40)); // a JPEG cut short in its header
    model = AslClassifier.load(Fixtures.randomModel(dir.resolve("model.safetensors"), 3, 32));
  }

  @Test
  void eachSplitTakesItsImagesAndADamagedOneIsSkippedByName() {
    Evaluation.Result test = Evaluation.raw(model, Evaluation.rawSplit(raw, "default"));
    assertEquals("test", test.split(), "the test folder, when there is one");
    assertEquals(28, test.confusion().total()); // no test image for "del"
    assertEquals(List.of(), test.skipped());

    Evaluation.Result train = Evaluation.raw(model, Evaluation.rawSplit(raw, "train"));
    assertEquals(29 * 3 - 1, train.confusion().total(), "more than one batch of 64, one skipped");
    assertEquals(1, train.skipped().size(), train.skipped().toString());
    assertTrue(train.skipped().get(0).startsWith(damaged + ": "), train.skipped().get(0));

    Evaluation.Result all = Evaluation.raw(model, Evaluation.rawSplit(raw, "all"));
    assertEquals(28 + 29 * 3 - 1, all.confusion().total());
    assertEquals(train.skipped(), all.skipped());
    for (int c = 0; c < 29; c++) { // every image counted under its own class
      long expected = 3 - (c == 1 ? 1 : 0) + (AslLabels.NAMES.get(c).equals("del") ? 0 : 1);
      assertEquals(expected, all.confusion().support(c), AslLabels.NAMES.get(c));
    }
    // the images it got wrong, by file: as many as the confusion matrix has off its diagonal,
    // each a file of that split under its own class's name
    Confusion c = all.confusion();
    long wrong = c.total() - Math.round(c.accuracy() * c.total());
    assertEquals(wrong, all.mistakes().size());
    assertTrue(wrong > 0, "a random model gets some wrong");
    for (Evaluation.Mistake m : all.mistakes()) {
      assertTrue(m.file().startsWith(raw), m.toString());
      assertTrue(
          m.file().getParent().getFileName().toString().equals(m.label())
              || m.file().getFileName().toString().startsWith(m.label() + "_test"),
          m.toString());
      assertTrue(!m.label().equals(m.predicted()), m.toString());
    }
  }

  @Test
  void aClassTheModelLacksIsNamed() throws Exception {
    List<String> labels = new ArrayList<>(AslLabels.NAMES);
    labels.set(labels.indexOf("space"), "blank");
    Path file = dir.resolve("renamed.safetensors");
    ModelFile.save(
        new ResNet18(29, new Rng(3)),
        file,
        new ModelFile.Info(labels, Preprocess.imagenet(), null));
    DataException e =
        assertThrows(
            DataException.class,
            () -> Evaluation.raw(AslClassifier.load(file), Evaluation.rawSplit(raw, "train")));
    assertEquals("class 'space' is not among the model's labels", e.getMessage());
    assertThrows(
        DataException.class,
        () -> Evaluation.raw(model, Evaluation.rawSplit(dir.resolve("none"), "all")));
  }
}
