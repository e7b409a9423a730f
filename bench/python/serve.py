#!/usr/bin/python3
"""The Python stack's service, for bench/serve-compare: FastAPI + uvicorn + PyTorch (Debian's
python3-fastapi, python3-uvicorn, python3-torch, python3-torchvision), serving the same model file
with the same answer as `fingerspell serve`'s POST /predict.

    /usr/bin/python3 bench/python/serve.py MODEL.safetensors PORT THREADS

As FastAPI's documentation recommends for blocking work, the endpoint is a plain `def`: FastAPI
runs it on its thread pool, so concurrent requests run side by side, each a batch of one.
"""
import io
import json
import struct
import sys

import torch
import torchvision
import uvicorn
from fastapi import FastAPI, File, HTTPException, UploadFile
from PIL import Image
from torchvision.transforms import functional as F


def read_safetensors(path):
    """The tensors of a safetensors file, and its metadata (float32 and int64 only)."""
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        dtype = {"F32": torch.float32, "I64": torch.int64}[t["dtype"]]
        raw = bytearray(data[8 + size + start : 8 + size + end])
        tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(t["shape"])
    return tensors, meta


model_path, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
state, meta = read_safetensors(model_path)
labels = json.loads(meta["labels"])
size = json.loads(meta["input_size"])[-1]
mean, std = json.loads(meta["mean"]), json.loads(meta["std"])
model = torchvision.models.resnet18(num_classes=len(labels))
model.load_state_dict(state, strict=True)
model.eval()

app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(file: UploadFile = File(...), top_k: int = 3):
    try:
        image = Image.open(io.BytesIO(file.file.read())).convert("RGB")
    except Exception as e:
        raise HTTPException(status_code=400, detail=f"{file.filename}: not an image ({e})")
    x = F.to_tensor(image)
    if x.shape[1:] != (size, size):
        x = torch.nn.functional.interpolate(
            x[None], size=(size, size), mode="bilinear", align_corners=False
        )[0]
    x = F.normalize(x, mean, std)[None]
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)[0]
    top = torch.topk(probs, min(top_k, len(labels)))
    return {
        "image": file.filename,
        "predictions": [
            {"label": labels[i], "index": int(i), "probability": float(p)}
            for p, i in zip(top.values.tolist(), top.indices.tolist())
        ],
    }


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
