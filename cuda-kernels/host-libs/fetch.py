#!/usr/bin/env python3
"""Fetches NVIDIA's cuDNN 9 and cuBLAS shared libraries for the host-side binding tests
(CudnnHostTest: descriptors, shapes and every downcall's arity need the real libraries, not a GPU).

They come from Maven Central, inside bytedeco's CUDA redistributable jar (2 GB): only the needed
members are read, with HTTP range requests, into a cache folder that is then named in
FINGERSPELL_CUDA_LIBS. Prints that folder; exits 1 (and the tests skip) when the download fails.

    python3 cuda-kernels/host-libs/fetch.py [CACHE_DIR]
"""
import io
import os
import sys
import urllib.request
import zipfile

JAR = ("https://repo1.maven.org/maven2/org/bytedeco/cuda/12.6-9.5-1.5.11/"
       "cuda-12.6-9.5-1.5.11-linux-x86_64-redist.jar")
PREFIX = "org/bytedeco/cuda/linux-x86_64/"
# cuDNN's front library and the sub-libraries its descriptor and legacy calls load (~90 MB
# compressed); cuBLAS with its Lt library (~390 MB) only when FINGERSPELL_HOST_CUBLAS=1.
CUDNN = ["libcudnn.so.9", "libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9"]
CUBLAS = ["libcublasLt.so.12", "libcublas.so.12"]


class RangeFile(io.RawIOBase):
    """A remote file read by HTTP range requests, so zipfile reads only what it needs."""

    def __init__(self, url):
        self.url, self.pos = url, 0
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=0-0"}),
                                    timeout=60) as r:
            self.size = int(r.headers["Content-Range"].split("/")[1])

    def seekable(self):
        return True

    def readable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=0):
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer):
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        request = urllib.request.Request(
            self.url, headers={"Range": f"bytes={self.pos}-{self.pos + n - 1}"})
        with urllib.request.urlopen(request, timeout=120) as r:
            data = r.read()
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)


def main(argv):
    cache = argv[0] if argv else os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
        "fingerspell", "cuda-host-libs-12.6-9.5")
    names = CUDNN + (CUBLAS if os.environ.get("FINGERSPELL_HOST_CUBLAS") == "1" else [])
    missing = [n for n in names if not os.path.exists(os.path.join(cache, n))]
    if missing:
        os.makedirs(cache, exist_ok=True)
        jar = zipfile.ZipFile(io.BufferedReader(RangeFile(JAR), buffer_size=1 << 20))
        for name in missing:
            target = os.path.join(cache, name)
            with jar.open(PREFIX + name) as src, open(target + ".part", "wb") as dst:
                while chunk := src.read(8 << 20):
                    dst.write(chunk)
            os.replace(target + ".part", target)  # a cut download never looks complete
    print(cache)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as e:  # no network, a moved jar: the host tests skip
        print(f"fetch.py: {e}", file=sys.stderr)
        sys.exit(1)
