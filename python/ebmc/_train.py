"""ebmc.train: `ebm train` run from Python, its CSV log returned as arrays.

Training writes a trained ONNX model, and writing ONNX is the compiler's side
(libebm only runs compiled models), so train() runs the `ebm` program (found
like ebmc: $EBMC_EBM, the path recorded at install, build/bin, $PATH) with the
settings as flags, and follows its --log file to report progress.
"""
import csv
import os
import subprocess
import tempfile
import time

import numpy as np

from . import _lib
from ._errors import Error
from ._model import Model

COLUMNS_INT = ("step",)


def _flag_value(name, v):
    if isinstance(v, (tuple, list)):
        return ",".join(str(x) for x in v)
    return str(v)


def _read_rows(path, pos, header):
    """New complete rows of the CSV log from byte offset pos: (rows, pos, header)."""
    rows = []
    try:
        with open(path, "r") as f:
            f.seek(pos)
            while True:
                line = f.readline()
                if not line.endswith("\n"):
                    break
                pos = f.tell()
                if line.startswith("#") or not line.strip():
                    continue
                cells = next(csv.reader([line]))
                if header is None:
                    header = cells
                    continue
                rows.append(dict(zip(header, cells)))
    except FileNotFoundError:
        pass
    return rows, pos, header


def _row_values(row):
    out = {}
    for k, v in row.items():
        if k in COLUMNS_INT:
            out[k] = int(v)
        else:
            out[k] = float(v) if v != "" else float("nan")
    return out


def train(model, data, output, progress=None, log_every=1, **settings):
    """Trains model (an ebmc.Model opened from ONNX, or the path of an ONNX
    model) on data and writes the trained ONNX model to output.

    data: an array [N, *input_shape] (float32/float64, used as given), or a
    path `ebm train --data` reads (IDX, .npy, CSV) or "toy:NAME".  settings:
    any flag of `ebm train` with '_' for '-', e.g. steps=200, batch=64, lr=1e-4,
    objective="cd", mcmc_steps=60, sampler="langevin", step_size=0.01,
    noise="auto", clamp=(-4, 4), seed=0, checkpoint="run.ckpt"; True gives a
    flag without a value.  Unset settings follow the model's ebm.train.*
    metadata, else DESIGN.md's defaults, as `ebm train` does.

    progress(row) is called with each log row as it is written (a dict: step,
    loss, cd, reg, real_energy_mean, fake_energy_mean, grad_norm, step_size,
    acceptance, lr, kl or fid, seconds), every log_every steps.  Returns the
    log as a dict of numpy arrays, one per column (rows of a run restored after
    a divergence stay in step order as written)."""
    if isinstance(model, Model):
        if model._compiled:
            raise Error(f"{model.path}: training needs the ONNX model (a compiled .so cannot be written back)",
                        code=4)
        src = model._abspath
        head = settings.pop("energy_head", model.energy_head_requested)
    else:
        src = os.fspath(model)
        head = settings.pop("energy_head", None)
    if not os.path.isfile(src):
        raise Error(f"{src}: no such file", code=1)
    ebm = _lib.find_program("ebm")
    with tempfile.TemporaryDirectory(prefix="ebmc-train-") as tmp:
        data_tmp = None
        if isinstance(data, (str, os.PathLike)):
            data_arg = os.fspath(data)
        else:
            a = np.asarray(data)
            if a.dtype not in (np.float32, np.float64):
                a = a.astype(np.float32)
            data_arg = data_tmp = os.path.join(tmp, "data.npy")
            np.save(data_arg, np.ascontiguousarray(a))
        log = settings.pop("log", None) or os.path.join(tmp, "log.csv")
        cmd = [ebm, "train", src, "--data", data_arg, "-o", os.fspath(output), "--log", log,
               "--log-every", str(int(log_every))]
        if head:
            cmd += ["--energy-head", head]
        for k, v in settings.items():
            if v is None or v is False:
                continue
            cmd.append("--" + k.replace("_", "-"))
            if v is not True:
                cmd.append(_flag_value(k, v))
        errf = open(os.path.join(tmp, "stderr.txt"), "w+")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf)
        pos, header, rows = 0, None, []
        try:
            while True:
                done = proc.poll() is not None
                new, pos, header = _read_rows(log, pos, header)
                for r in new:
                    r = _row_values(r)
                    rows.append(r)
                    if progress is not None:
                        progress(r)
                if done:
                    break
                time.sleep(0.05)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        errf.seek(0)
        err_lines = [ln for ln in errf.read().splitlines() if ln.strip()]
        errf.close()
        if proc.returncode != 0:
            msg = err_lines[-1] if err_lines else f"ebm train exited with status {proc.returncode}"
            if msg.startswith("ebm: "):
                msg = msg[len("ebm: "):]
            if data_tmp:
                msg = msg.replace("data " + data_tmp, "the data array").replace(data_tmp, "the data array")
            raise Error(msg, code=4)
    cols = header or []
    return {c: np.array([r[c] for r in rows], dtype=np.int64 if c in COLUMNS_INT else np.float64) for c in cols}
