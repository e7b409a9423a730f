package dev.fingerspell.weights;

/**
 * The safetensors dtypes, in the format's order (which is also the writer's sort order), with their
 * widths in bits.
 */
public enum SafeDType {
  BOOL(8),
  F4(4),
  F6_E2M3(6),
  F6_E3M2(6),
  U8(8),
  I8(8),
  F8_E5M2(8),
  F8_E4M3(8),
  F8_E8M0(8),
  F8_E4M3FNUZ(8),
  F8_E5M2FNUZ(8),
  I16(16),
  U16(16),
  F16(16),
  BF16(16),
  I32(32),
  U32(32),
  F32(32),
  C64(64),
  F64(64),
  I64(64),
  U64(64);

  private final int bits;

  SafeDType(int bits) {
    this.bits = bits;
  }

  /** Bits per element. */
  public int bits() {
    return bits;
  }

  /** Whether Fingerspell converts this dtype to float32 (F32, F16, BF16, F64). */
  public boolean isFloatConvertible() {
    return this == F32 || this == F16 || this == BF16 || this == F64;
  }

  /** The dtype named {@code name} exactly as the format spells it, or null. */
  static SafeDType byName(String name) {
    for (SafeDType d : values()) {
      if (d.name().equals(name)) {
        return d;
      }
    }
    return null;
  }
}
