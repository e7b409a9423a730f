package dev.fingerspell.tensor;

/**
 * The sizes of one 2-d convolution or pooling window over an NCHW input, with the output size
 * derived as PyTorch does: {@code (in + 2*pad - kernel) / stride + 1}, rounded down.
 *
 * @param batch N
 * @param inChannels C (for pooling, the channels, which pass through)
 * @param inHeight H
 * @param inWidth W
 * @param outChannels output channels (for pooling, equal to C)
 * @param kernelH window height
 * @param kernelW window width
 * @param strideH vertical stride
 * @param strideW horizontal stride
 * @param padH zero (or, for max-pooling, never-winning) rows added at the top and bottom
 * @param padW columns added at the left and right
 */
public record ConvGeometry(
    int batch,
    int inChannels,
    int inHeight,
    int inWidth,
    int outChannels,
    int kernelH,
    int kernelW,
    int strideH,
    int strideW,
    int padH,
    int padW) {

  /**
   * The geometry of convolving {@code x [N, C, H, W]} with {@code weight [OC, C, KH, KW]}; the
   * caller has checked that the channels agree.
   */
  public static ConvGeometry of(
      Tensor x, Tensor weight, int strideH, int strideW, int padH, int padW) {
    return new ConvGeometry(
        x.size(0),
        x.size(1),
        x.size(2),
        x.size(3),
        weight.size(0),
        weight.size(2),
        weight.size(3),
        strideH,
        strideW,
        padH,
        padW);
  }

  /** Validates that the window fits and every size is positive. */
  public ConvGeometry {
    // the fields are not assigned yet in here, so `this` would print zeros: the message is made
    // from the arguments
    String problem =
        batch < 1 || inChannels < 1 || inHeight < 1 || inWidth < 1 || outChannels < 1
            ? "conv sizes must be positive"
            : kernelH < 1 || kernelW < 1 || strideH < 1 || strideW < 1 || padH < 0 || padW < 0
                ? "bad kernel/stride/padding"
                : inHeight + 2 * padH < kernelH || inWidth + 2 * padW < kernelW
                    ? "kernel larger than padded input"
                    : null;
    if (problem != null) {
      throw new IllegalArgumentException(
          "%s: input [%d, %d, %d, %d], %d output channels, kernel %dx%d, stride %dx%d, padding %dx%d"
              .formatted(
                  problem,
                  batch,
                  inChannels,
                  inHeight,
                  inWidth,
                  outChannels,
                  kernelH,
                  kernelW,
                  strideH,
                  strideW,
                  padH,
                  padW));
    }
  }

  /** Whether the window is square with this kernel, stride and padding in both directions. */
  public boolean isSquare(int kernel, int stride, int pad) {
    return kernelH == kernel
        && kernelW == kernel
        && strideH == stride
        && strideW == stride
        && padH == pad
        && padW == pad;
  }

  /** Output height. */
  public int outHeight() {
    return (inHeight + 2 * padH - kernelH) / strideH + 1;
  }

  /** Output width. */
  public int outWidth() {
    return (inWidth + 2 * padW - kernelW) / strideW + 1;
  }

  /** The output shape {@code [N, outChannels, OH, OW]}. */
  public int[] outShape() {
    return new int[] {batch, outChannels, outHeight(), outWidth()};
  }

  /** The multiply-adds of the convolution (not of pooling). */
  public long macs() {
    return (long) batch * outChannels * outHeight() * outWidth() * inChannels * kernelH * kernelW;
  }
}
