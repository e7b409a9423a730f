package dev.fingerspell.train.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class MultipartTest {
  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void boundaryComesFromTheContentType() {
    assertEquals("abc", Multipart.boundary("multipart/form-data; boundary=abc"));
    assertEquals("a b;c", Multipart.boundary("Multipart/Form-Data; charset=x; boundary=\"a b;c\""));
    assertNull(Multipart.boundary("image/jpeg"));
    assertNull(Multipart.boundary(null));
    assertThrows(
        Multipart.MalformedException.class, () -> Multipart.boundary("multipart/form-data"));
  }

  /** As curl -F sends it: a field and two files, binary content with CR and LF inside. */
  @Test
  void splitsFieldsAndFiles() {
    byte[] binary = {(byte) 0xff, (byte) 0xd8, '\r', '\n', '-', '-', 'x', 0, '\r', '\n'};
    String head =
        "preamble to ignore\r\n"
            + "--XyZ\r\n"
            + "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
            + "hello\r\n"
            + "--XyZ\r\n"
            + "content-disposition: form-data; name=\"file\"; filename=\"h\\\"and.jpg\"\r\n"
            + "Content-Type: image/jpeg\r\n\r\n";
    String tail =
        "\r\n--XyZ \r\n" // transport padding after a delimiter is allowed
            + "Content-Disposition: form-data; name=\"files\";"
            + " filename*=UTF-8''m%C3%A4in+1.png; filename=\"fallback.png\"\r\n\r\n"
            + "\r\n--XyZ--\r\nepilogue";
    byte[] body = concat(bytes(head), binary, bytes(tail));
    List<Multipart.Part> parts = Multipart.parse(body, "XyZ");
    assertEquals(3, parts.size());
    assertEquals("note", parts.get(0).name());
    assertNull(parts.get(0).filename());
    assertArrayEquals(bytes("hello"), parts.get(0).data());
    assertEquals("h\"and.jpg", parts.get(1).filename());
    assertEquals("image/jpeg", parts.get(1).contentType());
    assertArrayEquals(binary, parts.get(1).data());
    assertEquals("mäin+1.png", parts.get(2).filename());
    assertEquals(0, parts.get(2).data().length);
  }

  @Test
  void aPartWithoutHeadersOrTheCloseIsMalformed() {
    assertThrows(
        Multipart.MalformedException.class,
        () -> Multipart.parse(bytes("--b\r\n\r\nno disposition\r\n--b--"), "b"));
    assertThrows(
        Multipart.MalformedException.class,
        () ->
            Multipart.parse(
                bytes("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ncut"), "b"));
    assertThrows(
        Multipart.MalformedException.class,
        () -> Multipart.parse(bytes("--b\r\nContent-Disposition: form-data; name"), "b"));
    assertThrows(Multipart.MalformedException.class, () -> Multipart.parse(bytes("junk"), "b"));
    assertThrows(
        Multipart.MalformedException.class,
        () ->
            Multipart.parse(
                bytes("--b\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\n1\r\n--b--"),
                "b"));
  }

  static byte[] concat(byte[]... pieces) {
    int n = 0;
    for (byte[] p : pieces) {
      n += p.length;
    }
    byte[] out = new byte[n];
    int at = 0;
    for (byte[] p : pieces) {
      System.arraycopy(p, 0, out, at, p.length);
      at += p.length;
    }
    return out;
  }
}
