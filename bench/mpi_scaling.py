#!/usr/bin/env python3
"""mpi_scaling.py — the scaling model of docs/mpi.md: data-parallel `ebm train`
over R ranks, from the compute of one training step measured here on one
thread and the bytes the ranks exchange per step.

    bench/mpi_scaling.py                       # measure every preset, then the table
    bench/mpi_scaling.py --seconds mnist:cd=0.087,mnist:dsm=0.022   # s/step at batch 64: skip measuring

A batch splits over R ranks in whole blocks of G = 16 samples, so 8-64 ranks need a
global batch of 128-1024: the model takes B = 1024 (16 samples per rank at R = 64) and
one thread's compute for it as 16 times the measured step at batch 64 (a step's work is
linear in the batch).  Per step and rank (tools/ebm_dist.c, runtime/train.c):
  compute   C / R, C = one thread's seconds per step of batch B (measured at 64: `ebm
            train`, --eval-every 0, the summary line's training time over its steps);
  exchanged two allgathers in rank order: the energies (2B floats) and the gradient's
            blocks ((2B/G) * W floats for cd, (B/G) * W for dsm; G = 16 samples, W =
            parameters); in a ring allgather a rank receives (R-1)/R of each, in R-1
            messages.  cd also moves the buffer draw's samples from the ranks holding
            their slots of the sharded buffer (an alltoallv): a rank's B/R rows, (R-1)/R of
            them from others (at most: fresh rows need none), in R-1 messages; its pushes
            stay on the rank (the buffer's capacity a multiple of B).
  time      C/R + sum over the exchanges of (R-1) * alpha + bytes received / beta.
Networks: 10 Gb/s Ethernet (beta 1.25 GB/s, alpha 25 us) and 100 Gb/s InfiniBand
(12.5 GB/s, 2 us).  Standard library only; needs build/bin/ebm and, for the mnist and
cnn presets, Debian's dataset-fashion-mnist.
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
PRESETS = ["simple", "mnist", "cnn", "cifar"]
MEASURED_BATCH, BATCH, MCMC, BLOCK = 64, 1024, 20, 16
NETWORKS = [("10GbE", 1.25e9, 25e-6), ("IB-100G", 12.5e9, 2e-6)]
RANKS = [1, 8, 16, 32, 64]


def write_random_npy(path, shape):
    n = 1
    for s in shape:
        n *= s
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    pad = (64 - (10 + len(hdr) + 1) % 64) % 64
    hdr += " " * pad + "\n"
    state = 12345
    vals = []
    for _ in range(n):   # a small LCG: the values only need to be in [-1, 1]
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        vals.append(state / 0x3FFFFFFF - 1.0)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(struct.pack("<%df" % n, *vals))


def preset_info(ebm, preset, tmp):
    path = os.path.join(tmp, preset + ".onnx")
    r = subprocess.run([ebm, "init", "--preset", preset, "-o", path], capture_output=True, text=True, check=True)
    out = r.stdout + r.stderr
    params = int(re.search(r"([0-9]+) parameters", out).group(1))
    info = subprocess.run([ebm, "info", path], capture_output=True, text=True, check=True).stdout
    dims = re.search(r"inputs\s+x \[N,([0-9,]+)\]", info).group(1).split(",")
    numel = 1
    for d in dims:
        numel *= int(d)
    return path, params, numel


def measure(ebm, model, data, objective, steps):
    env = dict(os.environ, EBM_NUM_THREADS="1")
    base = [ebm, "train", model, "--data", data, "-o", model + ".trained.onnx", "--objective", objective,
            "--batch", str(MEASURED_BATCH), "--mcmc-steps", str(MCMC), "--step-size", "0.01", "--eval-every", "0"]
    subprocess.run(base + ["--steps", "1"], env=env, capture_output=True, check=True)   # compile once
    out = subprocess.run(base + ["--steps", str(steps)], env=env, capture_output=True, text=True,
                         check=True).stderr
    secs = float(re.search(r"in ([0-9.e+-]+) s \(", out).group(1))
    return secs / steps


def step_time(c, r, numel, params, objective, beta, alpha):
    floats = [2 * BATCH, (2 if objective == "cd" else 1) * BATCH // BLOCK * params]
    comm = 0.0
    if r > 1:
        for f in floats:
            comm += (r - 1) * alpha + (r - 1) / r * 4 * f / beta
        if objective == "cd":   # the draw's samples, this rank's rows only
            comm += (r - 1) * alpha + (r - 1) / r * 4 * (BATCH / r) * numel / beta
    return c / r + comm, comm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ebm", default=os.path.join(ROOT, "build", "bin", "ebm"))
    ap.add_argument("--seconds", default="", help="PRESET:OBJ=SECONDS,...: one thread's seconds per step at batch "
                    "64, measured elsewhere (skips measuring those)")
    a = ap.parse_args()
    given = {}
    for item in filter(None, a.seconds.split(",")):
        k, v = item.split("=")
        given[k] = float(v)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cifar_data = os.path.join(tmp, "cifar.npy")
        for preset in PRESETS:
            model, params, numel = preset_info(a.ebm, preset, tmp)
            data = {"simple": "toy:8gaussians", "mnist": FMNIST, "cnn": FMNIST}.get(preset, cifar_data)
            if preset == "cifar" and not os.path.exists(cifar_data):
                write_random_npy(cifar_data, (256, 3, 32, 32))
            for obj in ("cd", "dsm"):
                key = "%s:%s" % (preset, obj)
                if key not in given:
                    steps = {"simple": 200, "mnist": 30, "cnn": 30, "cifar": 4}[preset]
                    given[key] = measure(a.ebm, model, data, obj, steps)
                    print("measured %s: %.4g s per step of batch %d" % (key, given[key], MEASURED_BATCH),
                          file=sys.stderr)
                rows.append((preset, obj, params, numel, given[key] * BATCH / MEASURED_BATCH))
    print("global batch %d (measured at %d, one thread), %d Langevin steps (cd), gradient blocks of %d"
          % (BATCH, MEASURED_BATCH, MCMC, BLOCK))
    print()
    print("| preset | objective | parameters | one thread, s/step | bytes/step gathered | network | "
          + " | ".join("R=%d s/step (comm %%)" % r for r in RANKS[1:]) + " | comm = compute at R |")
    print("|---" * (7 + len(RANKS) - 1) + "|")
    for preset, obj, params, numel, c in rows:
        nbytes = 4 * (2 * BATCH + (2 if obj == "cd" else 1) * BATCH // BLOCK * params)
        for net, beta, alpha in NETWORKS:
            cells = []
            for r in RANKS[1:]:
                t, comm = step_time(c, r, numel, params, obj, beta, alpha)
                cells.append("%.3g (%d%%)" % (t, round(100 * comm / t)))
            cross = next((r for r in range(2, BATCH // BLOCK + 1)
                          if step_time(c, r, numel, params, obj, beta, alpha)[1] >= c / r), None)
            print("| %s | %s | %d | %.3g | %.3g MB | %s | %s | %s |" % (
                preset, obj, params, c, nbytes / 1e6, net, " | ".join(cells),
                cross if cross else "beyond %d" % (BATCH // BLOCK)))


if __name__ == "__main__":
    main()
