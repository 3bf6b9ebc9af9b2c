#!/usr/bin/python3
"""Trains the small Fashion-MNIST classifier whose penultimate features
`ebm score` uses for its Frechet distance (FID), and exports it as ONNX with
two outputs: features [N, 128] and logits [N, 10].

Run with Debian's PyTorch (python3-torch, python3-onnx) and the
dataset-fashion-mnist package:

    /usr/bin/python3 tools/fid/fmnist_features.py [--out tools/fid/fmnist_features.onnx]

Input: x [N, 1, 28, 28], pixels scaled to [-1, 1] as `ebm train` scales IDX
images.  The script then prints the calibration table (FID of reference
distortions of the test set against the test set) that the README quotes.
It is a fixture generator, not a test dependency: the ONNX is checked in.
"""
import argparse
import gzip
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def images(name):
    x = load_idx(f"{DATA}/{name}-images-idx3-ubyte.gz").astype(np.float32)
    return (x / 127.5 - 1.0).reshape(-1, 1, 28, 28)


def labels(name):
    return load_idx(f"{DATA}/{name}-labels-idx1-ubyte.gz").astype(np.int64)


class Features(nn.Module):
    """conv 32, 64, 64 (3x3, ReLU, 2x2 max pool) -> 576 -> 128 (ReLU) -> 10."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.c3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 3 * 3, 128)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)   # 14x14
        x = F.max_pool2d(F.relu(self.c2(x)), 2)   # 7x7
        x = F.max_pool2d(F.relu(self.c3(x)), 2)   # 3x3
        f = F.relu(self.fc(torch.flatten(x, 1)))
        return f, self.out(f)


def features(net, x, batch=1000):
    fs, ls = [], []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            f, l = net(torch.from_numpy(x[i:i + batch]))
            fs.append(f.numpy().astype(np.float64))
            ls.append(l.numpy())
    return np.concatenate(fs), np.concatenate(ls)


def fid(a, b):
    """Frechet distance of Gaussians fitted to feature rows a and b."""
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    ra = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = ra @ sb @ ra
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((ma - mb) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="tools/fid/fmnist_features.onnx")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    xtr, ytr = images("train"), labels("train")
    xte, yte = images("t10k"), labels("t10k")
    net = Features()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        perm = rng.permutation(len(xtr))
        net.train()
        for i in range(0, len(perm), 128):
            idx = perm[i:i + 128]
            x = torch.from_numpy(xtr[idx])
            # light augmentation: random horizontal flips
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            x[flip] = x[flip].flip(-1)
            _, logits = net(x)
            loss = F.cross_entropy(logits, torch.from_numpy(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        _, lt = features(net, xte)
        print(f"epoch {epoch + 1}: test accuracy {(lt.argmax(1) == yte).mean():.4f}", flush=True)
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), args.out, input_names=["x"],
                      output_names=["features", "logits"], dynamic_axes={"x": {0: "N"}, "features": {0: "N"},
                                                                          "logits": {0: "N"}}, opset_version=13)
    print(f"wrote {args.out}")
    # calibration: each distortion of the test set against the test set
    fte, _ = features(net, xte)
    ftr, _ = features(net, xtr[rng.permutation(len(xtr))[:10000]])
    noisy = np.clip(xte + rng.normal(0, 0.2, xte.shape).astype(np.float32), -1, 1)
    k = torch.ones(1, 1, 3, 3) / 9
    blur = F.conv2d(torch.from_numpy(xte), k, padding=1).numpy()
    uniform = rng.uniform(-1, 1, xte.shape).astype(np.float32)
    for name, x in [("train (10k) vs test", None), ("test + N(0, 0.2^2)", noisy), ("test, 3x3 box blur", blur),
                    ("uniform noise", uniform)]:
        f = ftr if x is None else features(net, x)[0]
        print(f"calibration: {name:24s} FID {fid(f, fte):8.2f}")


if __name__ == "__main__":
    main()
