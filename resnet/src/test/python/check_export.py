#!/usr/bin/python3
"""Checks a model file that Fingerspell wrote: torchvision's resnet18 must load it with
strict=True and reproduce Fingerspell's logits.

    /usr/bin/python3 resnet/src/test/python/check_export.py MODEL.safetensors LOGITS.json

LOGITS.json holds {"image_seed": S, "height": H, "width": W, "logits": [...]}: the seeded image
(seeded.py) and the logits Java computed for it. Prints the relative error; exits 1 above 1e-4.
Reads safetensors with numpy alone (the safetensors package is not needed).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from seeded import Rng  # noqa: E402

DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta


def main(model_path, logits_path):
    tensors, meta = read_safetensors(model_path)
    with open(logits_path) as f:
        want = json.load(f)
    classes = tensors["fc.weight"].shape[0]
    m = torchvision.models.resnet18(num_classes=classes)
    m.load_state_dict(tensors, strict=True)
    m.eval()
    size = json.loads(meta.get("input_size", "[3,224,224]"))[-1]
    mean = torch.tensor(json.loads(meta.get("mean", "[0.485,0.456,0.406]"))).view(3, 1, 1)
    std = torch.tensor(json.loads(meta.get("std", "[0.229,0.224,0.225]"))).view(3, 1, 1)
    h, w = want["height"], want["width"]
    chw = Rng(want["image_seed"]).bytes(3 * h * w).reshape(3, h, w)
    x = torch.from_numpy(chw.copy()).float() / 255
    if (h, w) != (size, size):
        x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    x = ((x - mean) / std)[None]
    with torch.no_grad():
        logits = m(x)[0].double().numpy()
    java = np.array(want["logits"], dtype=np.float64)
    err = np.linalg.norm(logits - java) / np.linalg.norm(java)
    labels = json.loads(meta["labels"]) if "labels" in meta else None
    print(f"strict load OK: {len(tensors)} tensors, {classes} classes, labels {labels[:3] if labels else None}...")
    print(f"logits relative error torchvision vs Fingerspell: {err:.3e}")
    return 0 if err < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
