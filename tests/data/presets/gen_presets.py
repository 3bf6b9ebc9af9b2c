#!/usr/bin/python3
"""gen_presets.py — PyTorch's energies for the `ebm init` presets, and the
onnx checker's verdict on the files.

    /usr/bin/python3 tests/data/presets/gen_presets.py BUILD/bin/ebm

For each preset this runs `ebm init --preset P --seed 0`, checks the file with
onnx.checker (full_check, i.e. with shape inference), rebuilds the network in
PyTorch from the architecture table of issue 5 (written out below, not read
from ebmc) with the file's initializers as weights, and writes

    <preset>_x.npy        inputs in [-1, 1] (float32, seeded NumPy)
    <preset>_energy.npy   PyTorch's energies for them, computed in float64

tests/unit/test_presets.c builds the same files (seed 0) and compares the
reference executor's energies with these.  Needs torch, onnx and numpy; the
test itself does not.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
N = 5


def weights(model):
    return {t.name: torch.tensor(onnx.numpy_helper.to_array(t), dtype=torch.float64)
            for t in model.graph.initializer}


def linear(w, name, x):
    # ebmc stores a linear weight as [in, out] (y = x W + b)
    return x @ w[name + ".weight"] + w[name + ".bias"]


def conv(w, name, x, stride):
    k = w[name + ".weight"].shape[-1]
    return F.conv2d(x, w[name + ".weight"], w[name + ".bias"], stride=stride, padding=(k - 1) // 2)


def group_norm(w, name, x, most=32):
    # two passes as ebmc's GroupNorm, with the constants a float32 ONNX file
    # holds: 1/M (M values per group) and eps 1e-5 rounded to float32 (at
    # 1e-9 relative, the U-Net's energies of ~5000 see the difference)
    c = x.shape[1]
    groups = min(most, c)
    while c % groups:
        groups -= 1
    xr = x.reshape(x.shape[0], groups, -1)
    inv_m = float(np.float32(1.0 / xr.shape[2]))
    d = xr - xr.sum(dim=2, keepdim=True) * inv_m
    var = (d * d).sum(dim=2, keepdim=True) * inv_m
    y = (d / torch.sqrt(var + float(np.float32(1e-5)))).reshape(x.shape)
    shape = (1, c) + (1,) * (x.dim() - 2)
    return y * w[name + ".weight"].reshape(shape) + w[name + ".bias"].reshape(shape)


def simple(w, x):
    h = x
    for i in range(3):
        h = F.gelu(linear(w, "fc%d" % (i + 1), h))
    return linear(w, "fc4", h)


def cnn(w, x):
    h = x
    for i in range(2):
        h = F.silu(conv(w, "block%d.conv" % (i + 1), h, 2))
    return linear(w, "head.fc", h.mean(dim=(2, 3)))


def deep_head(w, h):
    h = F.silu(linear(w, "head.fc1", h.mean(dim=(2, 3))))
    h = F.silu(linear(w, "head.fc2", h))
    return linear(w, "head.fc3", h)


def mnist(w, x):
    # a U-Net denoiser f: levels 16, 32, 64 (stride 1, 2, 2), a middle block,
    # back up by a 1x1 conv, nearest x2 and the level's skip; E = a |x - f(x)|
    def block(name, h, stride):
        return F.silu(group_norm(w, name + ".norm", conv(w, name + ".conv", h, stride), most=4))
    skips, h = [], x
    for i, stride in enumerate([1, 2, 2]):
        h = block("down%d" % (i + 1), h, stride)
        skips.append(h)
    h = block("mid", h, 1)
    for i in (1, 0):
        s = skips[i]
        h = F.interpolate(conv(w, "up%d.proj" % (i + 1), h, 1), scale_factor=2, mode="nearest")
        h = block("up%d" % (i + 1), h[:, :, :s.shape[2], :s.shape[3]] + s, 1)
    r = x - conv(w, "out.conv", h, 1)
    delta = float(np.float32(0.01))   # the file's float32 constant
    return (torch.exp(w["dist.log_scale"]) * torch.sqrt((r * r).sum(dim=(1, 2, 3)) + delta)).unsqueeze(1)


def cifar(w, x):
    h = x
    for i, stride in enumerate([2, 2, 2, 1]):
        b = "block%d." % (i + 1)
        y = F.silu(group_norm(w, b + "norm1", conv(w, b + "conv1", h, stride)))
        y = group_norm(w, b + "norm2", conv(w, b + "conv2", y, 1))
        # every cifar block changes the channels or the size: a 1x1 projection
        h = F.silu(y + conv(w, b + "proj", h, stride))
    return deep_head(w, h)


PRESETS = {
    "simple": (simple, (2,)),
    "cnn": (cnn, (1, 28, 28)),
    "mnist": (mnist, (1, 28, 28)),
    "cifar": (cifar, (3, 32, 32)),
}


def main():
    ebm = sys.argv[1]
    rng = np.random.default_rng(20240605)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (net, shape) in PRESETS.items():
            path = os.path.join(tmp, name + ".onnx")
            subprocess.run([ebm, "init", "--preset", name, "--seed", "0", "-o", path], check=True)
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            x = rng.uniform(-1, 1, size=(N,) + shape).astype(np.float32)
            with torch.no_grad():
                e = net(weights(model), torch.tensor(x, dtype=torch.float64)).reshape(N).numpy()
            np.save(os.path.join(HERE, name + "_x.npy"), x)
            np.save(os.path.join(HERE, name + "_energy.npy"), e)
            params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
            print("%-7s onnx checker ok, %d parameters, energies %s" % (name, params, np.array2string(e, precision=5)))


if __name__ == "__main__":
    main()
