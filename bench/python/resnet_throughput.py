#!/usr/bin/python3
"""The PyTorch side of bench/compare: torchvision resnet18 (timm's topology) evaluation forward,
timed after warm-up on the same shapes. Prints `pytorch batch=B size=S img_per_s=X`.

    /usr/bin/python3 bench/python/resnet_throughput.py BATCH SIZE SECONDS THREADS
"""
import sys
import time

import torch
import torchvision


def main(batch, size, seconds, threads):
    torch.set_num_threads(threads)
    model = torchvision.models.resnet18(num_classes=29).eval()
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        for _ in range(2):
            model(x)
        images = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or images == 0:
            model(x)
            images += batch
        elapsed = time.perf_counter() - start
    print(f"pytorch batch={batch} size={size} img_per_s={images / elapsed:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
