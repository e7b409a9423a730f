#!/usr/bin/python3
"""Writes the decode goldens (src/test/resources/goldens/decode/): small image files in the forms a
user hands `predict` or `data prepare`, and what Pillow's Image.open(f).convert("RGB") makes of each,
the reference pipeline's decode, as raw interleaved RGB bytes (NAME.rgb).

    /usr/bin/python3 resnet/src/test/python/make_decode_goldens.py
"""
import os
import random

from PIL import Image

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
    }
    for name, save in files.items():
        path = os.path.join(OUT, name)
        save(path)
        with open(path + ".rgb", "wb") as f:
            f.write(Image.open(path).convert("RGB").tobytes())
        print(name, os.path.getsize(path))


if __name__ == "__main__":
    main()
