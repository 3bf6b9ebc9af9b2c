#!/usr/bin/python3
"""Makes the fixtures of tests/cli/score.sh: two small sets of 28x28 images
(a.npy: smooth blobs, b.npy: the same blobs shifted and with noise; 96 each,
values in [-1, 1]), and expected.txt: the FID between them and a's class
histogram, computed by PyTorch (the features of tools/fid/fmnist_features.onnx,
rebuilt as a torch module from its initializers) and NumPy (eigh), independently
of ebmc.  Run from the repository root:

    /usr/bin/python3 tests/data/fid/gen.py
"""
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, "tools/fid")
import fmnist_features as ff  # noqa: E402

OUT = "tests/data/fid"


def blobs(rng, n):
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    out = np.empty((n, 1, 28, 28), np.float32)
    for i in range(n):
        img = np.zeros((28, 28), np.float32)
        for _ in range(3):
            cy, cx = rng.uniform(6, 22, 2)
            sy, sx = rng.uniform(2, 7, 2)
            img += rng.uniform(0.5, 1.5) * np.exp(-((yy - cy) ** 2 / (2 * sy ** 2) + (xx - cx) ** 2 / (2 * sx ** 2)))
        out[i, 0] = np.clip(2 * img - 1, -1, 1)
    return out


def main():
    rng = np.random.default_rng(1234)
    a = blobs(rng, 96)
    b = np.clip(np.roll(blobs(rng, 96), 2, axis=3) + rng.normal(0, 0.1, (96, 1, 28, 28)).astype(np.float32), -1, 1)
    b = b.astype(np.float32)
    net = ff.Features()
    m = onnx.load("tools/fid/fmnist_features.onnx")
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    net.load_state_dict({k: inits[k] for k in net.state_dict()})
    net.eval()
    fa, la = ff.features(net, a)
    fb, _ = ff.features(net, b)
    np.save(f"{OUT}/a.npy", a)
    np.save(f"{OUT}/b.npy", b)
    hist = np.bincount(la.argmax(1), minlength=10)
    with open(f"{OUT}/expected.txt", "w") as f:
        f.write(f"fid_ab {ff.fid(fa, fb):.6f}\n")
        f.write("hist_a " + " ".join(str(int(c)) for c in hist) + "\n")
    print(open(f"{OUT}/expected.txt").read())


if __name__ == "__main__":
    main()
