#!/usr/bin/python3
"""Writes resnet's PyTorch goldens (src/test/resources/goldens/resnet18.json).

    /usr/bin/python3 resnet/src/test/python/make_goldens.py

torchvision's resnet18 has timm's resnet18 topology and parameter names. Its weights and the input
images are drawn from the seeded generator in seeded.py, which the Java tests reimplement, so only
the logits are committed.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from seeded import Rng, fill_weights  # noqa: E402

WEIGHT_SEED = 2026
IMAGE_SEED = 1234
CLASSES = 29
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
OUT = os.path.join(os.path.dirname(__file__), "..", "resources", "goldens", "resnet18.json")


def model():
    m = torchvision.models.resnet18(num_classes=CLASSES)
    weights = fill_weights(m.state_dict(), WEIGHT_SEED)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    return m.eval()


def images():
    rng = Rng(IMAGE_SEED)
    return [(h, w, rng.bytes(3 * h * w).reshape(3, h, w)) for h, w in [(224, 224), (200, 200), (190, 250)]]


def preprocess(chw, size=224):
    x = torch.from_numpy(chw.copy()).float() / 255
    if x.shape[1:] != (size, size):
        x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    return (x - MEAN) / STD


def main():
    torch.set_num_threads(2)
    m = model()
    cases = []
    with torch.no_grad():
        for h, w, chw in images():
            x = preprocess(chw)[None]
            feats = torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(
                m.maxpool(m.relu(m.bn1(m.conv1(x))))))))), 1)
            logits = m.fc(feats)
            cases.append({
                "name": f"{h}x{w}", "height": h, "width": w,
                "logits": [float(v) for v in logits[0]],
                "features_head": [float(v) for v in feats[0, :16]],
            })
    # bilinear resize on its own, up and down, odd sizes
    rng = Rng(99)
    src = rng.uniform(0, 1, 3 * 5 * 7).reshape(3, 5, 7)
    resize = []
    for oh, ow in [(4, 9), (8, 3), (11, 13)]:
        y = F.interpolate(torch.from_numpy(src)[None], size=(oh, ow), mode="bilinear", align_corners=False)
        resize.append({"height": oh, "width": ow, "out": [float(v) for v in y.flatten()]})
    with open(OUT, "w") as f:
        json.dump({
            "generator": "resnet/src/test/python/make_goldens.py", "torch": torch.__version__,
            "torchvision": torchvision.__version__, "weight_seed": WEIGHT_SEED,
            "image_seed": IMAGE_SEED, "classes": CLASSES, "cases": cases,
            "resize_seed": 99, "resize_source": [3, 5, 7], "resize": resize,
        }, f, indent=1)
    print(OUT)


if __name__ == "__main__":
    main()
