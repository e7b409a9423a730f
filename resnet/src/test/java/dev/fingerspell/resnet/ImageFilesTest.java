package dev.fingerspell.resnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * EXIF orientation: found where each format keeps it, ignored when broken, and applied without
 * changing a pixel's value. (That the turns are Pillow's is PreprocessTest's golden test.)
 */
class ImageFilesTest {
  /** A JPEG of 5×3 pixels with {@code app1} (if any) inserted after its start-of-image marker. */
  private static byte[] jpeg(byte[] app1) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(new BufferedImage(5, 3, BufferedImage.TYPE_3BYTE_BGR), "jpg", out);
    byte[] plain = out.toByteArray();
    if (app1 == null) {
      return plain;
    }
    byte[] file = new byte[plain.length + app1.length];
    System.arraycopy(plain, 0, file, 0, 2);
    System.arraycopy(app1, 0, file, 2, app1.length);
    System.arraycopy(plain, 2, file, 2 + app1.length, plain.length - 2);
    return file;
  }

  /** An APP1 segment holding "Exif\0\0" and {@code tiff}, its length field as given. */
  private static byte[] app1(byte[] tiff, int length) {
    ByteBuffer b = ByteBuffer.allocate(4 + 6 + tiff.length);
    b.put((byte) 0xFF).put((byte) 0xE1).putShort((short) length);
    b.put("Exif".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putShort((short) 0);
    return b.put(tiff).array();
  }

  private static byte[] app1(byte[] tiff) {
    return app1(tiff, 2 + 6 + tiff.length);
  }

  /** TIFF-structured bytes whose first IFD holds {@code entries} (tag, type, count, value). */
  private static byte[] tiff(ByteOrder order, int[]... entries) {
    ByteBuffer b = ByteBuffer.allocate(8 + 2 + 12 * entries.length + 4).order(order);
    b.put(order == ByteOrder.BIG_ENDIAN ? (byte) 'M' : (byte) 'I');
    b.put(order == ByteOrder.BIG_ENDIAN ? (byte) 'M' : (byte) 'I');
    b.putShort((short) 42).putInt(8).putShort((short) entries.length);
    for (int[] e : entries) {
      b.putShort((short) e[0]).putShort((short) e[1]).putInt(e[2]).putShort((short) e[3]);
      b.putShort((short) 0);
    }
    return b.putInt(0).array();
  }

  @Test
  void orientationIsFoundAmongOtherTagsInEitherByteOrder() throws IOException {
    for (ByteOrder order : new ByteOrder[] {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN}) {
      // make, model (ASCII, pointing elsewhere), then orientation 7
      byte[] t = tiff(order, new int[] {0x010F, 2, 20, 0}, new int[] {0x0110, 2, 20, 0}, o(7));
      assertEquals(7, ImageFiles.orientation(jpeg(app1(t))), order.toString());
      assertEquals(7, ImageFiles.orientation(t), "a TIFF file's own IFD, " + order);
    }
    assertEquals(1, ImageFiles.orientation(jpeg(null)), "no Exif segment");
  }

  private static int[] o(int value) {
    return new int[] {0x0112, 3, 1, value};
  }

  /** A broken or odd tag leaves the image as stored: the pixels are still worth classifying. */
  @Test
  void brokenOrOddTagsMeanAsStored() throws IOException {
    ByteOrder le = ByteOrder.LITTLE_ENDIAN;
    byte[] good = tiff(le, o(6));
    assertEquals(6, ImageFiles.orientation(jpeg(app1(good))));
    assertEquals(1, ImageFiles.orientation(jpeg(app1(tiff(le, o(0))))), "0 is no orientation");
    assertEquals(1, ImageFiles.orientation(jpeg(app1(tiff(le, o(9))))), "9 is none either");
    assertEquals(
        1,
        ImageFiles.orientation(jpeg(app1(tiff(le, new int[] {0x0112, 4, 1, 6})))),
        "a LONG, not a SHORT");
    assertEquals(1, ImageFiles.orientation(jpeg(app1(tiff(le, new int[] {0x0112, 3, 2, 6})))));
    // an IFD offset past the segment; a count of entries running past it
    byte[] farIfd = good.clone();
    farIfd[4] = 100;
    assertEquals(1, ImageFiles.orientation(jpeg(app1(farIfd))));
    byte[] manyEntries = tiff(le, new int[] {0x010F, 2, 20, 0});
    manyEntries[8] = 50;
    assertEquals(1, ImageFiles.orientation(jpeg(app1(manyEntries))));
    byte[] badMagic = good.clone();
    badMagic[2] = 43;
    assertEquals(1, ImageFiles.orientation(jpeg(app1(badMagic))));
    // the segment's length runs past the file; the segment is cut off inside the tag
    assertEquals(1, ImageFiles.orientation(Arrays.copyOf(jpeg(app1(good, 60_000)), 200)));
    byte[] cut = jpeg(app1(good));
    assertEquals(1, ImageFiles.orientation(Arrays.copyOf(cut, 2 + 4 + 6 + 8 + 2 + 9)));
    // only the Exif APP1 counts (XMP also lives in APP1)
    byte[] xmp = app1(good);
    xmp[4] = 'X';
    assertEquals(1, ImageFiles.orientation(jpeg(xmp)));
    for (byte[] junk : new byte[][] {{}, {(byte) 0xFF}, {(byte) 0xFF, (byte) 0xD8}, {1, 2, 3}}) {
      assertEquals(1, ImageFiles.orientation(junk), Arrays.toString(junk));
    }
  }

  /**
   * A JPEG cut short anywhere after its scan begins is refused, as Pillow refuses it ("image file
   * is truncated"); ImageIO alone would decode it with the rest gray. Bytes after the end marker
   * are fine, and an end marker inside a thumbnail before the scan does not count.
   */
  @Test
  void aJpegCutShortIsRefused() throws IOException {
    for (boolean progressive : new boolean[] {false, true}) {
      byte[] whole = texturedJpeg(progressive);
      assertEquals(61, ImageFiles.decode(whole).getWidth());
      byte[] trailing = Arrays.copyOf(whole, whole.length + 9);
      assertEquals(61, ImageFiles.decode(trailing).getWidth(), "bytes after the end marker");
      int scan = indexOf(whole, new byte[] {(byte) 0xFF, (byte) 0xDA});
      for (int cut = whole.length - 1; cut > scan + 16; cut -= 7) {
        byte[] part = Arrays.copyOf(whole, cut);
        IOException e = assertThrows(IOException.class, () -> ImageFiles.decode(part), "" + cut);
        if (!progressive || !e.getMessage().startsWith("cannot decode: ")) {
          // a progressive file cut inside a later scan's header fails in the reader itself
          assertEquals(
              "cut short: the file ends inside its image data (copy it again)", e.getMessage());
        }
      }
      // an APP segment carrying FF D9 (as an embedded thumbnail's own end does) before the scan
      byte[] thumb = {(byte) 0xFF, (byte) 0xE1, 0, 6, 'X', 'Y', (byte) 0xFF, (byte) 0xD9};
      byte[] withThumb = new byte[whole.length + thumb.length];
      System.arraycopy(whole, 0, withThumb, 0, 2);
      System.arraycopy(thumb, 0, withThumb, 2, thumb.length);
      System.arraycopy(whole, 2, withThumb, 2 + thumb.length, whole.length - 2);
      assertEquals(61, ImageFiles.decode(withThumb).getWidth());
      assertThrows(
          IOException.class,
          () -> ImageFiles.decode(Arrays.copyOf(withThumb, withThumb.length - 2)),
          "no end marker after the scan");
    }
  }

  private static byte[] texturedJpeg(boolean progressive) throws IOException {
    BufferedImage image = new BufferedImage(61, 47, BufferedImage.TYPE_3BYTE_BGR);
    Random r = new Random(11);
    for (int y = 0; y < 47; y++) {
      for (int x = 0; x < 61; x++) {
        image.setRGB(x, y, r.nextInt());
      }
    }
    javax.imageio.ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    javax.imageio.ImageWriteParam param = writer.getDefaultWriteParam();
    if (progressive) {
      param.setProgressiveMode(javax.imageio.ImageWriteParam.MODE_DEFAULT);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (var stream = ImageIO.createImageOutputStream(out)) {
      writer.setOutput(stream);
      writer.write(null, new javax.imageio.IIOImage(image, null, null), param);
    } finally {
      writer.dispose();
    }
    return out.toByteArray();
  }

  private static int indexOf(byte[] data, byte[] what) {
    for (int i = 0; i + what.length <= data.length; i++) {
      if (Arrays.equals(data, i, i + what.length, what, 0, what.length)) {
        return i;
      }
    }
    throw new AssertionError("not found");
  }

  /**
   * A JPEG carrying a colour profile other than sRGB (here linear RGB, as a phone's Display P3
   * would be) decodes to its samples as stored, the bytes Pillow's {@code convert("RGB")} gives for
   * the same file without the profile: Pillow does not apply profiles. ImageIO alone converts them.
   */
  @Test
  void aJpegsColourProfileIsNotApplied() throws IOException {
    byte[] plain;
    byte[] golden;
    try (var in = ImageFilesTest.class.getResourceAsStream("/goldens/decode/rgb-444-q95.jpg");
        var rgb = ImageFilesTest.class.getResourceAsStream("/goldens/decode/rgb-444-q95.jpg.rgb")) {
      plain = in.readAllBytes();
      golden = rgb.readAllBytes();
    }
    byte[] profile =
        java.awt.color.ICC_Profile.getInstance(java.awt.color.ColorSpace.CS_LINEAR_RGB).getData();
    ByteBuffer app2 = ByteBuffer.allocate(4 + 14 + profile.length);
    app2.put((byte) 0xFF).put((byte) 0xE2).putShort((short) (2 + 14 + profile.length));
    app2.put("ICC_PROFILE".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).put((byte) 0);
    app2.put((byte) 1).put((byte) 1).put(profile); // chunk 1 of 1
    int afterApp0 = 4 + (((plain[4] & 0xFF) << 8) | (plain[5] & 0xFF)); // SOI, then JFIF's APP0
    byte[] tagged = new byte[plain.length + app2.capacity()];
    System.arraycopy(plain, 0, tagged, 0, afterApp0);
    System.arraycopy(app2.array(), 0, tagged, afterApp0, app2.capacity());
    System.arraycopy(
        plain, afterApp0, tagged, afterApp0 + app2.capacity(), plain.length - afterApp0);

    BufferedImage converted = ImageIO.read(new java.io.ByteArrayInputStream(tagged));
    assertFalse(
        Arrays.equals(hwc(Preprocess.planarRgb(converted)), golden),
        "ImageIO applies the profile (else this test shows nothing)");
    assertArrayEquals(golden, hwc(Preprocess.planarRgb(ImageFiles.decode(tagged))));
    assertArrayEquals(golden, hwc(Preprocess.planarRgb(ImageFiles.decode(plain))));
  }

  /** Planar {@code [3, h·w]} RGB as interleaved, the goldens' order. */
  private static byte[] hwc(byte[] chw) {
    int plane = chw.length / 3;
    byte[] out = new byte[chw.length];
    for (int i = 0; i < plane; i++) {
      for (int c = 0; c < 3; c++) {
        out[3 * i + c] = chw[c * plane + i];
      }
    }
    return out;
  }

  /** A BMP cut short makes its reader throw an EOFException without a message: said in words. */
  @Test
  void aBmpCutShortIsSaidInWords() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(new BufferedImage(20, 10, BufferedImage.TYPE_3BYTE_BGR), "bmp", out);
    byte[] cut = Arrays.copyOf(out.toByteArray(), out.size() / 2);
    IOException e = assertThrows(IOException.class, () -> ImageFiles.decode(cut));
    assertEquals("cut short: the file ends inside its image data (copy it again)", e.getMessage());
  }

  /**
   * An image whose header asks for more pixels than Pillow would read is refused before anything is
   * allocated: the file here is 800 bytes and says 20000 × 9000 (ImageIO would allocate 540 MB for
   * it, and a real one that size would then take as much again in each copy).
   */
  @Test
  void anImageLargerThanPillowsLimitIsRefused() throws IOException {
    ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(20_000).putInt(9_000);
    ihdr.put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
    png.write(chunk("IHDR", ihdr.array()));
    png.write(chunk("IDAT", new byte[] {0x78, (byte) 0x9C, 0x03, 0, 0, 0, 0, 1}));
    png.write(chunk("IEND", new byte[0]));
    IOException e = assertThrows(IOException.class, () -> ImageFiles.decode(png.toByteArray()));
    assertEquals(
        "cannot decode: 20000 × 9000 pixels, more than the 178,956,970 read here (Pillow's limit"
            + " too): scale it down",
        e.getMessage());
  }

  private static byte[] chunk(String type, byte[] data) {
    ByteBuffer b = ByteBuffer.allocate(12 + data.length);
    byte[] name = type.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    b.putInt(data.length).put(name).put(data);
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(name);
    crc.update(data);
    return b.putInt((int) crc.getValue()).array();
  }

  @Test
  void aFileNoReaderKnowsIsOneLine() {
    IOException e =
        assertThrows(IOException.class, () -> ImageFiles.decode("GIF87 is not".getBytes()));
    assertEquals("not an image this reader knows (JPEG, PNG, BMP, GIF, TIFF)", e.getMessage());
    // the formats phones and browsers save that ImageIO has no reader for are named
    String[][] named = {
      {"RIFF\0\0\0\0WEBPVP8 ", "WebP"},
      {"\0\0\0\u0018ftypheic\0\0\0\0", "HEIC"},
      {"\0\0\0\u001cftypmif1\0\0\0\0", "HEIC"},
      {"\0\0\0\u0020ftypavif\0\0\0\0", "AVIF"}
    };
    for (String[] file : named) {
      IOException n =
          assertThrows(
              IOException.class,
              () ->
                  ImageFiles.decode(
                      file[0].getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)));
      assertEquals(
          "a "
              + file[1]
              + " image, which this reader does not know (JPEG, PNG, BMP, GIF, TIFF): convert it"
              + " to JPEG or PNG",
          n.getMessage());
    }
  }

  /**
   * Every turn of every kind of image ImageIO decodes to keeps its type (a JPEG stays {@code
   * TYPE_3BYTE_BGR}, which Preprocess reads directly) and its samples: the turned image's pixel at
   * (x, y) is the stored one the orientation names.
   */
  @Test
  void turningKeepsTypeAndSamples() {
    Random r = new Random(3);
    int w = 67; // more than a 64-pixel square each way, and not a multiple of it
    int h = 70;
    int[] types = {
      BufferedImage.TYPE_3BYTE_BGR,
      BufferedImage.TYPE_4BYTE_ABGR,
      BufferedImage.TYPE_INT_RGB,
      BufferedImage.TYPE_INT_ARGB,
      BufferedImage.TYPE_BYTE_GRAY,
      BufferedImage.TYPE_USHORT_GRAY,
      BufferedImage.TYPE_BYTE_INDEXED,
      BufferedImage.TYPE_BYTE_BINARY
    };
    for (int type : types) {
      BufferedImage whole = new BufferedImage(w + 3, h + 2, type);
      for (int y = 0; y < h + 2; y++) {
        for (int x = 0; x < w + 3; x++) {
          whole.setRGB(x, y, r.nextInt());
        }
      }
      // a part of a larger image (its raster a window on the parent's array) takes the general
      // path; an image of its own, the direct one where its layout allows
      for (BufferedImage stored :
          new BufferedImage[] {
            whole.getSubimage(1, 2, w, h), copy(whole.getSubimage(2, 1, w, h))
          }) {
        turnsKeepTypeAndSamples(stored, type);
      }
    }
  }

  private static BufferedImage copy(BufferedImage image) {
    java.awt.image.ColorModel cm = image.getColorModel();
    java.awt.image.WritableRaster own =
        image.getRaster().createCompatibleWritableRaster(image.getWidth(), image.getHeight());
    return new BufferedImage(cm, image.copyData(own), cm.isAlphaPremultiplied(), null);
  }

  private static void turnsKeepTypeAndSamples(BufferedImage stored, int type) {
    int w = stored.getWidth();
    int h = stored.getHeight();
    assertSame(stored, ImageFiles.upright(stored, 1));
    assertSame(stored, ImageFiles.upright(stored, 0));
    for (int orientation = 2; orientation <= 8; orientation++) {
      BufferedImage turned = ImageFiles.upright(stored, orientation);
      String what = "type " + type + ", orientation " + orientation;
      assertEquals(type, turned.getType(), what);
      boolean swap = orientation >= 5;
      assertEquals(swap ? h : w, turned.getWidth(), what);
      assertEquals(swap ? w : h, turned.getHeight(), what);
      for (int y = 0; y < turned.getHeight(); y++) {
        for (int x = 0; x < turned.getWidth(); x++) {
          int[] s = storedAt(orientation, x, y, w, h);
          assertArrayEquals(
              stored.getRaster().getPixel(s[0], s[1], (int[]) null),
              turned.getRaster().getPixel(x, y, (int[]) null),
              what + " at " + x + "," + y);
        }
      }
    }
  }

  /** The stored pixel shown at (x, y), written out per orientation as EXIF defines them. */
  private static int[] storedAt(int orientation, int x, int y, int w, int h) {
    return switch (orientation) {
      case 2 -> new int[] {w - 1 - x, y};
      case 3 -> new int[] {w - 1 - x, h - 1 - y};
      case 4 -> new int[] {x, h - 1 - y};
      case 5 -> new int[] {y, x};
      case 6 -> new int[] {y, h - 1 - x}; // the stored left column becomes the top row
      case 7 -> new int[] {w - 1 - y, h - 1 - x};
      case 8 -> new int[] {w - 1 - y, x}; // the stored right column becomes the top row
      default -> throw new IllegalArgumentException();
    };
  }
}
