#!/usr/bin/python3
"""fmnist_recipe.py — the mnist preset's Fashion-MNIST recipe in PyTorch eager,
for the side-by-side of README "Training" (issue 19).

    /usr/bin/python3 bench/fmnist_recipe.py --time 1200 --out torch_s.npy [--evals 300,600,900]
    build/bin/ebm score torch_s.npy --data .../t10k-images-idx3-ubyte.gz

The same network (bench/models.py "unet_b64": the U-Net denoiser f with
levels of 16, 32 and 64 channels inside E = a |x - f(x)|), the same objective
and settings as `ebm train` with the preset's metadata: denoising score
matching with per-sample noise levels 0.05 x 60^(u^0.4) in [0.05, 3] (u uniform,
`--sigma-power 0.4`), the model at
level s being E at temperature s / 0.05, loss |0.05 dE/dx(x~) - eps|^2
(x~ = x + s eps) averaged over the batch of 128, Adam (0, 0.999) at 1e-3, an
EMA of 0.999; then the preset's sampler: from N(0, 3^2), 400 steps at T = 60,
then 100 annealed from T = 60 to 1 (step 2e-4 T^2, noise 0.0141 T), no clamp,
and one denoising step of 0.05^2.  --onnx exports the trained network, so
that `ebm sample` can draw from it with the very sampler ebmc's model gets.  The clock starts with the script (imports,
building the network and reading the data count).  --evals writes
<out>-<seconds>.npy samples (1,000) at those times for the FID-against-minutes
curve; the time they take is not counted.
"""
import argparse
import copy
import gzip
import math
import os
import sys
import time

T_START = time.time()
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

SIGMA, SIGMA_MAX, SIGMA_POWER, BATCH, LR, EMA = 0.05, 3.0, 0.4, 128, 1e-3, 0.999
STEPS, STEP, NOISE, ANNEAL, INIT_SD, HOLD = 500, 2e-4, 0.0141, 60.0, 3.0, 0.8


def load(path):
    with gzip.open(path) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return torch.from_numpy(x.astype(np.float32) / 127.5 - 1)


def sample(net, n, seed):
    g = torch.Generator().manual_seed(seed)
    x = INIT_SD * torch.randn(n, 1, 28, 28, generator=g)
    held = min(round(HOLD * STEPS), STEPS - 1)   # runtime/sampler.c: these steps at T = ANNEAL first
    rest = STEPS - held
    levels = min(rest, 100)   # then up to 100 levels, geometric from ANNEAL to 1
    plan = [ANNEAL] * held
    for lvl in range(levels):
        plan += [ANNEAL ** (1 - lvl / (levels - 1))] * ((lvl + 1) * rest // levels - lvl * rest // levels)
    for t in plan:
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x).sum(), x)
        with torch.no_grad():   # step STEP t^2 on E / t, noise NOISE t
            x = x - STEP * t * grad + NOISE * t * torch.randn(x.shape, generator=g)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x).sum(), x)
    return (x - SIGMA * SIGMA * grad).detach()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", type=float, default=1200)
    ap.add_argument("--out", required=True)
    ap.add_argument("--evals", default="")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
    ap.add_argument("-n", type=int, default=2000, help="samples drawn in PyTorch at the end (0: none)")
    ap.add_argument("--onnx", help="also export the trained (EMA) network here, to sample it with `ebm sample` "
                                   "and the preset's sampler flags")
    a = ap.parse_args()
    torch.manual_seed(0)
    data = load(a.data)
    net = models.CASES["unet_b64"][0]()
    ema = copy.deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=LR, betas=(0.0, 0.999))
    evals = sorted(float(v) for v in a.evals.split(",") if v)
    paused, step = 0.0, 0
    lo, hi = math.log(SIGMA), math.log(SIGMA_MAX)
    while time.time() - T_START - paused < a.time:
        if evals and time.time() - T_START - paused >= evals[0]:
            t0 = time.time()
            s = sample(ema, 1000, 1)
            np.save("%s-%d.npy" % (os.path.splitext(a.out)[0], int(evals.pop(0))), s.numpy())
            paused += time.time() - t0
        x = data[torch.randint(0, data.shape[0], (BATCH,))]
        lvl = torch.exp(lo + (hi - lo) * torch.rand(BATCH, 1, 1, 1) ** SIGMA_POWER)
        eps = torch.randn_like(x)
        xt = (x + lvl * eps).requires_grad_(True)
        (g,) = torch.autograd.grad(net(xt).sum(), xt, create_graph=True)
        loss = ((SIGMA * g - eps) ** 2).sum() / BATCH
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(EMA).add_(p, alpha=1 - EMA)
        step += 1
    secs = time.time() - T_START - paused
    print("torch: %d steps in %.0f s (%.1f steps/s)" % (step, secs, step / secs), flush=True)
    if a.onnx:
        torch.onnx.export(ema.eval(), data[:2], a.onnx, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
        print("torch: wrote %s" % a.onnx, flush=True)
    if a.n == 0:
        return
    t0 = time.time()
    s = sample(ema, a.n, 0)
    np.save(a.out, s.numpy())
    print("torch: sampled %d in %.0f s -> %s" % (a.n, time.time() - t0, a.out))


if __name__ == "__main__":
    main()
