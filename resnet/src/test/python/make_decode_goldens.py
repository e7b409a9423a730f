#!/usr/bin/python3
"""Writes the decode goldens (src/test/resources/goldens/decode/): small image files in the forms a
user hands `predict` or `data prepare`, and what Pillow's
ImageOps.exif_transpose(Image.open(f)).convert("RGB") makes of each, the reference pipeline's
decode turned upright as the file's EXIF orientation says (phones store portrait photos turned), as
raw interleaved RGB bytes (NAME.rgb). Without an orientation tag that is Image.open(f).convert("RGB").

    /usr/bin/python3 resnet/src/test/python/make_decode_goldens.py
"""
import os
import random

import struct

from PIL import Image, ImageCms, ImageOps

OUT = os.path.join(os.path.dirname(__file__), "..", "resources", "goldens", "decode")
W, H = 37, 29  # odd sizes: chroma subsampling's edge blocks


def picture(mode):
    rng = random.Random(7)
    im = Image.new("RGB", (W, H))
    px = im.load()
    for y in range(H):
        for x in range(W):
            px[x, y] = ((x * 7 + y) % 256, (y * 9 + rng.randint(0, 60)) % 256, (x * y) % 256)
    return im.convert(mode)


def inks():
    """A CMYK picture whose black ink varies too (converting an RGB picture would leave it 0)."""
    rng = random.Random(7)
    im = Image.new("CMYK", (W, H))
    px = im.load()
    for y in range(H):
        for x in range(W):
            px[x, y] = ((x * 7 + y) % 256, (y * 9 + rng.randint(0, 60)) % 256, (x * y) % 256, (x * 3 + y * 5) % 256)
    return im


def adobe_transform(path, transform):
    """Rewrites the Adobe segment's transform byte: 2 makes libjpeg read the four components as
    YCCK (Photoshop's way of storing CMYK), None drops the segment (then libjpeg assumes CMYK)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    at = data.index(b"Adobe")  # the APP14 payload; its marker and length are the 4 bytes before
    if transform is None:
        length = int.from_bytes(data[at - 2 : at], "big")
        del data[at - 4 : at - 2 + length]
    else:
        data[at + 11] = transform
    with open(path, "wb") as f:
        f.write(data)


def exif(orientation, big_endian=False):
    """An Exif APP1 payload whose first IFD holds only the orientation tag (a SHORT)."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"Exif\x00\x00" + tiff + struct.pack(e + "I", 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "rgb-420-q75.jpg": lambda p: picture("RGB").save(p, quality=75, subsampling=2),
        "rgb-444-q95.jpg": lambda p: picture("RGB").save(p, quality=95, subsampling=0),
        "rgb-422-q85.jpg": lambda p: picture("RGB").save(p, quality=85, subsampling=1),
        "gray-q90.jpg": lambda p: picture("L").save(p, quality=90),
        "gray.png": lambda p: picture("L").save(p),
        "gray-alpha.png": lambda p: picture("LA").save(p),
        "rgba.png": lambda p: picture("RGBA").save(p),
        "palette.png": lambda p: picture("P").save(p),
        "palette.gif": lambda p: picture("P").save(p),
        "rgb.bmp": lambda p: picture("RGB").save(p),
        # a photo's EXIF orientation: every one of the seven turns and mirrors, both byte orders,
        # and the same tag in a PNG's eXIf chunk and in a TIFF's own first IFD
        **{
            f"exif-{o}.jpg": (lambda o: lambda p: picture("RGB").save(p, quality=90, exif=exif(o)))(o)
            for o in range(2, 9)
        },
        "exif-8-big-endian.jpg": lambda p: picture("RGB").save(p, quality=90, exif=exif(8, True)),
        "exif-6.png": lambda p: picture("RGB").save(p, exif=exif(6)),
        "exif-6.tif": lambda p: picture("RGB").save(p, exif=exif(6)),
        # CMYK as Photoshop and print workflows save it: stored as CMYK or YCCK, with a subsampled
        # component, and without the Adobe segment
        "cmyk.jpg": lambda p: inks().save(p, quality=90),
        "cmyk-420.jpg": lambda p: inks().save(p, quality=90, subsampling=2),
        "ycck.jpg": lambda p: (inks().save(p, quality=90), adobe_transform(p, 2)),
        "ycck-420.jpg": lambda p: (inks().save(p, quality=90, subsampling=2), adobe_transform(p, 2)),
        "cmyk-no-adobe.jpg": lambda p: (inks().save(p, quality=90), adobe_transform(p, None)),
        # a colour profile, which Pillow does not apply (ImageIO would)
        "icc-xyz.jpg": lambda p: picture("RGB").save(
            p, quality=90, icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("XYZ")).tobytes()
        ),
    }
    for name, save in files.items():
        path = os.path.join(OUT, name)
        save(path)
        with open(path + ".rgb", "wb") as f:
            im = Image.open(path)
            if name.endswith(".tif"):
                # Pillow 9.4 reads a TIFF with an orientation tag already turned (libtiff does it)
                # but keeps the stored size, so its result is no reference: the golden is the
                # picture written, turned as orientation 6 says (90° clockwise, ROTATE_270)
                upright = picture("RGB").transpose(Image.Transpose.ROTATE_270)
            else:
                upright = ImageOps.exif_transpose(im).convert("RGB")
            f.write(upright.tobytes())
        print(name, os.path.getsize(path))


if __name__ == "__main__":
    main()
