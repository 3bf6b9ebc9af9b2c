#!/usr/bin/python3
"""run_bench.py — ebmc against PyTorch on the same weights, per Langevin step.

For each case of models.CASES: build the torch module (seed 0), export it with
torch.onnx.export, compile it with build/bin/ebmc, then, for 1 and 2 threads,
alternate in rounds between
  - torch eager and TorchScript (torch.jit.trace): one Langevin step =
    forward, autograd.grad of the energy sum w.r.t. x, then
    x = clamp(x - a*clip(g, c) + s*noise, -1, 1)  (a 0.01, s 0.005, c 0.03);
  - bench_ebm (bench/bench_ebm.c, a long-lived process fed commands on
    stdin): ebm_langevin with steps = 1, with OpenBLAS pinned as the
    environment says (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) and, in a second
    process, unpinned (used only if its results agree with the pinned run
    within 1e-5);
and reports medians, ebmc/torch, ebmc's GFLOP/s against a square
cblas_sgemm of the same FLOP count timed in the same run, the step/forward
ratios, and the peak RSS of `ebm sample`.  Writes OUT/results.md.

Without torch (python3-torch missing) the ONNX comes from `ebm init` and only
the ebmc side runs.  Usage: bench/run.sh [--quick] [--cases a,b] (see --help).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

try:
    import torch
    import torch.nn.functional as F
    import models
except ImportError as e:   # the ebmc side still runs
    torch = None
    TORCH_ERROR = str(e)

STEP, NOISE, CLIP = 0.01, 0.005, 0.03
TOL = 1e-5

# Without torch: the same architectures from `ebm init` (other weights).
EBM_INIT = {
    "mlp784_b128": ["--config", {"energy_type": "mlp", "input_dim": 784, "hidden_dims": [256, 256],
                                 "activation": "silu"}],
    "mlp784_b1": ["--config", {"energy_type": "mlp", "input_dim": 784, "hidden_dims": [256, 256],
                               "activation": "silu"}],
    "mnist_b64": ["--config", {"energy_type": "deep", "input_shape": [28, 28, 1], "hidden_dims": [16, 32, 64, 64],
                               "norm_groups": 4, "quadratic": True, "activation": "silu"}],
    "unet_b64": ["--preset", "mnist"],
    "cifar_b32": ["--preset", "cifar"],
    "tabular_b4096": ["--config", {"energy_type": "mlp", "input_dim": 2, "hidden_dims": [64, 64],
                                   "activation": "silu"}],
}
# name: (per-sample input shape, batch, tile) when torch is missing
SHAPES = {
    "mlp784_b128": ((784,), 128, 64), "mlp784_b1": ((784,), 1, 64), "mnist_b64": ((1, 28, 28), 64, 16),
    "unet_b64": ((1, 28, 28), 64, 16), "cifar_b32": ((3, 32, 32), 32, 16), "tabular_b4096": ((2,), 4096, 64),
    "transformer_b64": ((1, 28, 28), 64, 16),
    "volume3d_b16": ((1, 16, 16, 16), 16, 8),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, env=None):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.stdout


def median_ms(ts):
    return 1e3 * statistics.median(ts)


# ---- the ebmc side -----------------------------------------------------------------------


class Driver:
    """bench_ebm as a long-lived process: one command line in, one JSON line out."""

    def __init__(self, exe, so, x, threads, env):
        self.p = subprocess.Popen([exe, so, x, str(threads)], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready "):
            raise SystemExit(f"bench_ebm did not start: {line!r}")
        self.info = json.loads(line[len("ready "):])

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"bench_ebm exited on '{cmd}'")
        return json.loads(line)

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        self.p.wait()


def build_driver(build, out):
    exe = os.path.join(out, "bench_ebm")
    src = os.path.join(HERE, "bench_ebm.c")
    lib = os.path.join(build, "lib", "libebm.a")
    if not os.path.exists(lib):
        raise SystemExit(f"{lib} is missing: build first (cmake -S . -B build && cmake --build build -j2)")
    if not os.path.exists(exe) or os.path.getmtime(exe) < max(os.path.getmtime(src), os.path.getmtime(lib)):
        run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(ROOT, "runtime"),
             "-I", os.path.join(ROOT, "base"), src, lib,
             "-lopenblas", "-lm", "-ldl", "-pthread", "-o", exe])
    return exe


def unpinned_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    return env


# ---- the torch side ------------------------------------------------------------------------


def torch_step(model):
    def step(x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(model(x).sum(), x)
        with torch.no_grad():
            return (x - STEP * g.clamp(-CLIP, CLIP) + NOISE * torch.randn_like(x)).clamp(-1, 1)
    return step


def torch_step_noiseless(model, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x).sum(), x)
    return (x - STEP * g.clamp(-CLIP, CLIP)).clamp(-1, 1).detach()


def time_calls(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def export_case(name, out, build):
    """model.onnx, x.npy and what torch computes on them; flops (None without torch)."""
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    onnx_path, x_path = os.path.join(d, "model.onnx"), os.path.join(d, "x.npy")
    if torch is None:
        shape, batch, tile = SHAPES[name]
        flag, val = EBM_INIT[name]
        if flag == "--config":
            cfg = os.path.join(d, "config.json")
            with open(cfg, "w") as f:
                json.dump(val, f)
            val = cfg
        run([os.path.join(build, "bin", "ebm"), "init", flag, val, "-o", onnx_path])
        x = np.random.default_rng(0).uniform(-1, 1, (batch,) + shape).astype(np.float32)
        np.save(x_path, x)
        return dict(dir=d, onnx=onnx_path, x=x_path, batch=batch, tile=tile, flops=None)
    ctor, shape, batch, tile = models.CASES[name]
    torch.manual_seed(0)
    model = ctor().eval()
    x = torch.rand((batch,) + shape) * 2 - 1
    torch.onnx.export(model, x, onnx_path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
    np.save(x_path, x.numpy())
    return dict(dir=d, onnx=onnx_path, x=x_path, batch=batch, tile=tile, model=model, xt=x,
                flops=models.matmul_flops(model, x))


def compare(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def check_ebmc(drv, case, tag):
    """ebmc's energies and noise-free step (written by the driver)."""
    path = os.path.join(case["dir"], tag)
    drv.ask(f"check {path}")
    e, s = np.load(path + ".energy.npy"), np.load(path + ".step.npy")
    return e, s


# ---- one case ------------------------------------------------------------------------------


def bench_case(name, args, exe):
    case = export_case(name, args.out, args.build)
    so = os.path.join(case["dir"], "model.so")
    run([os.path.join(args.build, "bin", "ebmc"), case["onnx"], "-o", so, "--tile", str(case["tile"])])
    rows = []
    ref = None
    if torch is not None:
        model, x = case["model"], case["xt"]
        with torch.no_grad():
            ref_e = model(x).reshape(-1).numpy()
        ref = (ref_e, torch_step_noiseless(model, x).reshape(len(ref_e), -1).numpy())
    for threads in args.threads:
        drivers = {"pinned": Driver(exe, so, case["x"], threads, dict(os.environ))}
        if not args.no_unpinned:
            drivers["unpinned"] = Driver(exe, so, case["x"], threads, unpinned_env())
        if threads > 1:   # the alternative: our one thread, OpenBLAS on `threads`
            env = dict(os.environ, EBM_BLAS_THREADS=str(threads))
            drivers["blas"] = Driver(exe, so, case["x"], 1, env)
        res = {k: check_ebmc(d, case, f"{k}_{threads}") for k, d in drivers.items()}
        row = dict(case=name, batch=case["batch"], tile=case["tile"], threads=threads,
                   ebm_threads=drivers["pinned"].info["threads"], flops=case["flops"])
        pe, ps = res["pinned"]
        if ref is not None:
            row["err_energy"] = compare(pe, ref[0])
            row["err_step"] = compare(ps, ref[1])
        usable = {"pinned"}
        for k in drivers:
            if k != "pinned":
                ke, ks = res[k]
                agree = max(compare(ke, pe), compare(ks, ps))
                row[f"agree_{k}"] = agree
                if agree <= TOL:
                    usable.add(k)
        sides = {}
        if torch is not None:
            torch.set_num_threads(threads)
            step = torch_step(model)
            step_script = torch_step(torch.jit.trace(model, x, check_trace=False))

            def forward():
                with torch.no_grad():
                    return model(x)
            sides["eager"] = lambda: step(x)
            sides["script"] = lambda: step_script(x)
            sides["torch_fwd"] = forward
            for f in sides.values():   # warm-up
                for _ in range(3):
                    f()
        for k in usable:
            drivers[k].ask("step 3")
        # reps per round: about 0.3 s of the slowest side
        t1 = statistics.median(drivers["pinned"].ask("step 3")["times"])
        if torch is not None:
            t1 = max(t1, statistics.median(time_calls(sides["eager"], 3)))
        chunk = max(2, min(args.max_chunk, int(0.3 / max(t1, 1e-6))))
        times = {k: [] for k in list(sides) + [f"ebm_{k}" for k in usable] + ["ebm_steps", "ebm_fwd"]}
        # Before each timed block, a pause: BLAS and OpenMP worker threads of the
        # side that ran last spin for a while after their work (OpenBLAS for
        # about 0.1 s), and on 2 cores they would run into the next side's timing.
        def settle():
            time.sleep(args.settle)
        for _ in range(args.rounds):
            for k, f in sides.items():
                settle()
                times[k] += time_calls(f, chunk)
            for k in sorted(usable):
                settle()
                times[f"ebm_{k}"] += drivers[k].ask(f"step {chunk}")["times"]
            for k in sorted(usable):
                settle()
                times.setdefault(f"ebm_steps_{k}", [])
                times[f"ebm_steps_{k}"] += drivers[k].ask(f"steps {args.steps} {max(1, chunk // args.steps)}")["times"]
            times["ebm_steps"] = times["ebm_steps_pinned"]
            settle()
            times["ebm_fwd"] += drivers["pinned"].ask(f"energy {chunk}")["times"]
        for k, v in times.items():
            row[k] = median_ms(v)
        if case["flops"]:
            g = drivers["pinned"].ask(f"gemm {2 * case['flops']} {chunk * args.rounds} {threads}")
            row["gemm_ms"] = median_ms(g["times"])
            row["gemm_n"] = g["n"]
            if "unpinned" in drivers:   # the roofline with OpenBLAS free to pick AVX-512 kernels
                g = drivers["unpinned"].ask(f"gemm {2 * case['flops']} {chunk * args.rounds} {threads}")
                row["gemm_unpinned_ms"] = median_ms(g["times"])
        for d in drivers.values():
            d.close()
        row["arena_bytes"], row["weight_bytes"] = drivers["pinned"].info["arena_bytes"], drivers["pinned"].info["weight_bytes"]
        log(json.dumps(row))
        rows.append(row)
    return rows, so, case


# ---- peak RSS of `ebm sample` ----------------------------------------------------------------


def sample_rss(args, so, case, threads):
    out = os.path.join(case["dir"], "samples.npy")
    env = dict(os.environ, EBM_NUM_THREADS=str(threads))
    r = subprocess.run(["/usr/bin/time", "-f", "%M", os.path.join(args.build, "bin", "ebm"), "sample", so, "-n",
                        str(case["batch"]), "--steps", "20", "-o", out], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise SystemExit(f"ebm sample failed: {r.stderr}")
    return int(r.stderr.strip().splitlines()[-1]) * 1024


# ---- the report ------------------------------------------------------------------------------


def fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


TARGETS = {"mlp784_b128": 1.5, "mlp784_b1": 10.0, "mnist_b64": 3.0, "cifar_b32": 2.0, "tabular_b4096": 5.0,
           "transformer_b64": 2.0}


def torch_best(r):
    return min([v for v in (r.get("eager"), r.get("script")) if v is not None], default=None)


def summary(rows):
    """Issue 8's comparison: each side at its best thread count."""
    if torch is None:
        return []
    L = ["## Each side at its best thread count\n",
         "| case | target | torch best (ms, threads) | ebmc best (ms, threads) | speedup | "
         "ebmc unpinned best (ms, threads) | speedup unpinned | met |",
         "|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["case"] for r in rows):
        rs = [r for r in rows if r["case"] == name]
        t = min(rs, key=torch_best)
        e = min(rs, key=lambda r: r["ebm_steps"])
        u = [r for r in rs if r.get("ebm_steps_unpinned") is not None]
        u = min(u, key=lambda r: r["ebm_steps_unpinned"]) if u else None
        want = TARGETS.get(name)
        sp = torch_best(t) / e["ebm_steps"]
        spu = torch_best(t) / u["ebm_steps_unpinned"] if u else None
        met = "-" if want is None else ("yes" if sp >= want else "unpinned only" if spu and spu >= want else "no")
        L.append(f"| {name} | {fmt(want, '.1f')}x | {torch_best(t):.3f} ({t['threads']}) | "
                 f"{e['ebm_steps']:.3f} ({e['threads']}) | {sp:.2f}x | "
                 f"{fmt(u['ebm_steps_unpinned'] if u else None)} ({u['threads'] if u else '-'}) | "
                 f"{fmt(spu, '.2f')}x | {met} |")
    L.append("")
    return L


def report(rows, rss, preset_check, args):
    L = []
    L.append("# ebmc vs PyTorch: one Langevin step (median ms)\n")
    L.append(f"torch: {torch.__version__ if torch else 'missing (' + TORCH_ERROR + '): ebmc side only'}; "
             f"OpenBLAS pinned: OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')} "
             f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '-')}; cores: {os.cpu_count()}; "
             f"{args.rounds} alternating rounds.\n")
    if preset_check:
        L.append(preset_check + "\n")
    L.append("| case | batch | tile | threads | torch eager | TorchScript | ebmc (K=%d) | ebmc unpinned (K=%d) | "
             "torch / ebmc | ebmc steps=1 | ebmc step/fwd | torch step/fwd | ebmc GFLOP/s | sgemm GFLOP/s | "
             "%% of sgemm | sgemm unpinned GFLOP/s | %% of unpinned |" % (args.steps, args.steps))
    L.append("|" + "---|" * 17)
    for r in rows:
        best = torch_best(r)
        gf = gs = pct = gu = pctu = None
        if r["flops"]:
            gf = 2 * r["flops"] / (r["ebm_steps"] * 1e-3) / 1e9
            gs = 2 * r["gemm_n"] ** 3 / (r["gemm_ms"] * 1e-3) / 1e9
            pct = 100 * gf / gs
            if r.get("gemm_unpinned_ms"):
                gu = 2 * r["gemm_n"] ** 3 / (r["gemm_unpinned_ms"] * 1e-3) / 1e9
                pctu = 100 * gf / gu
        L.append(f"| {r['case']} | {r['batch']} | {r['tile']} | {r['threads']} | {fmt(r.get('eager'))} | "
                 f"{fmt(r.get('script'))} | {fmt(r['ebm_steps'])} | {fmt(r.get('ebm_steps_unpinned'))} | "
                 f"{fmt(best / r['ebm_steps'] if best else None, '.2f')} | {fmt(r['ebm_pinned'])} | "
                 f"{fmt(r['ebm_steps'] / r['ebm_fwd'], '.2f')} | "
                 f"{fmt(r['eager'] / r['torch_fwd'] if 'eager' in r else None, '.2f')} | {fmt(gf, '.1f')} | "
                 f"{fmt(gs, '.1f')} | {fmt(pct, '.0f')} | {fmt(gu, '.1f')} | {fmt(pctu, '.0f')} |")
    L.append("")
    L.append("ebmc (K) = `ebm_langevin` with steps = K per call (as samplers and training run it), ms per step, "
             "OpenBLAS pinned as above; unpinned: the same without the pinning (shown only when it agrees with "
             "the pinned run); steps=1: one call per step (the call overhead included). torch / ebmc: the "
             "faster of eager and TorchScript over the pinned ebmc (K), above 1 when ebmc is faster. GFLOP/s "
             "counts 2x the forward pass's matmul/conv FLOPs per step (forward + input gradient) at the ebmc (K) "
             "time and compares with one square `cblas_sgemm` of the same FLOP count on the same number of "
             "OpenBLAS threads, timed in the same run, pinned and unpinned (ebmc's own matrix products are "
             "compiled for this CPU, so the unpinned roofline is the fair one for them); step/fwd compares the ebmc (K) step with one "
             "`ebm_energy` call.\n")
    L += summary(rows)
    L.append("## Checks and alternatives\n")
    L.append("| case | threads | energy vs torch | step vs torch | unpinned vs pinned | ebmc 1 thread + "
             "OpenBLAS threads (ms) | agrees |")
    L.append("|---|---|---|---|---|---|---|")
    for r in rows:
        L.append(f"| {r['case']} | {r['threads']} | {fmt(r.get('err_energy'), '.1e')} | "
                 f"{fmt(r.get('err_step'), '.1e')} | {fmt(r.get('agree_unpinned'), '.1e')} | "
                 f"{fmt(r.get('ebm_blas'))} | {fmt(r.get('agree_blas'), '.1e')} |")
    L.append("")
    L.append("Errors are max |a - b| / max(1, |b|) over energies and the noise-free step (float32 both sides). "
             f"The unpinned and OpenBLAS-threads runs are timed only if they agree with the pinned run "
             f"within {TOL:g}.\n")
    if rss:
        L.append("## Peak RSS of `ebm sample` (20 steps, N = the case's batch)\n")
        L.append("| case | EBM_NUM_THREADS | threads used | peak RSS (MiB) | weights (MiB) | arena per thread (MiB) | "
                 "weights + threads used x arena (MiB) |")
        L.append("|---|---|---|---|---|---|---|")
        for name, threads, used, peak, wb, ab in rss:
            L.append(f"| {name} | {threads} | {used} | {peak / 2**20:.1f} | {wb / 2**20:.2f} | {ab / 2**20:.2f} | "
                     f"{(wb + used * ab) / 2**20:.2f} |")
        L.append("")
    text = "\n".join(L)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    print(text)


def check_presets(args):
    """The torch mnist/cifar modules against `ebm init`: the same parameter shapes."""
    if torch is None:
        return None
    import onnx
    lines = []
    for preset, case in (("mnist", "unet_b64"), ("cifar", "cifar_b32")):
        path = os.path.join(args.out, f"preset_{preset}.onnx")
        run([os.path.join(args.build, "bin", "ebm"), "init", "--preset", preset, "-o", path])
        ours = sorted(tuple(i.dims) for i in onnx.load(path).graph.initializer if len(i.dims) > 0)
        ctor, shape, _, _ = models.CASES[case]
        # ebm init stores a linear layer's weight as [in, out] (MatMul), torch as [out, in]
        theirs = sorted(tuple(p.shape)[::-1] if p.dim() == 2 else tuple(p.shape) for p in ctor().parameters())
        same = ours == theirs
        lines.append(f"{preset}: torch module vs `ebm init --preset {preset}`: {len(theirs)} parameter tensors, "
                     f"shapes {'identical' if same else 'DIFFER'} (linear weights transposed)")
        if not same:
            log(f"{preset}: ebm init {ours}\ntorch {theirs}")
    return "Architecture check: " + "; ".join(lines) + "."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None, help="default: BUILD/bench")
    ap.add_argument("--cases", default=",".join(SHAPES))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-chunk", type=int, default=40)
    ap.add_argument("--steps", type=int, default=60,
                    help="K of the steps=K timing (default 60: DESIGN.md's training chain length)")
    ap.add_argument("--settle", type=float, default=0.3,
                    help="seconds of pause before each timed block, so the last side's spinning threads go idle")
    ap.add_argument("--no-unpinned", action="store_true")
    ap.add_argument("--quick", action="store_true", help="2 rounds, at most 5 calls each")
    args = ap.parse_args()
    args.out = args.out or os.path.join(args.build, "bench")
    args.threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        args.rounds, args.max_chunk = 2, 5
    os.makedirs(args.out, exist_ok=True)
    if torch is None:
        log(f"python3-torch is missing ({TORCH_ERROR}): running the ebmc side only")
    exe = build_driver(args.build, args.out)
    preset_check = check_presets(args)
    rows, rss = [], []
    for name in args.cases.split(","):
        if torch is None and name not in EBM_INIT:
            log(f"== {name}: skipped (no `ebm init` equivalent; its ONNX comes from torch)")
            continue
        log(f"== {name}")
        r, so, case = bench_case(name, args, exe)
        rows += r
        for t in args.threads:
            used = min(t, -(-case["batch"] // case["tile"]))   # libebm runs no more threads than tiles
            rss.append((name, t, used, sample_rss(args, so, case, t), r[0]["weight_bytes"], r[0]["arena_bytes"]))
    report(rows, rss, preset_check, args)


if __name__ == "__main__":
    main()
