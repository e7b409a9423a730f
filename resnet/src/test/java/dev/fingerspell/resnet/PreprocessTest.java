package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Planar RGB from an image: the direct path for decoded JPEGs agrees with getRGB's. */
class PreprocessTest {
  @Test
  void bgrFastPathMatchesColourModelPath() {
    Random r = new Random(5);
    BufferedImage bgr = new BufferedImage(13, 7, BufferedImage.TYPE_3BYTE_BGR);
    BufferedImage argb = new BufferedImage(13, 7, BufferedImage.TYPE_INT_RGB); // getRGB path
    for (int y = 0; y < 7; y++) {
      for (int x = 0; x < 13; x++) {
        int rgb = r.nextInt(1 << 24);
        bgr.setRGB(x, y, rgb);
        argb.setRGB(x, y, rgb);
      }
    }
    assertArrayEquals(Preprocess.planarRgb(argb), Preprocess.planarRgb(bgr));
    // A sub-image shares its parent's buffer, so it must take the general path.
    assertArrayEquals(
        Preprocess.planarRgb(argb.getSubimage(2, 1, 5, 4)),
        Preprocess.planarRgb(bgr.getSubimage(2, 1, 5, 4)));
  }

  /** {@code image} written as PNG and decoded again by ImageIO, as a user's file would be. */
  private static BufferedImage throughPng(BufferedImage image) throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    javax.imageio.ImageIO.write(image, "png", out);
    return javax.imageio.ImageIO.read(new java.io.ByteArrayInputStream(out.toByteArray()));
  }

  private static BufferedImage components(boolean gray, boolean alpha, int type, int[][] pixels) {
    java.awt.image.ColorModel cm =
        new java.awt.image.ComponentColorModel(
            java.awt.color.ColorSpace.getInstance(
                gray ? java.awt.color.ColorSpace.CS_GRAY : java.awt.color.ColorSpace.CS_sRGB),
            alpha,
            false,
            alpha ? java.awt.Transparency.TRANSLUCENT : java.awt.Transparency.OPAQUE,
            type);
    java.awt.image.WritableRaster r = cm.createCompatibleWritableRaster(pixels.length, 1);
    for (int x = 0; x < pixels.length; x++) {
      r.setPixel(x, 0, pixels[x]);
    }
    return new BufferedImage(cm, r, false, null);
  }

  /**
   * Gray and 16-bit PNGs decode to the RGB that Pillow's {@code Image.open(f).convert("RGB")}
   * gives, the reference pipeline's decode (values read with Debian's Pillow 9.4 from the same
   * files): a gray value is repeated in R, G and B, where getRGB would take it as linear light and
   * give 188 for 128; a 16-bit sample keeps its high byte. For 16-bit gray Pillow clips to 255 (its
   * "I" mode), which no one wants: it keeps the high byte here as well.
   */
  @Test
  void grayAndSixteenBitImagesDecodeAsPillowDoes() throws Exception {
    int b = java.awt.image.DataBuffer.TYPE_BYTE;
    int u = java.awt.image.DataBuffer.TYPE_USHORT;
    byte[] gray = {(byte) 128, 50, (byte) 128, 50, (byte) 128, 50};
    assertArrayEquals(
        gray,
        Preprocess.planarRgb(throughPng(components(true, false, b, new int[][] {{128}, {50}}))));
    assertArrayEquals(
        gray,
        Preprocess.planarRgb(
            throughPng(components(true, true, b, new int[][] {{128, 255}, {50, 10}}))));
    assertArrayEquals(
        gray,
        Preprocess.planarRgb(
            throughPng(components(true, false, u, new int[][] {{128 * 257}, {50 * 257 + 200}}))));
    assertArrayEquals(
        new byte[] {(byte) 128, 50, 10, 0, (byte) 255, 3},
        Preprocess.planarRgb(
            throughPng(
                components(
                    false,
                    false,
                    u,
                    new int[][] {{128 * 257 + 100, 10 * 257, 65535}, {50 * 257 + 200, 0, 1000}}))));
    // 8-bit RGB with alpha: the colour as stored, alpha dropped, as getRGB and Pillow give it
    BufferedImage rgba = components(false, true, b, new int[][] {{200, 100, 7, 0}, {1, 2, 3, 255}});
    assertArrayEquals(
        new byte[] {(byte) 200, 1, 100, 2, 7, 3}, Preprocess.planarRgb(throughPng(rgba)));
  }

  /**
   * Files of each kind a user may hand {@code predict} or {@code data prepare} (JPEG at three
   * chroma subsamplings, gray JPEG and PNG, gray with alpha, RGBA, palette PNG and GIF, BMP, and
   * photos whose EXIF orientation turns or mirrors them, in JPEG, PNG and TIFF, and a JPEG with a
   * colour profile, which neither applies) decode to exactly the RGB bytes Pillow's {@code
   * ImageOps.exif_transpose(Image.open(f)).convert("RGB")} gives, at the size it gives
   * (src/test/python/make_decode_goldens.py wrote both with Debian's Pillow 9.4).
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "rgb-420-q75.jpg",
        "rgb-444-q95.jpg",
        "rgb-422-q85.jpg",
        "gray-q90.jpg",
        "gray.png",
        "gray-alpha.png",
        "rgba.png",
        "palette.png",
        "palette.gif",
        "rgb.bmp",
        "exif-2.jpg",
        "exif-3.jpg",
        "exif-4.jpg",
        "exif-5.jpg",
        "exif-6.jpg",
        "exif-7.jpg",
        "exif-8.jpg",
        "exif-8-big-endian.jpg",
        "exif-6.png",
        "exif-6.tif",
        "icc-xyz.jpg",
        "cmyk.jpg",
        "cmyk-420.jpg",
        "ycck.jpg",
        "ycck-420.jpg",
        "cmyk-no-adobe.jpg"
      })
  void filesDecodeToPillowsBytes(String name) throws Exception {
    String at = "/goldens/decode/" + name;
    BufferedImage image;
    byte[] hwc;
    try (var in = PreprocessTest.class.getResourceAsStream(at);
        var golden = PreprocessTest.class.getResourceAsStream(at + ".rgb")) {
      image = ImageFiles.decode(in.readAllBytes());
      hwc = golden.readAllBytes();
    }
    // every golden picture is stored 37 wide and 29 high; orientations 5 to 8 turn it
    boolean turned = name.matches("exif-[5-8].*");
    assertEquals(turned ? 29 : 37, image.getWidth(), name + " width");
    assertEquals(turned ? 37 : 29, image.getHeight(), name + " height");
    int plane = image.getWidth() * image.getHeight();
    assertEquals(3 * plane, hwc.length);
    byte[] chw = Preprocess.planarRgb(image);
    for (int i = 0; i < plane; i++) {
      for (int c = 0; c < 3; c++) {
        assertEquals(hwc[3 * i + c], chw[c * plane + i], name + " pixel " + i + " channel " + c);
      }
    }
  }

  /** A batch of 8-bit images, at the model's size (bytes path) or not (resized), as fromRgb. */
  @Test
  void batchFromRgbIsEachImageFromRgb() {
    Preprocess pre = new Preprocess(8, Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    Random rng = new Random(5);
    for (int side : new int[] {8, 11}) {
      java.util.List<byte[]> images = new java.util.ArrayList<>();
      float[] want = new float[3 * 3 * 8 * 8];
      for (int i = 0; i < 3; i++) {
        byte[] chw = new byte[3 * side * side];
        rng.nextBytes(chw);
        images.add(chw);
        System.arraycopy(pre.fromRgb(chw, side, side), 0, want, i * 3 * 64, 3 * 64);
      }
      dev.fingerspell.tensor.Tensor batch = pre.batchFromRgb(images, side, side);
      assertArrayEquals(new int[] {3, 3, 8, 8}, batch.shape());
      assertArrayEquals(want, batch.toFloatArray(), "side " + side);
      // the same images as a slice of a longer store, one other image before them
      int per = 3 * side * side;
      byte[] store = new byte[5 * per];
      rng.nextBytes(store);
      for (int i = 0; i < 3; i++) {
        System.arraycopy(images.get(i), 0, store, (i + 1) * per, per);
      }
      java.lang.foreign.MemorySegment slice =
          java.lang.foreign.MemorySegment.ofArray(store).asSlice(per, 3L * per);
      assertArrayEquals(
          want, pre.batchFromRgb(slice, 3, side, side).toFloatArray(), "slice, side " + side);
      assertThrows(IllegalArgumentException.class, () -> pre.batchFromRgb(slice, 2, side, side));
      if (side == 8) { // at the model's size a batch can be written into a tensor of its shape
        dev.fingerspell.tensor.Tensor old = dev.fingerspell.tensor.Tensor.full(7f, 3, 3, 8, 8);
        assertSame(old, pre.batchFromRgb(slice, 3, side, side, old));
        assertArrayEquals(want, old.toFloatArray(), "written into a tensor");
        dev.fingerspell.tensor.Tensor other = dev.fingerspell.tensor.Tensor.zeros(2, 3, 8, 8);
        assertNotSame(other, pre.batchFromRgb(slice, 3, side, side, other));
        dev.fingerspell.tensor.Tensor param =
            dev.fingerspell.tensor.Tensor.zeros(3, 3, 8, 8).requiresGrad(true);
        assertNotSame(param, pre.batchFromRgb(slice, 3, side, side, param));
      }
    }
  }

  /** The bilinear formula as written in 2-D, output pixel by output pixel: what the resize was. */
  private static float[] directBilinear(float[] src, int channels, int h, int w, int oh, int ow) {
    float[] out = new float[channels * oh * ow];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < oh; y++) {
        float sy = Math.max((float) h / oh * (y + 0.5f) - 0.5f, 0f);
        int y0 = Math.min((int) sy, h - 1);
        int y1 = y0 < h - 1 ? y0 + 1 : y0;
        float wy1 = sy - y0;
        float wy0 = 1f - wy1;
        for (int x = 0; x < ow; x++) {
          float sx = Math.max((float) w / ow * (x + 0.5f) - 0.5f, 0f);
          int x0 = Math.min((int) sx, w - 1);
          int x1 = x0 < w - 1 ? x0 + 1 : x0;
          float wx1 = sx - x0;
          float wx0 = 1f - wx1;
          int r0 = c * h * w + y0 * w;
          int r1 = c * h * w + y1 * w;
          out[(c * oh + y) * ow + x] =
              wy0 * (wx0 * src[r0 + x0] + wx1 * src[r0 + x1])
                  + wy1 * (wx0 * src[r1 + x0] + wx1 * src[r1 + x1]);
        }
      }
    }
    return out;
  }

  /**
   * The separable resize gives the 2-D formula's floats to the bit, and the 8-bit resize gives what
   * converting to float, resizing and {@code Math.round} give: up, down, to and from one pixel, odd
   * ratios, and the 200 → 224 of the Kaggle set.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({
    "200, 200, 224, 224",
    "224, 224, 200, 200",
    "5, 7, 13, 3",
    "13, 3, 5, 7",
    "1, 9, 4, 2",
    "9, 1, 2, 4",
    "6, 6, 1, 1",
    "7, 11, 7, 11",
    "31, 17, 64, 64"
  })
  void separableResizeIsTheTwoDimensionalFormulaToTheBit(int h, int w, int oh, int ow) {
    Random r = new Random(h * 1000 + w);
    byte[] bytes = new byte[3 * h * w];
    r.nextBytes(bytes);
    float[] floats = new float[bytes.length];
    for (int i = 0; i < floats.length; i++) {
      floats[i] = bytes[i] & 0xff;
    }
    float[] want = directBilinear(floats, 3, h, w, oh, ow);
    float[] got = Preprocess.resizeBilinear(floats, 3, h, w, oh, ow);
    for (int i = 0; i < want.length; i++) {
      assertEquals(
          Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), "float at " + i);
    }
    byte[] rounded = Preprocess.resizeBilinear(bytes, 3, h, w, oh, ow);
    for (int i = 0; i < want.length; i++) {
      assertEquals(
          Math.max(0, Math.min(255, Math.round(want[i]))), rounded[i] & 0xff, "byte at " + i);
    }
    // evaluation's path: bytes scaled to [0, 1] first (ToTensor), then resized
    float[] unit = new float[bytes.length];
    for (int i = 0; i < unit.length; i++) {
      unit[i] = (bytes[i] & 0xff) / 255f;
    }
    float[] wantUnit = directBilinear(unit, 3, h, w, oh, ow);
    float[] gotUnit = Preprocess.resizeUnit(bytes, 3, h, w, oh, ow);
    for (int i = 0; i < wantUnit.length; i++) {
      assertEquals(
          Float.floatToRawIntBits(wantUnit[i]),
          Float.floatToRawIntBits(gotUnit[i]),
          "unit float at " + i);
    }
  }

  /**
   * The resize's rounding is {@code Math.round} for every float in {@code [1/8, 256)}, all 92
   * million of them, and the values around 1/2 where adding 0.5f rounds up. Below 1/8 both give 0:
   * {@code v + 0.5f} is then below 0.75 and {@code v + v} below 1.
   */
  @Test
  void sampleRoundingIsMathRound() {
    for (int bits = Float.floatToIntBits(0.125f); bits < Float.floatToIntBits(256f); bits++) {
      float v = Float.intBitsToFloat(bits);
      if ((byte) Math.round(v) != Preprocess.roundSample(v)) {
        assertEquals(Math.round(v), Preprocess.roundSample(v) & 0xff, "at " + v);
      }
    }
    for (float v : new float[] {0f, Float.MIN_VALUE, 0.1f, Math.nextDown(0.5f), 0.5f, 255.49998f}) {
      assertEquals(Math.round(v), Preprocess.roundSample(v) & 0xff, "at " + v);
    }
  }
}
