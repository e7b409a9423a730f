package dev.fingerspell.resnet;

import java.util.ArrayList;
import java.util.List;

/**
 * The 29 classes of the ASL Alphabet data set in index order: the sorted folder names, as
 * torchvision's {@code ImageFolder} numbers them ({@code A}…{@code Z}, {@code del}, {@code
 * nothing}, {@code space}).
 */
public final class AslLabels {
  private AslLabels() {}

  /** The labels, index order. */
  public static final List<String> NAMES = build();

  private static List<String> build() {
    List<String> l = new ArrayList<>();
    for (char c = 'A'; c <= 'Z'; c++) {
      l.add(String.valueOf(c));
    }
    l.add("del");
    l.add("nothing");
    l.add("space");
    return List.copyOf(l);
  }
}
