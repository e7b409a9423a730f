package dev.fingerspell.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.fingerspell.tensor.ConvGeometry;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The two ways the column matrix is written straight into the GEMM's packed layout, against the
 * plain column matrix packed by the GEMM's own packers; and which convolutions take the pixel-major
 * product.
 */
class CpuConvTest {
  @ParameterizedTest(name = "[{0},{1},{2},{2}] k{3} s{4} p{5}, rows {6}..{7}")
  @CsvSource({
    "2, 5, 9, 3, 2, 1, 0, 45", // odd tap count: the last row has no partner
    "2, 5, 9, 3, 2, 1, 3, 20", // odd start, odd length
    "1, 5, 9, 3, 2, 1, 8, 9", // one row
    "1, 6, 7, 1, 1, 0, 0, 6", // 1×1: every row pair spans two channels
    "3, 4, 7, 1, 2, 0, 1, 4",
    "1, 3, 23, 7, 2, 3, 0, 147", // the stem's 7×7
    "2, 8, 7, 3, 1, 1, 17, 61", // tiles past the batch in the last sliver (98 pixels)
    "1, 2, 40, 3, 1, 1, 0, 18", // 40-wide rows: loads inside a row, gathers across rows
    "2, 2, 35, 7, 2, 3, 5, 98", // the stem's shape, odd size: the last phase row is padding
    "1, 2, 9, 3, 3, 0, 0, 18", // stride 3: nine phase planes
    "1, 2, 11, 3, 2, 2, 0, 18", // more padding than the kernel reaches past
    "1, 3, 70, 7, 2, 3, 0, 147", // 35-wide rows: vectors run into the next plane row
    "2, 3, 56, 3, 2, 1, 0, 27", // layer2.0.conv1's 28-wide rows: a load and a blend across two
    "2, 3, 28, 3, 2, 1, 4, 27", // 14-wide rows: up to three rows a vector
    "2, 2, 14, 3, 2, 1, 0, 18" // 7-wide rows: four rows a vector gather
  })
  void packedColumnsMatchTheColumnMatrix(
      int n, int c, int size, int k, int stride, int pad, int rowFrom, int rowTo) {
    ConvGeometry g = new ConvGeometry(n, c, size, size, 1, k, k, stride, stride, pad, pad);
    int ckk = c * k * k;
    int ohw = g.outHeight() * g.outWidth();
    int pixels = n * ohw;
    float[] x = new float[n * c * size * size + 3];
    Random rng = new Random(n * 100 + c * 10 + k);
    for (int i = 0; i < x.length; i++) {
      x[i] = rng.nextFloat() + 1f; // never 0, so a missed copy shows
    }
    int xOff = 3; // an image that does not start at 0
    float[] col = new float[ckk * pixels];
    for (int i = 0; i < n; i++) {
      CpuConv.im2col(g, x, xOff + i * c * size * size, col, i * ohw, pixels);
    }
    // Only the rows asked for are written: compare those, with the rest left at a marker.
    float marker = -7f;

    float[] wantA =
        CpuGemm.packA(true, pixels, ckk, col, 0, new float[CpuGemm.packedASize(pixels, ckk)]);
    float[] gotA = new float[wantA.length];
    java.util.Arrays.fill(gotA, marker);
    CpuConv.im2colSlivers(g, x, xOff, rowFrom, rowTo, gotA);
    assertArrayEquals(onlyRows(wantA, ckk, CpuGemm.MR, rowFrom, rowTo, marker), gotA, "slivers");

    float[] wantB =
        CpuGemm.packB(
            new CpuGemm.Operand(false, col, 0),
            pixels,
            ckk,
            new float[CpuGemm.packedBSize(pixels, ckk)]);
    float[] wantRows = onlyRows(wantB, ckk, CpuGemm.NR, rowFrom, rowTo, marker);
    float[] gotB = new float[wantB.length];
    java.util.Arrays.fill(gotB, marker);
    CpuConv.im2colPanels(g, x, xOff, n, 0, pixels, rowFrom, rowTo, gotB);
    assertArrayEquals(wantRows, gotB, "panels gathered from the images");

    CpuConv.Phases phases = CpuConv.Phases.of(g);
    float[] xp = new float[phases.size(n)];
    java.util.Arrays.fill(xp, marker); // every plane a tap reads is written, padding too
    phases.fill(x, xOff, 0, n * c, xp);
    java.util.Arrays.fill(gotB, marker);
    CpuConv.im2colPanels(phases, xp, n, 0, pixels, rowFrom, rowTo, gotB);
    assertArrayEquals(wantRows, gotB, "panels from phase planes");

    // Planes filled a channel at a time, as workers share them out, are the same planes.
    float[] xpByChannel = new float[xp.length];
    java.util.Arrays.fill(xpByChannel, marker);
    for (int ch = 0; ch < n * c; ch++) {
      phases.fill(x, xOff, ch, ch + 1, xpByChannel);
    }
    assertArrayEquals(xp, xpByChannel, "planes a channel at a time");

    // A block of panels from the second on, as the blocked forward pass builds them.
    if (pixels > CpuGemm.NR) {
      int skip = CpuGemm.NR * ckk;
      float[] want = java.util.Arrays.copyOfRange(wantRows, skip, wantRows.length);
      float[] got = new float[want.length];
      java.util.Arrays.fill(got, marker);
      CpuConv.im2colPanels(g, x, xOff, n, CpuGemm.NR, pixels, rowFrom, rowTo, got);
      assertArrayEquals(want, got, "a later block gathered from the images");
      java.util.Arrays.fill(got, marker);
      CpuConv.im2colPanels(phases, xp, n, CpuGemm.NR, pixels, rowFrom, rowTo, got);
      assertArrayEquals(want, got, "a later block from phase planes");
    }
  }

  /**
   * {@code packed} (blocks of {@code width} columns, CKK rows each) with rows outside the range
   * marked.
   */
  private static float[] onlyRows(
      float[] packed, int ckk, int width, int rowFrom, int rowTo, float marker) {
    float[] out = packed.clone();
    for (int i = 0; i < out.length; i++) {
      int row = i / width % ckk;
      if (row < rowFrom || row >= rowTo) {
        out[i] = marker;
      }
    }
    return out;
  }

  @ParameterizedTest(name = "{0}, product shared out {7}: phase planes {8}")
  @CsvSource({
    "the stem 7×7/2, 3, 224, 64, 7, 2, 3, true, true", // 49 taps over 4 planes, 112-wide rows
    "a 112-wide 3×3, 32, 112, 64, 3, 1, 1, true, true",
    "layer1 3×3 (if not Winograd), 64, 56, 64, 3, 1, 1, true, true",
    "layer2.0.conv1 3×3/2, 64, 56, 128, 3, 2, 1, true, false", // 9 taps over 4 planes
    "layer2.0.conv1 3×3/2, 64, 56, 128, 3, 2, 1, false, true", // 28-wide rows: load and blend
    "layer3.0.conv1 3×3/2, 128, 28, 256, 3, 2, 1, false, false", // 14 wide: up to 3 rows
    "layer2.0.downsample 1×1/2, 64, 56, 128, 1, 2, 0, false, true", // one plane of four filled
    "layer3.0.downsample 1×1/2, 128, 28, 256, 1, 2, 0, false, false",
    "layer3 3×3, 256, 14, 256, 3, 1, 1, true, false", // 14-wide rows: every vector gathers anyway
    "the stem on a 56² image, 3, 56, 64, 7, 2, 3, true, false"
  })
  void phasePlanesWhereTheyPay(
      String layer, int c, int size, int oc, int k, int s, int p, boolean shared, boolean want) {
    assumeTrue(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() == 16, "AVX-512");
    ConvGeometry g = new ConvGeometry(1, c, size, size, oc, k, k, s, s, p, p);
    assertEquals(want, CpuConv.Phases.pay(g, shared), layer);
  }

  @ParameterizedTest(name = "{0} at batch {1}: pixel-major {8}")
  @CsvSource({
    "layer4 3×3, 1, 512, 7, 512, 3, 1, 1, true",
    "layer4.0.conv1, 1, 256, 14, 512, 3, 2, 1, true",
    "layer4.0.downsample, 1, 256, 14, 512, 1, 2, 0, true",
    "layer4 3×3, 2, 512, 7, 512, 3, 1, 1, true",
    "layer4 3×3, 3, 512, 7, 512, 3, 1, 1, false", // 147 pixels: 152 × 528 against 512 × 192
    "layer4 3×3, 32, 512, 7, 512, 3, 1, 1, false", // several products, wide enough
    "layer3 3×3, 1, 256, 14, 256, 3, 1, 1, false", // 196 pixels pad to 240: little to save
    "the stem, 1, 3, 224, 64, 7, 2, 3, false"
  })
  void pixelMajorWhereItSavesProducts(
      String layer, int n, int c, int size, int oc, int k, int s, int p, boolean want) {
    ConvGeometry g = new ConvGeometry(n, c, size, size, oc, k, k, s, s, p, p);
    assertEquals(want, CpuConv.pixelMajorPays(g), layer);
  }

  @ParameterizedTest(name = "{0} at batch {1}: tile-major Winograd {8}")
  @CsvSource({
    "layer3 3×3, 1, 256, 14, 256, 3, 1, 1, true", // 16 tiles: two slivers
    "layer3 3×3, 3, 256, 14, 256, 3, 1, 1, true", // 48 tiles: one panel
    "layer3 3×3, 4, 256, 14, 256, 3, 1, 1, false", // 64 tiles: channel-major panels
    "layer4 3×3, 1, 512, 7, 512, 3, 1, 1, false", // 4 tiles: too few for 4× the weights
    "layer4 3×3, 4, 512, 7, 512, 3, 1, 1, true",
    "layer2 3×3, 1, 128, 28, 128, 3, 1, 1, false", // 49 tiles
    "layer3.0.conv1, 1, 128, 28, 256, 3, 2, 1, false" // stride 2: not Winograd
  })
  void tileMajorWinogradForOneToThreeSliversOfTiles(
      String layer, int n, int c, int size, int oc, int k, int s, int p, boolean want) {
    ConvGeometry g = new ConvGeometry(n, c, size, size, oc, k, k, s, s, p, p);
    int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
    boolean slivers = lanes == CpuGemm.MR || lanes == 2 * CpuGemm.MR; // AVX2 or AVX-512
    assertEquals(want && slivers, CpuWinograd.tileMajor(g), layer);
  }

  @ParameterizedTest(name = "{0}: batch {1}, {2} channels, output {3}x{4}: tiles by rows {5}")
  @CsvSource({
    "layer1 at 224, 1, 64, 56, 56, true", // 14 tiles in a row of 16 lanes
    "layer1 at 224, 32, 64, 56, 56, true", // 1/8 more products, but 64 channels
    "layer1 at 256, 1, 64, 64, 64, true", // 16: exact
    "a wide image, 1, 64, 21, 120, true", // 30 tiles in two vectors
    "layer2 at 224, 1, 128, 28, 28, true", // two rows of 7 tiles: 4 vectors either way
    "layer2 at 224, 2, 128, 28, 28, true",
    "layer2 at 224, 4, 128, 28, 28, true", // 14 vectors against 13, at 128 channels
    "28 wide at 256 channels, 4, 256, 28, 28, false", // ... and at 256
    "32 wide, 1, 64, 32, 32, true", // two rows of 8
    "layer3 at 224, 1, 256, 14, 14, true", // four rows of 4 tiles
    "layer3 at 224, 32, 256, 14, 14, true",
    "layer4 at 224, 32, 512, 7, 7, false", // 2 tiles in 4 lanes
    "36 wide, 1, 64, 36, 36, false", // 9 tiles in 16 lanes
    "12 wide, 4, 64, 12, 12, false", // 3 tiles in 4 lanes
    "4 wide, 8, 64, 4, 4, false", // 1 tile in 2 lanes
    "layer1 at 64, 1, 64, 16, 16, true" // four rows of 4
  })
  void winogradTilesByRowsWhereRowsFillTheirVectors(
      String layer, int n, int c, int height, int width, boolean want) {
    assumeTrue(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() == 16, "AVX-512");
    ConvGeometry g = new ConvGeometry(n, c, height, width, c, 3, 3, 1, 1, 1, 1);
    assertEquals(want, CpuWinograd.byRows(g), layer);
  }

  /**
   * The weight transform, computed as plane sweeps straight into the packed layout, gives the bits
   * of {@code G g Gᵀ} filter by filter in double, then packed: for both layouts, and channel counts
   * that leave padding in the last sliver or panel.
   */
  @ParameterizedTest
  @CsvSource({"13, 7", "64, 64", "50, 3", "8, 49"})
  void winogradWeightTransformIsTheFilterByFilterOne(int oc, int ic) {
    ConvGeometry g = new ConvGeometry(1, ic, 8, 8, oc, 3, 3, 1, 1, 1, 1);
    Random r = new Random(oc * 100 + ic);
    float[] w = new float[3 + oc * ic * 9];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextGaussian();
    }
    float[][] rowMajor = CpuWinograd.transformWeights(g, w, 3);
    float[][] tileMajor = CpuWinograd.transformWeightsTileMajor(g, w, 3);
    for (int i = 0; i < 6; i++) {
      for (int j = 0; j < 6; j++) {
        float[] u = new float[oc * ic];
        for (int f = 0; f < oc * ic; f++) {
          double acc = 0;
          for (int k = 0; k < 3; k++) {
            int at = 3 + f * 9 + k * 3;
            double[] gj = CpuWinograd.G[j];
            acc += CpuWinograd.G[i][k] * (w[at] * gj[0] + w[at + 1] * gj[1] + w[at + 2] * gj[2]);
          }
          u[f] = (float) acc;
        }
        assertArrayEquals(
            CpuGemm.packA(false, oc, ic, u, 0, new float[CpuGemm.packedASize(oc, ic)]),
            rowMajor[i * 6 + j],
            "U[" + i + "][" + j + "] packed as A");
        assertArrayEquals(
            CpuGemm.packB(
                new CpuGemm.Operand(true, u, 0), oc, ic, new float[CpuGemm.packedBSize(oc, ic)]),
            tileMajor[i * 6 + j],
            "U[" + i + "][" + j + "] packed as B");
      }
    }
  }
}
