"""The seeded generator that the Java tests also implement (dev.fingerspell.tensor.Rng and
resnet's SeededWeights): SplitMix64 bits, 24-bit uniforms, float32 arithmetic throughout, so both
sides draw bit-identical weights and images without shipping a 46 MB file."""
import math

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
C1 = np.uint64(0xBF58476D1CE4E5B9)
C2 = np.uint64(0x94D049BB133111EB)


class Rng:
    def __init__(self, seed):
        self.seed = np.uint64(seed)
        self.drawn = 0

    def bits(self, n):
        i = np.arange(self.drawn + 1, self.drawn + n + 1, dtype=np.uint64)
        self.drawn += n
        with np.errstate(over="ignore"):
            z = self.seed + i * GOLDEN
            z = (z ^ (z >> np.uint64(30))) * C1
            z = (z ^ (z >> np.uint64(27))) * C2
        return z ^ (z >> np.uint64(31))

    def uniform(self, lo, hi, n):
        u = (self.bits(n) >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
        lo32, hi32 = np.float32(lo), np.float32(hi)
        return lo32 + (hi32 - lo32) * u

    def bytes(self, n):
        return (self.bits(n) >> np.uint64(56)).astype(np.uint8)


def fill_weights(state_dict, seed):
    """Draws every tensor of a resnet18 state dict in its order (num_batches_tracked excepted)."""
    rng = Rng(seed)
    out = {}
    for name, t in state_dict.items():
        if name.endswith("num_batches_tracked"):
            continue
        n = t.numel()
        if t.dim() == 4:
            b = np.float32(math.sqrt(6.0 / (t.shape[1] * t.shape[2] * t.shape[3])))
            v = rng.uniform(-b, b, n)
        elif name.startswith("fc."):
            b = np.float32(1.0 / math.sqrt(512))
            v = rng.uniform(-b, b, n)
        elif name.endswith("running_var"):
            v = rng.uniform(0.5, 2.0, n)
        elif name.endswith("running_mean") or name.endswith(".bias"):
            v = rng.uniform(-0.2, 0.2, n)
        else:  # batch-norm weight
            v = rng.uniform(0.5, 1.5, n)
        out[name] = v.reshape(tuple(t.shape))
    return out
