"""cold_start.py — a new model's first Langevin step, ebmc against PyTorch, whole processes.

What a user waits for the first time they sample a network nobody has compiled yet:

  ebmc   `ebm sample model.onnx -n 64 --steps 1 -o s.npy --backend B` with an empty cache
         folder (XDG_CACHE_HOME): process start, import, autodiff, code generation, the C
         compiler (cc) or the in-process JIT (jit: -O0 code at once, the optimised code
         compiled in a child process meanwhile), loading, one step of 64 chains.  The ONNX is written beforehand by
         `ebm init --preset P` (not timed: the network exists before anyone samples it).
  torch  `python3 -c "import torch; build the same network (models.py); one Langevin
         step of 64 chains"`: interpreter start, import torch, the module, the step.

The two alternate, round after round, so drift of the machine falls on both; the table
gives min / median / max wall seconds and the ratio of the medians.  EBMC_JOBS is left
to its default (all CPUs), as a user gets it.

    /usr/bin/python3 bench/cold_start.py [--build build] [--baseline OTHER_BUILD] [--presets mnist,cifar]
                                         [--backends cc,jit] [--rounds 3]

--baseline times a second build of ebmc (an older commit, say) in the same rounds.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TORCH_STEP = r"""
import sys, torch
sys.path.insert(0, {here!r})
from models import Deep
torch.manual_seed(0)
preset = {preset!r}
if preset == "mnist":
    model, shape = Deep(1, [16, 32, 64, 64], False, groups=4, quad_shape=(1, 28, 28)), (1, 28, 28)
else:
    model, shape = Deep(3, [32, 64, 128, 256], True), (3, 32, 32)
x = torch.rand((64,) + shape) * 2 - 1
x.requires_grad_(True)
(g,) = torch.autograd.grad(model(x).sum(), x)
with torch.no_grad():
    x = (x - 0.01 * g.clamp(-0.03, 0.03) + 0.005 * torch.randn_like(x)).clamp(-1, 1)
print(float(x.sum()))
"""


def timed(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--presets", default="mnist,cifar")
    ap.add_argument("--baseline", help="another build folder, timed in the same rounds")
    ap.add_argument("--backends", default="cc", help="comma-separated: cc, jit (a build with LLVM)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    builds = [(b, be) for b in [args.build] + ([args.baseline] if args.baseline else [])
              for be in args.backends.split(",")]
    for b, _ in builds:
        if not os.path.exists(os.path.join(b, "bin", "ebm")):
            raise SystemExit(f"{b}/bin/ebm is missing: build first (cmake -S . -B build && cmake --build build -j2)")
    ebm = os.path.join(args.build, "bin", "ebm")
    work = tempfile.mkdtemp(prefix="ebmc-cold-")
    rows = []
    try:
        for preset in args.presets.split(","):
            onnx = os.path.join(work, f"{preset}.onnx")
            subprocess.run([ebm, "init", "--preset", preset, "-o", onnx], check=True, stderr=subprocess.DEVNULL)
            script = TORCH_STEP.format(here=HERE, preset=preset)
            te, tt = [[] for _ in builds], []
            for r in range(args.rounds):
                for i, (b, be) in enumerate(builds):
                    cache = os.path.join(work, f"cache-{preset}-{r}-{i}")
                    env = dict(os.environ, XDG_CACHE_HOME=cache, EBM_PROGRESS="0")
                    te[i].append(timed([os.path.join(b, "bin", "ebm"), "sample", onnx, "-n", "64", "--steps", "1",
                                        "-o", os.path.join(work, "s.npy"), "--backend", be], env))
                    shutil.rmtree(cache, ignore_errors=True)
                tt.append(timed([sys.executable, "-c", script]))
                print(f"{preset} round {r + 1}: ebmc " + ", ".join(f"{t[-1]:.2f} s" for t in te)
                      + f"; torch {tt[-1]:.2f} s", file=sys.stderr)
            for i, (b, be) in enumerate(builds):
                rows.append((preset, f"{b} --backend {be}", te[i], tt))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print("| preset | build | ebmc cold start s (min / median / max) | PyTorch cold start s | ebmc / PyTorch |")
    print("|---|---|---|---|---|")
    for preset, b, te, tt in rows:
        f = lambda v: f"{min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f}"
        print(f"| {preset} | {b} | {f(te)} | {f(tt)} | {statistics.median(te) / statistics.median(tt):.2f} |")
    print(f"\n{args.rounds} alternating rounds; load average {load:.1f} at the end; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
