#!/usr/bin/python3
"""Writes the PyTorch goldens that tensor-core's tests compare against.

Run with Debian's interpreter, where python3-torch is installed (apt-get install python3-torch):

    /usr/bin/python3 tensor-core/src/test/python/make_goldens.py

Each file under src/test/resources/goldens/ holds cases of inputs and PyTorch's outputs as JSON
(shape + row-major values; float32 values are written exactly). The tests read them without
Python. Inputs come from torch's seeded generator: rerunning rewrites the same files.
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "resources", "goldens")
torch.manual_seed(20261126)


def t(x):
    x = x.detach()
    if x.dtype == torch.int64:
        return {"shape": list(x.shape), "dtype": "int64", "data": [int(v) for v in x.flatten()]}
    return {"shape": list(x.shape), "data": [float(v) for v in x.float().flatten()]}


def write(name, cases):
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump({"generator": "make_goldens.py", "torch": torch.__version__, "cases": cases}, f)
    print(path, len(cases), "cases")


def conv_cases():
    cases = []
    for name, n, c, h, w, oc, k, stride, pad, bias in [
        ("3x3 s1 p1 bias", 2, 3, 7, 7, 4, 3, 1, 1, True),
        ("7x7 s2 p3 stem-like odd", 1, 3, 11, 9, 5, 7, 2, 3, False),
        ("1x1 s2 downsample", 2, 4, 6, 6, 6, 1, 2, 0, False),
        ("3x3 s2 p1 bias odd", 3, 2, 5, 5, 3, 3, 2, 1, True),
        ("1x1 s1 pointwise", 2, 5, 4, 3, 3, 1, 1, 0, True),
    ]:
        x = torch.randn(n, c, h, w, requires_grad=True)
        wt = torch.randn(oc, c, k, k, requires_grad=True)
        b = torch.randn(oc, requires_grad=True) if bias else None
        y = F.conv2d(x, wt, b, stride=stride, padding=pad)
        g = torch.randn_like(y)
        y.backward(g)
        tensors = {"x": t(x), "w": t(wt), "y": t(y), "g": t(g), "dx": t(x.grad), "dw": t(wt.grad)}
        if bias:
            tensors.update(b=t(b), db=t(b.grad))
        cases.append({"name": name, "params": {"stride": stride, "padding": pad}, "tensors": tensors})
    return cases


def bn_cases():
    cases = []
    for name, shape, training in [
        ("train 4x3x5x5", (4, 3, 5, 5), True),
        ("train batch 1", (1, 2, 3, 3), True),
        ("train 2-d input", (6, 4), True),
        ("eval 3x3x4x4", (3, 3, 4, 4), False),
        # planes of 99 values: the CPU backend's two-vector loops run, not only their tail
        ("train 2x3x9x11", (2, 3, 9, 11), True),
    ]:
        c = shape[1]
        x = (torch.randn(*shape) * 2 + 0.5).requires_grad_(True)
        weight = (torch.rand(c) + 0.5).requires_grad_(True)
        bias = torch.randn(c).requires_grad_(True)
        rm = torch.randn(c)
        rv = torch.rand(c) + 0.5
        rm0, rv0 = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm, rv, weight, bias, training=training, momentum=0.1, eps=1e-5)
        g = torch.randn_like(y)
        y.backward(g)
        tensors = {
            "x": t(x), "weight": t(weight), "bias": t(bias), "running_mean": t(rm0),
            "running_var": t(rv0), "y": t(y), "g": t(g), "dx": t(x.grad), "dweight": t(weight.grad),
            "dbias": t(bias.grad), "running_mean_after": t(rm), "running_var_after": t(rv),
        }
        if training:  # a second step on new data, to follow the running statistics
            x2 = torch.randn(*shape) - 1
            F.batch_norm(x2, rm, rv, weight, bias, training=True, momentum=0.1, eps=1e-5)
            tensors.update(x2=t(x2), running_mean_after2=t(rm), running_var_after2=t(rv))
        cases.append({"name": name, "params": {"training": training}, "tensors": tensors})
    return cases


def pool_cases():
    cases = []
    for name, shape, k, s, p, ties in [
        ("3x3 s2 p1", (2, 3, 9, 9), 3, 2, 1, False),
        ("2x2 s2 p0 odd", (1, 2, 6, 5), 2, 2, 0, False),
        ("3x3 s2 p1 negative", (1, 2, 7, 7), 3, 2, 1, False),
        ("3x3 s1 p1 ties", (1, 2, 5, 5), 3, 1, 1, True),
        # rows of 70 and 35 outputs: the CPU backend's vector loops run, not only their tail
        ("3x3 s2 p1 wide", (1, 2, 6, 70), 3, 2, 1, False),
    ]:
        if ties:
            x = torch.randint(0, 3, shape).float()
        elif "negative" in name:
            x = -torch.rand(*shape) - 1  # all below 0: a zero pad would win if it counted
        else:
            x = torch.randn(*shape)
        x.requires_grad_(True)
        y = F.max_pool2d(x, k, s, p)
        g = torch.randn_like(y)
        y.backward(g)
        cases.append({
            "name": name, "params": {"kernel": k, "stride": s, "padding": p},
            "tensors": {"x": t(x), "y": t(y), "g": t(g), "dx": t(x.grad)},
        })
    return cases


def ce_cases():
    cases = []
    for name, n, c, smoothing in [
        ("5x7", 5, 7, 0.0), ("5x7 smoothing 0.1", 5, 7, 0.1), ("batch 1 of 29", 1, 29, 0.0),
        ("8x29 smoothing 0.2 large logits", 8, 29, 0.2),
    ]:
        x = torch.randn(n, c) * (20 if "large" in name else 2)
        x.requires_grad_(True)
        labels = torch.randint(0, c, (n,))
        loss = F.cross_entropy(x, labels, label_smoothing=smoothing)
        loss.backward()
        cases.append({
            "name": name, "params": {"smoothing": smoothing},
            "tensors": {"x": t(x), "labels": t(labels), "loss": t(loss), "dx": t(x.grad)},
        })
    return cases


def optim_cases():
    cases = []
    steps = 5
    configs = [
        ("sgd plain", "sgd", dict(lr=0.1)),
        ("sgd momentum", "sgd", dict(lr=0.1, momentum=0.9)),
        ("sgd nesterov wd", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
        ("sgd dampening wd", "sgd", dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=1e-3)),
        ("adamw defaults", "adamw", dict(lr=1e-2)),
        ("adamw custom", "adamw", dict(lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ]
    for name, kind, kw in configs:
        # 65 values: the CPU backend's vector loops run (4 vectors of 16 lanes, or 8 of 8) and
        # their scalar tail too; with 12 only the tail ran where vectors have 16 lanes
        p = torch.randn(5, 13, requires_grad=True)
        p0 = p.detach().clone()
        opt = torch.optim.SGD([p], **kw) if kind == "sgd" else torch.optim.AdamW([p], **kw)
        grads, params = [], []
        for _ in range(steps):
            g = torch.randn(5, 13)
            p.grad = g.clone()
            opt.step()
            grads.append(t(g))
            params.append(t(p))
        params_json = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}
        cases.append({
            "name": name, "params": dict(kind=kind, **params_json),
            "tensors": {"p0": t(p0)}, "grads": grads, "after": params,
        })
    return cases


def schedule_cases():
    def lrs(make, epochs):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make(opt)
        out = []
        for _ in range(epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    S = torch.optim.lr_scheduler
    return [
        {"name": "cosine", "params": {"base": 0.1, "t_max": 10, "eta_min": 1e-3},
         "lrs": lrs(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), 10)},
        {"name": "step", "params": {"base": 0.1, "step_size": 3, "gamma": 0.5},
         "lrs": lrs(lambda o: S.StepLR(o, step_size=3, gamma=0.5), 10)},
    ]


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("conv2d", conv_cases())
    write("batch_norm", bn_cases())
    write("max_pool2d", pool_cases())
    write("cross_entropy", ce_cases())
    write("optimizers", optim_cases())
    write("schedules", schedule_cases())
