#!/usr/bin/python3
"""PyTorch's side of bench/compare: the same measurements as dev.fingerspell.bench.Measure, on the
same shapes, with Debian's python3-torch and torchvision (resnet18 has timm's topology). Prints one
line ending in `value=X`.

    /usr/bin/python3 bench/python/measure.py THREADS forward BATCH SIZE SECONDS   images/s
    /usr/bin/python3 bench/python/measure.py THREADS eval    BATCH SIZE SECONDS   images/s (same)
    /usr/bin/python3 bench/python/measure.py THREADS train   BATCH SIZE SECONDS   images/s
    /usr/bin/python3 bench/python/measure.py THREADS head    COUNT BATCH EPOCHS   seconds
    /usr/bin/python3 bench/python/measure.py THREADS features BATCH SIZE SECONDS  images/s

Options before THREADS: --device cuda (TF32 off, as Fingerspell; the output is copied back each
pass, as Fingerspell's is) and --warm-up SECONDS (default 5).
"""
import sys
import time

import torch

CLASSES = 29
DEVICE = "cpu"


def resnet18():
    """torchvision's resnet18, else timm's (the GPU machine has timm only): the same network."""
    try:
        import torchvision
        return torchvision.models.resnet18(num_classes=CLASSES)
    except ImportError:
        import timm
        return timm.create_model("resnet18", num_classes=CLASSES)


# Warm-up before timing, the same rule as Measure.java: at least 3 passes and 5 seconds (the JVM
# side compiles, and recompiles, its kernels for several seconds).
WARM_UP_PASSES = 3
WARM_UP_SECONDS = 5.0


def sync(t):
    """The result on the host: waits for the device, as Fingerspell's download does."""
    return t.cpu() if DEVICE != "cpu" else t


def images_per_second(batch, seconds, step):
    start = time.perf_counter()
    passes = 0
    while passes < WARM_UP_PASSES or time.perf_counter() - start < WARM_UP_SECONDS:
        step()
        passes += 1
    images = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or images == 0:
        step()
        images += batch
    return images / (time.perf_counter() - start)


def inference(batch, size, seconds):
    model = resnet18().eval().to(DEVICE)
    x = torch.randn(batch, 3, size, size).to(DEVICE)
    with torch.no_grad():
        return images_per_second(batch, seconds, lambda: sync(model(x)))


def features(batch, size, seconds):
    """The feature cache's pass as PyTorch does it well: 8-bit images in pinned host memory, copied
    without blocking, normalised on the device, the backbone without its head, features back."""
    model = resnet18().eval().to(DEVICE)
    model.fc = torch.nn.Identity()
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
    if DEVICE != "cpu":
        images = images.pin_memory()
    mean = torch.tensor([0.485, 0.456, 0.406], device=DEVICE).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=DEVICE).view(1, 3, 1, 1)

    def step():
        x = images.to(DEVICE, non_blocking=True).float().div_(255).sub_(mean).div_(std)
        model(x).cpu()

    with torch.no_grad():
        return images_per_second(batch, seconds, step)


def training(batch, size, seconds):
    model = resnet18().train().to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size).to(DEVICE)
    y = (torch.arange(batch) % CLASSES).to(DEVICE)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()

    return images_per_second(batch, seconds, step)


def head_epoch(count, batch, epochs):
    """The original recipe's head loop: shuffled mini-batches through a Linear(512, 29)."""
    fc = torch.nn.Linear(512, CLASSES).to(DEVICE)
    opt = torch.optim.AdamW(fc.parameters(), lr=1e-3, weight_decay=1e-4)
    features = (torch.rand(count, 512) * 4).to(DEVICE)
    labels = (torch.arange(count) % CLASSES).to(DEVICE)
    best = float("inf")
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        perm = torch.randperm(count, device=DEVICE)
        correct = 0
        for i in range(0, count, batch):
            idx = perm[i:i + batch]
            logits = fc(features[idx])
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
            correct += (logits.argmax(1) == labels[idx]).sum().item()
        if epoch > 0:
            best = min(best, time.perf_counter() - start)
    return best


def tf32_off():
    """Full float32 in cuDNN's convolutions and cuBLAS's products, as Fingerspell by default.

    PyTorch 2.9 and later have per-operator settings (torch.backends.cudnn.conv.fp32_precision,
    whose default is "tf32"); there the legacy allow_tf32 flags are deprecated, and mixing the two
    kinds of flag raises. Older versions have the legacy flags only. What was set is printed to
    stderr, so a benchmark's log says how PyTorch ran.
    """
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        print("pytorch tf32 off: cudnn.conv.fp32_precision=%s cuda.matmul.fp32_precision=%s"
              % (torch.backends.cudnn.conv.fp32_precision,
                 torch.backends.cuda.matmul.fp32_precision), file=sys.stderr)
    else:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        print("pytorch tf32 off: cudnn.allow_tf32=%s cuda.matmul.allow_tf32=%s"
              % (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32),
              file=sys.stderr)


def main(argv):
    global DEVICE, WARM_UP_SECONDS
    while argv and argv[0].startswith("--"):
        if argv[0] == "--device":
            DEVICE = argv[1]
            tf32_off()
        elif argv[0] == "--warm-up":
            WARM_UP_SECONDS = float(argv[1])
        else:
            raise SystemExit(f"unknown option {argv[0]}")
        argv = argv[2:]
    torch.set_num_threads(int(argv[0]))
    what, a, b, c = argv[1], int(argv[2]), int(argv[3]), argv[4]
    if what in ("forward", "eval"):
        value = inference(a, b, float(c))
    elif what == "train":
        value = training(a, b, float(c))
    elif what == "features":
        value = features(a, b, float(c))
    elif what == "head":
        value = head_epoch(a, b, int(c))
    else:
        raise SystemExit(f"unknown measurement {what}")
    print(f"pytorch {what} {a} {b} {c} value={value:.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
