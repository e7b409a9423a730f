package dev.fingerspell.resnet;

import dev.fingerspell.weights.IoErrors;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferInt;
import java.awt.image.DataBufferUShort;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.SampleModel;
import java.awt.image.SinglePixelPackedSampleModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Image files decoded the way they are displayed: a photo whose EXIF orientation says "rotate 90°"
 * (how phones store portrait photos) comes out upright, as Pillow's {@code
 * ImageOps.exif_transpose(Image.open(f))} gives it. Without the turn, a portrait photo of a hand
 * reaches the model lying on its side. A file without an orientation tag decodes as it is stored.
 * Otherwise the pixels are Pillow's {@code convert("RGB")}, the reference pipeline's: a colour
 * profile is not applied, a CMYK JPEG converts by Pillow's formula, and a JPEG cut short is
 * refused.
 */
public final class ImageFiles {
  private ImageFiles() {}

  /** What {@link #decode} reads, for messages. */
  public static final String FORMATS = "JPEG, PNG, BMP, GIF, TIFF";

  /**
   * The most pixels an image may have: Pillow's decompression-bomb limit ({@code 2 *
   * Image.MAX_IMAGE_PIXELS}), 537 MB of 8-bit RGB.
   */
  static final long MAX_PIXELS = 178_956_970;

  private static final String CUT_SHORT =
      "cut short: the file ends inside its image data (copy it again)";

  /** Reads and decodes an image file, turned upright. */
  public static BufferedImage read(Path file) throws IOException {
    return decode(Files.readAllBytes(file));
  }

  /**
   * Decodes an image file's bytes, turned upright by its EXIF orientation. Throws an IOException
   * with a one-line reason when no reader knows the format or the reader fails on the file (a
   * damaged file may also make a reader throw a RuntimeException, which this turns into one).
   */
  public static BufferedImage decode(byte[] bytes) throws IOException {
    // A JPEG's segments are walked once: the profile, the scan's end and the orientation read them
    List<Segment> jpeg =
        isJpeg(bytes) ? jpegSegments(new Bytes(bytes, 0, bytes.length, true)) : null;
    BufferedImage image;
    try {
      if (jpeg == null) {
        image = read(bytes, NOT_INKS);
      } else {
        int components = components(bytes, jpeg);
        image =
            read(
                withoutColourProfile(bytes, jpeg, components),
                components == 4 ? inks(bytes, jpeg) : NOT_INKS);
      }
    } catch (java.io.EOFException e) {
      throw new IOException(CUT_SHORT, e); // BMP's and TIFF's readers, with no message
    } catch (IOException | RuntimeException e) {
      throw new IOException("cannot decode: " + IoErrors.describe(e), e);
    }
    if (image == null) {
      String known = knownFormat(bytes);
      throw new IOException(
          known == null
              ? "not an image this reader knows (" + FORMATS + ")"
              : "a "
                  + known
                  + " image, which this reader does not know ("
                  + FORMATS
                  + "): convert it to JPEG or PNG");
    }
    if (jpeg != null && !jpegComplete(bytes, jpeg)) {
      // ImageIO only warns, and fills the missing part with gray; Pillow refuses the file
      throw new IOException(CUT_SHORT);
    }
    return upright(image, jpeg == null ? orientation(bytes) : jpegOrientation(bytes, jpeg));
  }

  /**
   * {@code ImageIO.read}, except that a colour JPEG's embedded colour profile is not applied: its
   * samples are taken as stored, as Pillow's {@code convert("RGB")} (and so the reference pipeline)
   * takes them. ImageIO would convert them from the profile to sRGB, so a phone photo tagged
   * Display P3 would reach the model with other values than in PyTorch, and slower. A CMYK JPEG
   * ({@code inks} {@link #CMYK} or {@link #YCCK}) is converted as Pillow converts it ({@link
   * #inksToRgb}). Null when no reader knows the format.
   */
  private static BufferedImage read(byte[] decoded, int inks) throws IOException {
    // ImageIO.read(InputStream) buffers the stream in a temporary file (ImageIO's default cache):
    // a third of a 200×200 JPEG's decode time, and disk traffic shared by every decoding thread.
    var in = new MemoryCacheImageInputStream(new ByteArrayInputStream(decoded));
    var readers = ImageIO.getImageReaders(in);
    if (!readers.hasNext()) {
      return null;
    }
    javax.imageio.ImageReader reader = readers.next();
    try {
      reader.setInput(in, true, true);
      long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
      if (pixels > MAX_PIXELS) {
        // the header alone asks for this much; a few such files would exhaust the heap
        throw new IOException(
            String.format(
                java.util.Locale.ROOT,
                "%d × %d pixels, more than the %,d read here (Pillow's limit too): scale it down",
                reader.getWidth(0),
                reader.getHeight(0),
                MAX_PIXELS));
      }
      if (inks != NOT_INKS) {
        // the samples as stored: ImageIO's read would convert them through a generic CMYK profile
        return inksToRgb(reader.readRaster(0, reader.getDefaultReadParam()), inks == YCCK);
      }
      return reader.read(0, reader.getDefaultReadParam());
    } finally {
      reader.dispose();
    }
  }

  /**
   * A three-component JPEG without its {@code ICC_PROFILE} segments (APP2), which is how ImageIO is
   * told to leave the samples alone: given a profile it converts, into whatever space it is asked
   * for ({@code components}: its frame's). Other JPEGs as they are: a gray one has no profile to
   * apply, a CMYK one is read raw.
   */
  private static byte[] withoutColourProfile(byte[] jpeg, List<Segment> segments, int components) {
    List<Segment> profiles = new ArrayList<>();
    for (Segment segment : segments) {
      if (segment.marker() == 0xE2 && startsWith(jpeg, segment, "ICC_PROFILE\0")) {
        profiles.add(segment);
      }
    }
    if (components != 3 || profiles.isEmpty()) {
      return jpeg;
    }
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(jpeg.length);
    int from = 0;
    for (Segment segment : profiles) {
      int start = segment.payload() - 4; // the marker and the length before the payload
      out.write(jpeg, from, start - from);
      from = segment.end();
    }
    out.write(jpeg, from, jpeg.length - from);
    return out.toByteArray();
  }

  /** Whether a segment's payload starts with {@code text}. */
  private static boolean startsWith(byte[] jpeg, Segment segment, String text) {
    int n = text.length();
    return segment.end() - segment.payload() >= n
        && new String(jpeg, segment.payload(), n, java.nio.charset.StandardCharsets.ISO_8859_1)
            .equals(text);
  }

  /** The number of components the JPEG's frame header (SOF0 to SOF15) gives, or -1. */
  private static int components(byte[] jpeg, List<Segment> segments) {
    for (Segment segment : segments) {
      int marker = segment.marker();
      boolean frame =
          marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
      if (frame && segment.payload() + 5 < segment.end()) {
        return jpeg[segment.payload() + 5] & 0xFF; // after precision, height and width
      }
    }
    return -1;
  }

  /** Not a four-component JPEG. */
  private static final int NOT_INKS = -1;

  /** A four-component JPEG stored as CMYK. */
  private static final int CMYK = 0;

  /** A four-component JPEG stored as YCCK (Y, Cb, Cr of the inverted C, M, Y; then K). */
  private static final int YCCK = 2;

  /**
   * How a four-component JPEG stores its inks, as libjpeg decides it: YCCK when an Adobe segment
   * (APP14) says any transform but 0, else CMYK.
   */
  private static int inks(byte[] jpeg, List<Segment> segments) {
    for (Segment segment : segments) {
      if (segment.marker() == 0xEE
          && segment.end() - segment.payload() >= 12
          && startsWith(jpeg, segment, "Adobe")) {
        return jpeg[segment.payload() + 11] == 0 ? CMYK : YCCK;
      }
    }
    return CMYK;
  }

  /**
   * Libjpeg's YCC-to-RGB tables (jdcolor.c), in 16-bit fixed point, by Cb or Cr sample: R adds
   * {@code CR_R}, B adds {@code CB_B}, G adds {@code (CB_G + CR_G) >> 16}.
   */
  private static final int[] CR_R = new int[256];

  private static final int[] CB_B = new int[256];
  private static final int[] CR_G = new int[256];
  private static final int[] CB_G = new int[256];

  static {
    for (int i = 0; i < 256; i++) {
      long x = i - 128;
      CR_R[i] = (int) ((fix(1.40200) * x + (1 << 15)) >> 16);
      CB_B[i] = (int) ((fix(1.77200) * x + (1 << 15)) >> 16);
      CR_G[i] = (int) (-fix(0.71414) * x);
      CB_G[i] = (int) (-fix(0.34414) * x + (1 << 15));
    }
  }

  private static long fix(double v) {
    return (long) (v * 65536 + 0.5);
  }

  /**
   * RGB from a CMYK JPEG's stored samples, as Pillow's {@code Image.open(f).convert("RGB")} makes
   * it: libjpeg turns YCCK into CMYK (Y, Cb, Cr to RGB, which is the inverted C, M, Y); Pillow
   * takes every CMYK JPEG's samples as inverted, as Adobe writes them; then each channel is {@code
   * nk - c·nk/255} (rounded as Pillow rounds), {@code nk} being 255 minus the black ink.
   */
  static BufferedImage inksToRgb(java.awt.image.Raster stored, boolean ycck) {
    int w = stored.getWidth();
    int h = stored.getHeight();
    BufferedImage rgb = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
    byte[] bgr = ((DataBufferByte) rgb.getRaster().getDataBuffer()).getData();
    int[] row = new int[4 * w];
    for (int y = 0; y < h; y++) {
      stored.getPixels(stored.getMinX(), stored.getMinY() + y, w, 1, row);
      for (int x = 0; x < w; x++) {
        int s0 = row[4 * x];
        int s1 = row[4 * x + 1];
        int s2 = row[4 * x + 2];
        int nk = row[4 * x + 3]; // the stored K is inverted: 255 minus the black ink
        int c; // the inks Pillow reads
        int m;
        int yellow;
        if (ycck) {
          c = clamp(s0 + CR_R[s2]);
          m = clamp(s0 + ((CB_G[s1] + CR_G[s2]) >> 16));
          yellow = clamp(s0 + CB_B[s1]);
        } else {
          c = 255 - s0;
          m = 255 - s1;
          yellow = 255 - s2;
        }
        int at = 3 * (y * w + x);
        bgr[at] = (byte) (nk - mulDiv255(yellow, nk));
        bgr[at + 1] = (byte) (nk - mulDiv255(m, nk));
        bgr[at + 2] = (byte) (nk - mulDiv255(c, nk));
      }
    }
    return rgb;
  }

  private static int clamp(int v) {
    return Math.max(0, Math.min(255, v));
  }

  /** {@code a·b/255} rounded, as Pillow's MULDIV255 computes it. */
  private static int mulDiv255(int a, int b) {
    int t = a * b + 128;
    return (t + (t >> 8)) >> 8;
  }

  /** The name of a common format ImageIO cannot read (phones save HEIC, browsers WebP), or null. */
  private static String knownFormat(byte[] file) {
    String head =
        new String(
            file, 0, Math.min(file.length, 12), java.nio.charset.StandardCharsets.ISO_8859_1);
    if (head.startsWith("RIFF") && head.length() == 12 && head.endsWith("WEBP")) {
      return "WebP";
    }
    if (head.length() == 12 && head.startsWith("ftyp", 4)) { // ISO media: HEIF and AVIF
      String brand = head.substring(8);
      return switch (brand) {
        case "avif", "avis" -> "AVIF";
        case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1" -> "HEIC";
        default -> null;
      };
    }
    return null;
  }

  private static boolean isJpeg(byte[] file) {
    return file.length >= 2 && (file[0] & 0xFF) == 0xFF && (file[1] & 0xFF) == 0xD8;
  }

  /**
   * Whether a JPEG's end-of-image marker follows its first scan. Inside scan data a 0xFF byte is
   * always followed by 0 or a restart marker, so FF D9 after the scan header can only be the end;
   * an earlier one may belong to a thumbnail. Bytes after the end (some cameras add them) are fine.
   * A file whose segments cannot be followed to a scan counts as complete: its reader judges.
   */
  private static boolean jpegComplete(byte[] file, List<Segment> segments) {
    int scan = -1;
    for (Segment segment : segments) {
      if (segment.marker() == 0xDA) {
        scan = segment.end();
      }
    }
    if (scan < 0) {
      return true;
    }
    for (int i = file.length - 2; i >= scan; i--) {
      if ((file[i] & 0xFF) == 0xFF && (file[i + 1] & 0xFF) == 0xD9) {
        return true;
      }
    }
    return false;
  }

  /**
   * The EXIF orientation (1 to 8) of a JPEG (its {@code Exif} APP1 segment), a PNG (its {@code
   * eXIf} chunk) or a TIFF; 1, as stored, when there is none or it cannot be read. A broken tag
   * never stops the image from decoding: the pixels are still good.
   */
  public static int orientation(byte[] file) {
    Bytes b = new Bytes(file, 0, file.length, true);
    if (isJpeg(file)) {
      return jpegOrientation(file, jpegSegments(b));
    }
    if (b.u32(0) == 0x89504E47L && b.u32(4) == 0x0D0A1A0AL) {
      return pngOrientation(b);
    }
    return tiffOrientation(file, 0, file.length);
  }

  private static int jpegOrientation(byte[] file, List<Segment> segments) {
    for (Segment segment : segments) {
      if (segment.marker() == 0xE1 && startsWith(file, segment, "Exif\0\0")) {
        return tiffOrientation(file, segment.payload() + 6, segment.end());
      }
    }
    return 1;
  }

  /** A JPEG segment: its marker, where its payload starts and where the segment ends. */
  private record Segment(int marker, int payload, int end) {}

  /**
   * A JPEG's segments, from its start to the first scan's header (SOS) included: all metadata comes
   * before it. Stops early where the markers stop making sense; the decoder, not this, says whether
   * the file is damaged.
   */
  private static List<Segment> jpegSegments(Bytes b) {
    List<Segment> segments = new ArrayList<>();
    int at = 2;
    while (at + 4 <= b.end) {
      if (b.u8(at) != 0xFF) {
        break; // not at a marker
      }
      int marker = b.u8(at + 1);
      if (marker == 0xFF) {
        at++; // fill byte
        continue;
      }
      if (marker == 0xD9) {
        break; // end of image
      }
      if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
        at += 2; // markers without a length
        continue;
      }
      int length = b.u16(at + 2);
      int end = at + 2 + length;
      if (length < 2 || end > b.end) {
        break;
      }
      segments.add(new Segment(marker, at + 4, end));
      if (marker == 0xDA) {
        break; // the scan's header; entropy-coded data follows
      }
      at = end;
    }
    return segments;
  }

  private static int pngOrientation(Bytes b) {
    int at = 8;
    while (at + 12 <= b.end) {
      long length = b.u32(at);
      long type = b.u32(at + 4);
      if (length > b.end - at - 12) {
        return 1;
      }
      if (type == 0x65584966L) { // "eXIf"
        int start = at + 8;
        if (b.u32(start) == 0x45786966L && b.u16(start + 4) == 0) {
          start += 6; // "Exif\0\0", which some writers put before the TIFF structure here too
        }
        return tiffOrientation(b.data, start, at + 8 + (int) length);
      }
      if (type == 0x49444154L || type == 0x49454E44L) { // "IDAT", "IEND": eXIf comes before
        return 1;
      }
      at += 12 + (int) length;
    }
    return 1;
  }

  /** The orientation tag (0x0112, a SHORT) of the first IFD of TIFF-structured bytes. */
  private static int tiffOrientation(byte[] data, int start, int end) {
    int order = new Bytes(data, start, end, true).u16(0);
    boolean bigEndian;
    if (order == 0x4949) { // "II": little-endian
      bigEndian = false;
    } else if (order == 0x4D4D) { // "MM": big-endian
      bigEndian = true;
    } else {
      return 1;
    }
    Bytes t = new Bytes(data, start, end, bigEndian);
    if (t.u16(2) != 42) {
      return 1;
    }
    long ifd = t.u32(4);
    if (ifd < 8 || ifd + 2 > t.end - t.start) {
      return 1;
    }
    int count = t.u16((int) ifd);
    for (int i = 0; i < count; i++) {
      int entry = (int) ifd + 2 + 12 * i;
      if (entry + 12 > t.end - t.start) {
        return 1;
      }
      if (t.u16(entry) == 0x0112) {
        int value = t.u16(entry + 8);
        boolean oneShort = t.u16(entry + 2) == 3 && t.u32(entry + 4) == 1;
        return oneShort && value >= 1 && value <= 8 ? value : 1;
      }
    }
    return 1;
  }

  /**
   * Reads unsigned integers at offsets from {@code start}; past {@code end} it reads -1, so a
   * truncated structure fails its checks instead of throwing.
   */
  private record Bytes(byte[] data, int start, int end, boolean bigEndian) {
    int u8(int at) {
      int i = start + at;
      return at >= 0 && i < end ? data[i] & 0xFF : -1;
    }

    int u16(int at) {
      int a = u8(at);
      int b = u8(at + 1);
      if (a < 0 || b < 0) {
        return -1;
      }
      return bigEndian ? a << 8 | b : b << 8 | a;
    }

    long u32(int at) {
      int a = u16(at);
      int b = u16(at + 2);
      if (a < 0 || b < 0) {
        return -1;
      }
      return bigEndian ? (long) a << 16 | b : (long) b << 16 | a;
    }
  }

  /**
   * The image as EXIF orientation {@code orientation} says to display it (1: as stored; 2 to 8:
   * mirrored and/or turned), with its colour model and sample layout kept, so its pixels read
   * exactly as the stored ones do.
   */
  public static BufferedImage upright(BufferedImage image, int orientation) {
    if (orientation < 2 || orientation > 8) {
      return image;
    }
    int w = image.getWidth();
    int h = image.getHeight();
    // Output pixel (x, y) is stored pixel (ax·x + bx·y + cx, ay·x + by·y + cy).
    int[] m =
        switch (orientation) {
          case 2 -> new int[] {-1, 0, w - 1, 0, 1, 0}; // mirrored left to right
          case 3 -> new int[] {-1, 0, w - 1, 0, -1, h - 1}; // turned 180°
          case 4 -> new int[] {1, 0, 0, 0, -1, h - 1}; // mirrored top to bottom
          case 5 -> new int[] {0, 1, 0, 1, 0, 0}; // transposed
          case 6 -> new int[] {0, 1, 0, -1, 0, h - 1}; // turned 90° clockwise
          case 7 -> new int[] {0, -1, w - 1, -1, 0, h - 1}; // transposed across the other diagonal
          default -> new int[] {0, -1, w - 1, 1, 0, 0}; // 8: turned 90° counter-clockwise
        };
    boolean turned = orientation >= 5;
    int ow = turned ? h : w;
    int oh = turned ? w : h;
    WritableRaster raster = image.getRaster();
    WritableRaster out = raster.createCompatibleWritableRaster(ow, oh);
    int k = raster.getNumDataElements();
    Object from = pixelArray(raster);
    Object to = pixelArray(out);
    boolean direct = from != null && to != null;
    if (!direct) {
      // The whole image's data elements in one primitive array (k per pixel, of the raster's
      // transfer type): any colour model, packed or not, keeps its samples. Slower: the raster
      // fills it pixel by pixel.
      from = raster.getDataElements(0, 0, w, h, null);
      to = java.lang.reflect.Array.newInstance(from.getClass().getComponentType(), k * ow * oh);
    }
    // In squares of 64 pixels: a turn reads the stored image down its columns, and a square's
    // source rows stay in cache between the output rows that read them.
    int step = m[3] * w + m[0];
    for (int y0 = 0; y0 < oh; y0 += 64) {
      for (int x0 = 0; x0 < ow; x0 += 64) {
        for (int y = y0; y < Math.min(y0 + 64, oh); y++) {
          int source = (m[4] * y + m[5]) * w + m[1] * y + m[2] + x0 * step;
          int target = y * ow + x0;
          move(from, source, step, to, target, Math.min(64, ow - x0), k);
        }
      }
    }
    if (!direct) {
      out.setDataElements(0, 0, ow, oh, to);
    }
    ColorModel cm = image.getColorModel();
    return new BufferedImage(cm, out, cm.isAlphaPremultiplied(), null);
  }

  /**
   * The raster's own array when it holds its pixels one after another, {@code getNumDataElements()}
   * array elements each, from index 0 (how ImageIO lays out a decoded JPEG, PNG or BMP, and how
   * createCompatibleWritableRaster makes one); else null.
   */
  private static Object pixelArray(WritableRaster raster) {
    DataBuffer buffer = raster.getDataBuffer();
    SampleModel model = raster.getSampleModel();
    int k = raster.getNumDataElements();
    boolean laidOut =
        raster.getParent() == null
            && raster.getSampleModelTranslateX() == 0
            && raster.getSampleModelTranslateY() == 0
            && buffer.getNumBanks() == 1
            && buffer.getOffset() == 0
            && switch (model) {
              case PixelInterleavedSampleModel p ->
                  p.getPixelStride() == k
                      && p.getScanlineStride() == k * raster.getWidth()
                      && java.util.Arrays.stream(p.getBandOffsets()).allMatch(o -> o >= 0 && o < k);
              case SinglePixelPackedSampleModel p ->
                  k == 1 && p.getScanlineStride() == raster.getWidth();
              default -> false;
            };
    if (!laidOut) {
      return null;
    }
    return switch (buffer) {
      case DataBufferByte b -> b.getData();
      case DataBufferUShort b -> b.getData();
      case DataBufferInt b -> b.getData();
      default -> null;
    };
  }

  /** Copies {@code n} pixels of {@code k} elements: source pixels {@code step} apart, to a row. */
  private static void move(Object from, int source, int step, Object to, int target, int n, int k) {
    if (from instanceof byte[] src && to instanceof byte[] dst) {
      for (int x = 0; x < n; x++, source += step) {
        for (int c = 0; c < k; c++) {
          dst[k * (target + x) + c] = src[k * source + c];
        }
      }
    } else if (k == 1 && from instanceof int[] src && to instanceof int[] dst) {
      for (int x = 0; x < n; x++, source += step) {
        dst[target + x] = src[source];
      }
    } else {
      for (int x = 0; x < n; x++, source += step) {
        System.arraycopy(from, k * source, to, k * (target + x), k);
      }
    }
  }
}
