package dev.fingerspell.resnet;

import dev.fingerspell.tensor.Backends;
import dev.fingerspell.tensor.DType;
import dev.fingerspell.tensor.Tensor;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Evaluation preprocessing, as the design fixes it: decode to RGB, scale to [0, 1], resize to the
 * model's input size when the image has another size with bilinear interpolation exactly as
 * PyTorch's {@code F.interpolate(x, size, mode='bilinear', align_corners=False)} (half-pixel
 * centres, no antialiasing), then normalise per channel with the model's mean and std.
 *
 * @param size the square input size (224 for timm's resnet18)
 * @param mean per-channel mean, RGB
 * @param std per-channel standard deviation, RGB
 */
public record Preprocess(int size, float[] mean, float[] std) {
  /** timm's ImageNet mean. */
  public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};

  /** timm's ImageNet std. */
  public static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};

  /** 224×224 with the ImageNet statistics. */
  public static Preprocess imagenet() {
    return new Preprocess(224, IMAGENET_MEAN, IMAGENET_STD);
  }

  /** Checks the sizes. */
  public Preprocess {
    if (size < 1 || mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException("preprocessing needs a size and 3 means and 3 stds");
    }
    mean = mean.clone();
    std = std.clone();
  }

  /** One image as a {@code [1, 3, size, size]} batch. */
  public Tensor apply(BufferedImage image) {
    return Tensor.of(pixels(image), 1, 3, size, size);
  }

  /** Several images as one {@code [N, 3, size, size]} batch. */
  public Tensor apply(List<BufferedImage> images) {
    return batch(images.stream().map(this::pixels).toList());
  }

  /** Images' {@link #pixels} (or {@link #fromRgb}) as one {@code [N, 3, size, size]} batch. */
  public Tensor batch(List<float[]> pixels) {
    int per = 3 * size * size;
    float[] all = new float[pixels.size() * per];
    for (int i = 0; i < pixels.size(); i++) {
      System.arraycopy(pixels.get(i), 0, all, i * per, per);
    }
    return Tensor.of(all, pixels.size(), 3, size, size);
  }

  /**
   * A {@code [N, 3, size, size]} batch on the default device from 8-bit planar RGB images {@code
   * [3, h, w]}. Images already at the model's size go to the device as bytes and are normalised
   * there ({@link dev.fingerspell.tensor.Backend#normalizeImages}); others are resized first.
   */
  public Tensor batchFromRgb(List<byte[]> images, int h, int w) {
    int per = 3 * h * w;
    byte[] bytes = new byte[images.size() * per];
    for (int i = 0; i < images.size(); i++) {
      System.arraycopy(images.get(i), 0, bytes, i * per, per);
    }
    return batchFromRgb(MemorySegment.ofArray(bytes), images.size(), h, w);
  }

  /**
   * The same from {@code n} images stored one after another in {@code images} (a slice of a stored
   * shard, say): at the model's size they are read from there, with no copy of the batch on the
   * host before the device's own.
   */
  public Tensor batchFromRgb(MemorySegment images, int n, int h, int w) {
    return batchFromRgb(images, n, h, w, null);
  }

  /**
   * The same, written into {@code reuse} where it is a float tensor of the batch's shape on the
   * default device that needs no gradient (its values are overwritten), else into a new tensor; at
   * the model's size only. A loop over many batches then keeps its inputs' memory: each input of a
   * 224×224 batch of 32 is 19 MB, an object the JVM's G1 collector puts straight in the old
   * generation, and a fresh one each batch made a feature pass touch a 6 GB heap from end to end.
   */
  public Tensor batchFromRgb(MemorySegment images, int n, int h, int w, Tensor reuse) {
    long per = 3L * h * w;
    if (images.byteSize() != n * per) {
      throw new IllegalArgumentException(
          images.byteSize() + " bytes are not " + n + " images of 3×" + h + "×" + w);
    }
    if (h != size || w != size) {
      int out = 3 * size * size;
      float[] all = new float[n * out];
      for (int i = 0; i < n; i++) {
        byte[] chw = images.asSlice(i * per, per).toArray(ValueLayout.JAVA_BYTE);
        System.arraycopy(fromRgb(chw, h, w), 0, all, i * out, out);
      }
      return Tensor.of(all, n, 3, size, size);
    }
    int[] shape = {n, 3, size, size};
    boolean fits =
        reuse != null
            && reuse.dtype() == DType.FLOAT32
            && java.util.Arrays.equals(reuse.shape(), shape)
            && reuse.device().equals(Backends.defaultDevice())
            && !reuse.requiresGrad();
    Tensor out = fits ? reuse : Tensor.zeros(Backends.defaultDevice(), DType.FLOAT32, shape);
    out.backend().normalizeImages(images, mean, std, out);
    return out;
  }

  /** One image's normalised {@code [3, size, size]} values. */
  public float[] pixels(BufferedImage image) {
    return fromRgb(planarRgb(image), image.getHeight(), image.getWidth());
  }

  /** An image's pixels as 8-bit planar RGB {@code [3, h, w]} (any colour model, through sRGB). */
  public static byte[] planarRgb(BufferedImage image) {
    int w = image.getWidth();
    int h = image.getHeight();
    if (image.getType() == BufferedImage.TYPE_3BYTE_BGR
        && image.getColorModel().getColorSpace().isCS_sRGB()
        && image.getRaster().getDataBuffer() instanceof java.awt.image.DataBufferByte buffer
        && image.getRaster().getParent() == null
        && buffer.getNumBanks() == 1
        && buffer.getData().length == 3 * h * w) {
      // What a JPEG decodes to: interleaved B, G, R bytes, already sRGB. Reading them directly
      // skips getRGB's per-pixel colour-model calls, which cost more than the decode.
      byte[] bgr = buffer.getData();
      byte[] chw = new byte[3 * h * w];
      for (int i = 0; i < h * w; i++) {
        chw[i] = bgr[3 * i + 2];
        chw[h * w + i] = bgr[3 * i + 1];
        chw[2 * h * w + i] = bgr[3 * i];
      }
      return chw;
    }
    byte[] samples = fromSamples(image);
    if (samples != null) {
      return samples;
    }
    int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
    byte[] chw = new byte[3 * h * w];
    for (int i = 0; i < h * w; i++) {
      int p = argb[i];
      chw[i] = (byte) (p >> 16);
      chw[h * w + i] = (byte) (p >> 8);
      chw[2 * h * w + i] = (byte) p;
    }
    return chw;
  }

  /**
   * Gray and sRGB images of 8- or 16-bit samples read as Pillow's {@code convert("RGB")} reads
   * them, the reference pipeline's decode: a gray value is repeated in R, G and B (getRGB takes
   * Java's gray as linear light and would turn 128 into 188) and a 16-bit sample keeps its high
   * byte (getRGB rounds). Alpha is dropped, as both do. Null for other colour models (indexed,
   * packed RGB, CMYK, …), which getRGB converts.
   */
  private static byte[] fromSamples(BufferedImage image) {
    if (!(image.getColorModel() instanceof ComponentColorModel cm)
        || cm.isAlphaPremultiplied()
        || (cm.getTransferType() != DataBuffer.TYPE_BYTE
            && cm.getTransferType() != DataBuffer.TYPE_USHORT)) {
      return null;
    }
    ColorSpace space = cm.getColorSpace();
    int colours = space.getNumComponents();
    boolean gray = space.getType() == ColorSpace.TYPE_GRAY && colours == 1;
    if (!gray && !(space.isCS_sRGB() && colours == 3)) {
      return null;
    }
    int w = image.getWidth();
    int h = image.getHeight();
    int plane = h * w;
    byte[] chw = new byte[3 * plane];
    Raster raster = image.getRaster();
    int[] row = new int[w];
    for (int c = 0; c < colours; c++) {
      int shift = cm.getComponentSize(c) - 8;
      if (shift < 0) {
        return null; // fewer than 8 bits a sample: getRGB scales them up
      }
      for (int y = 0; y < h; y++) {
        raster.getSamples(0, y, w, 1, c, row);
        for (int x = 0; x < w; x++) {
          chw[c * plane + y * w + x] = (byte) (row[x] >>> shift);
        }
      }
    }
    if (gray) {
      System.arraycopy(chw, 0, chw, plane, plane);
      System.arraycopy(chw, 0, chw, 2 * plane, plane);
    }
    return chw;
  }

  /** Normalised {@code [3, size, size]} values from 8-bit planar RGB {@code [3, h, w]}. */
  public float[] fromRgb(byte[] chw, int h, int w) {
    float[] x;
    if (h != size || w != size) {
      x = resizeUnit(chw, 3, h, w, size, size);
    } else {
      x = new float[3 * h * w];
      for (int i = 0; i < x.length; i++) {
        x[i] = (chw[i] & 0xff) / 255f;
      }
    }
    int plane = size * size;
    for (int c = 0; c < 3; c++) {
      float m = mean[c];
      float s = std[c];
      for (int i = c * plane; i < (c + 1) * plane; i++) {
        x[i] = (x[i] - m) / s;
      }
    }
    return x;
  }

  /**
   * PyTorch's bilinear resize with {@code align_corners=False}: output pixel {@code o} samples the
   * source at {@code (o + 0.5) * in / out - 0.5}, clamped at 0, between its two neighbours (the
   * last one repeated at the edge).
   */
  public static float[] resizeBilinear(float[] src, int channels, int h, int w, int oh, int ow) {
    float[] out = new float[channels * oh * ow];
    resize(
        channels,
        h,
        w,
        oh,
        ow,
        (at, x0, x1, lx, row) -> {
          for (int x = 0; x < row.length; x++) {
            float wx1 = lx[x];
            float wx0 = 1f - wx1;
            row[x] = wx0 * src[at + x0[x]] + wx1 * src[at + x1[x]];
          }
        },
        into(out));
    return out;
  }

  /**
   * 8-bit samples scaled to [0, 1] and resized: to the bit what dividing each by 255 and {@link
   * #resizeBilinear(float[], int, int, int, int, int)} give (the same float operations in the same
   * order), without the full-size float copy: a 12-megapixel photo's would be 144 MB, and a
   * reduction reads only the source rows it samples.
   */
  static float[] resizeUnit(byte[] src, int channels, int h, int w, int oh, int ow) {
    float[] out = new float[channels * oh * ow];
    resize(
        channels,
        h,
        w,
        oh,
        ow,
        (at, x0, x1, lx, row) -> {
          for (int x = 0; x < row.length; x++) {
            float wx1 = lx[x];
            float wx0 = 1f - wx1;
            row[x] =
                wx0 * ((src[at + x0[x]] & 0xff) / 255f) + wx1 * ((src[at + x1[x]] & 0xff) / 255f);
          }
        },
        into(out));
    return out;
  }

  /**
   * The same resize on 8-bit samples, rounded back to 8 bits: to the bit what converting to float,
   * {@link #resizeBilinear(float[], int, int, int, int, int)} and {@link Math#round(float)} give,
   * at a third of the time (no full-size float copies, a rounding that vectorises).
   */
  public static byte[] resizeBilinear(byte[] src, int channels, int h, int w, int oh, int ow) {
    byte[] out = new byte[channels * oh * ow];
    resize(
        channels,
        h,
        w,
        oh,
        ow,
        (at, x0, x1, lx, row) -> {
          for (int x = 0; x < row.length; x++) {
            float wx1 = lx[x];
            float wx0 = 1f - wx1;
            row[x] = wx0 * (src[at + x0[x]] & 0xff) + wx1 * (src[at + x1[x]] & 0xff);
          }
        },
        (at, wy0, a, wy1, b) -> {
          for (int x = 0; x < a.length; x++) {
            out[at + x] = roundSample(wy0 * a[x] + wy1 * b[x]);
          }
        });
    return out;
  }

  /**
   * {@code Math.round(v)} as a byte, for the {@code v} a blend of 8-bit samples gives: in {@code
   * [0, 255.5)}, the weights being non-negative and summing to 1 within a few ulps. {@code v +
   * 0.5f} truncated is {@code Math.round} there except just below 0.5, where the float sum rounds
   * up to 1; {@code v + v} truncated is 0 below 0.5 and never less than the answer above it. Unlike
   * {@code Math.round} this vectorises, and rounding was most of the resize's time.
   */
  static byte roundSample(float v) {
    return (byte) (int) Math.min(v + 0.5f, v + v);
  }

  /** The float resizes' blend: output row {@code at} of {@code out} is the weighted sum. */
  private static Blend into(float[] out) {
    return (at, wy0, a, wy1, b) -> {
      for (int x = 0; x < a.length; x++) {
        out[at + x] = wy0 * a[x] + wy1 * b[x];
      }
    };
  }

  /** Interpolates the source row starting at {@code at} along x into {@code row}. */
  private interface AlongX {
    void row(int at, int[] x0, int[] x1, float[] lx, float[] row);
  }

  /** Writes output row {@code at}: {@code wy0 * a + wy1 * b}. */
  private interface Blend {
    void row(int at, float wy0, float[] a, float wy1, float[] b);
  }

  /**
   * Separable bilinear resize: a source row is interpolated along x once, into one of two row
   * buffers, and each output row blends two of them. The arithmetic is the 2-D formula's term for
   * term, {@code wy0 * (wx0 * a + wx1 * b) + wy1 * (wx0 * c + wx1 * d)}, so the result is the same
   * to the bit; the blend is contiguous and vectorises, and no source row is interpolated twice.
   */
  private static void resize(
      int channels, int h, int w, int oh, int ow, AlongX alongX, Blend blend) {
    int[] y0 = new int[oh];
    int[] y1 = new int[oh];
    float[] ly = new float[oh];
    axis(h, oh, y0, y1, ly);
    int[] x0 = new int[ow];
    int[] x1 = new int[ow];
    float[] lx = new float[ow];
    axis(w, ow, x0, x1, lx);
    float[][] rows = {new float[ow], new float[ow]};
    int[] held = new int[2];
    for (int c = 0; c < channels; c++) {
      int in = c * h * w;
      held[0] = -1;
      held[1] = -1;
      for (int y = 0; y < oh; y++) {
        int top = held[0] == y0[y] ? 0 : held[1] == y0[y] ? 1 : held[0] == y1[y] ? 1 : 0;
        if (held[top] != y0[y]) {
          alongX.row(in + y0[y] * w, x0, x1, lx, rows[top]);
          held[top] = y0[y];
        }
        int bottom = y1[y] == y0[y] ? top : 1 - top;
        if (held[bottom] != y1[y]) {
          alongX.row(in + y1[y] * w, x0, x1, lx, rows[bottom]);
          held[bottom] = y1[y];
        }
        float wy1 = ly[y];
        blend.row((c * oh + y) * ow, 1f - wy1, rows[top], wy1, rows[bottom]);
      }
    }
  }

  private static void axis(int in, int out, int[] i0, int[] i1, float[] lambda) {
    float scale = (float) in / out;
    for (int o = 0; o < out; o++) {
      float s = Math.max(scale * (o + 0.5f) - 0.5f, 0f);
      int lo = Math.min((int) s, in - 1);
      i0[o] = lo;
      i1[o] = lo < in - 1 ? lo + 1 : lo;
      lambda[o] = s - lo;
    }
  }
}
