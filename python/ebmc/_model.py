"""ebmc.Model: a compiled energy model opened through libebm."""
import ctypes
import math
import os
import threading

import numpy as np

from . import _compile, _lib
from ._errors import Error

BACKENDS = ("c",)
HEADS = ("output", "sum", "neg-logsumexp", "logsumexp")
FLT_MAX = float(np.finfo(np.float32).max)

# ebm sample's settings (tools/ebm_sample.c): keyword -> metadata key
SAMPLER_KEYS = {
    "steps": "ebm.sampler.steps",
    "step_size": "ebm.sampler.step_size",
    "noise": "ebm.sampler.noise_scale",
    "grad_clip": "ebm.sampler.grad_clip",
    "clamp": "ebm.sampler.clamp",
    "temperature": "ebm.sampler.temperature",
    "anneal": "ebm.sampler.anneal",
    "anneal_hold": "ebm.sampler.anneal_hold",
    "denoise": "ebm.sampler.denoise",
    "init": "ebm.sampler.init",
}


def _init_sd(v):
    """The standard deviation an init string names (1 for "uniform" and
    "normal", S for "normal:S"), None when it is none of them."""
    if v in ("uniform", "normal"):
        return 1.0
    if v.startswith("normal:"):
        try:
            sd = float(v[len("normal:"):])
        except ValueError:
            return None
        if 0 < sd <= 1e6:   # as `ebm sample --init normal:S`
            return sd
    return None


def _addr(a):
    return a.ctypes.data if a is not None else None


def _as_f32(x):
    """x as a C-contiguous float32 array: the same memory when it already is one."""
    a = np.asarray(x)
    if a.dtype == np.float32 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.float32)


# ---- one setting: keyword (a Python value), else metadata (text), else default ----

def _float(what, v, allow_zero):
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = math.nan
    if not (f > 0 or (allow_zero and f == 0)) or f > FLT_MAX or (f > 0 and np.float32(f) == 0):
        raise Error(f"{what}: '{v}' is not a number {'>= 0' if allow_zero else '> 0'} representable as a float",
                    code=4)
    return f


def _int(what, v, lo, hi):
    try:
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError
        i = int(v)
    except (TypeError, ValueError):
        i = None
    if i is None or not lo <= i <= hi:
        raise Error(f"{what}: '{v}' is not a whole number in {lo}..{hi}", code=4)
    return i


def _clamp(what, v):
    """'none' / None-like -> None; 'LO,HI' or (lo, hi) -> (lo, hi)."""
    if v is False or (isinstance(v, str) and v == "none"):
        return None
    if isinstance(v, str):
        parts = v.split(",")
    else:
        try:
            parts = list(v)
        except TypeError:
            parts = []
    if len(parts) != 2:
        raise Error(f"{what}: '{v}' is not LO,HI (e.g. -1,1) or none", code=4)
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except (TypeError, ValueError):
        raise Error(f"{what}: '{v}' is not LO,HI of finite numbers", code=4) from None
    if not (abs(lo) <= FLT_MAX and abs(hi) <= FLT_MAX):
        raise Error(f"{what}: '{v}' is not LO,HI of finite numbers", code=4)
    if lo > hi:
        raise Error(f"{what}: '{v}': LO is above HI", code=4)
    return lo, hi


class Model:
    """A compiled EBM.  path: a compiled model (.so, recognised by content) or
    an ONNX model, compiled by `ebmc` into the package's cache.  energy_head:
    output | sum | neg-logsumexp | logsumexp (default: the model's
    ebm.energy_head metadata, else output); with a compiled model it must be the
    head it was compiled with.  backend: "c" (the C code generator; the only one
    today).  trust_file: open a compiled model not owned by you (see `ebm
    --trust-file`)."""

    def __init__(self, path, energy_head=None, backend="c", trust_file=False):
        if backend not in BACKENDS:
            raise Error(f"backend '{backend}' is not available: accepted values are "
                        + ", ".join(f"'{b}'" for b in BACKENDS) + " (an LLVM JIT is planned)", code=3)
        if energy_head is not None and energy_head not in HEADS:
            raise Error(f"energy_head '{energy_head}' is not one of {', '.join(HEADS)}", code=4)
        self.path = os.fspath(path)
        self.energy_head_requested = energy_head
        self.backend = backend
        self._trust = bool(trust_file)
        self._handles = {}        # tile -> ebm_model* (ONNX sources: one compile per tile)
        self._ctx = {}            # handle -> (ebm_ctx*, capacity), reused under _lock
        self._lock = threading.Lock()
        self._hlock = threading.Lock()   # _handles: one compile per tile even from several threads
        self._owned = []          # things to keep alive (from_torch's temporary folder)
        if not os.path.exists(self.path):
            raise Error(f"{self.path}: no such file", code=1)
        if os.path.isdir(self.path):
            raise Error(f"{self.path}: is a directory, expected an ONNX model or a compiled model (.so)", code=1)
        self._abspath = os.path.abspath(self.path)   # later compiles (other tiles) do not depend on the cwd
        self._compiled = _compile.is_shared_object(self.path)
        self._h = self._handle(0)
        d = self._desc(self._h)
        self.input_shape = tuple(int(d.input_shape[i]) for i in range(1, d.input_rank))
        self.sample_numel = int(d.sample_numel)
        self.energy_head = d.energy_head.decode() if d.energy_head else None
        self.metadata = {}
        for i in range(d.n_meta):
            k = d.meta[i].key.decode("utf-8", "replace")
            if k.startswith("ebm."):
                self.metadata[k] = d.meta[i].value.decode("utf-8", "replace")

    # ---- handles --------------------------------------------------------------------

    def _open_so(self, path):
        lib = _lib.lib()
        h = ctypes.c_void_p()
        opts = _lib.ebm_open_options(trust_file=1 if self._trust else 0)
        _lib.call(lib.ebm_model_open_with, os.fsencode(path), ctypes.byref(opts), ctypes.byref(h))
        d = lib.ebm_model_desc(h).contents
        if d.abi_version != _lib.ABI_VERSION:   # libebm checked it against its own; this is the package's mirror
            lib.ebm_model_close(h)
            raise Error(f"{path}: descriptor ABI version {d.abi_version}, but this ebmc package reads version "
                        f"{_lib.ABI_VERSION}: update the package with libebm", code=3)
        return h

    def _handle(self, tile):
        with self._hlock:
            return self._handle_locked(tile)

    def _handle_locked(self, tile):
        if self._compiled:
            tile = 0   # a compiled model is what it is
        h = self._handles.get(tile)
        if h is not None:
            return h
        if self._compiled:
            h = self._open_so(self._abspath)
            head = _lib.lib().ebm_model_desc(h).contents.energy_head
            want = self.energy_head_requested
            if want and (head or b"").decode() != want:
                _lib.lib().ebm_model_close(h)
                raise Error(f"{self.path}: compiled with energy head '{(head or b'?').decode()}', but "
                            f"energy_head='{want}' was given (recompile with ebmc --energy-head {want}, or drop "
                            f"it)", code=4)
        else:
            h = _compile.compile_onnx(self._abspath, self.energy_head_requested, tile, self._open_so)
        self._handles[tile] = h
        return h

    @staticmethod
    def _desc(h):
        return _lib.lib().ebm_model_desc(h).contents

    def close(self):
        """Frees the contexts and closes the model (also done when it is collected)."""
        lib = _lib.lib() if (self.__dict__.get("_handles") or self.__dict__.get("_ctx")) else None
        for ctx, _ in self.__dict__.get("_ctx", {}).values():
            lib.ebm_ctx_free(ctx)
        self.__dict__.get("_ctx", {}).clear()
        for h in self.__dict__.get("_handles", {}).values():
            lib.ebm_model_close(h)
        self.__dict__.get("_handles", {}).clear()
        for o in self.__dict__.get("_owned", []):
            o.cleanup()
        self.__dict__.get("_owned", []).clear()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"ebmc.Model({self.path!r}, input_shape={self.input_shape}, energy_head={self.energy_head!r})"

    # ---- contexts -------------------------------------------------------------------

    def _run(self, h, n, fn):
        """fn(ctx) with a context of capacity >= n: the model's cached one when
        no other thread holds it, else a fresh one for this call."""
        lib = _lib.lib()
        n = max(int(n), 1)
        if self._lock.acquire(blocking=False):
            try:
                ctx, cap = self._ctx.get(h.value, (None, 0))
                if ctx is None or cap < n:
                    if ctx is not None:
                        lib.ebm_ctx_free(ctx)
                        del self._ctx[h.value]
                    ctx = ctypes.c_void_p()
                    _lib.call(lib.ebm_ctx_new, h, n, ctypes.byref(ctx))
                    self._ctx[h.value] = (ctx, n)
                return fn(ctx)
            finally:
                self._lock.release()
        ctx = ctypes.c_void_p()
        _lib.call(lib.ebm_ctx_new, h, n, ctypes.byref(ctx))
        try:
            return fn(ctx)
        finally:
            lib.ebm_ctx_free(ctx)

    def _check_x(self, x, what="x"):
        if not self._handles:
            raise Error(f"{self.path}: the model was closed", code=4)
        a = _as_f32(x)
        if a.ndim != len(self.input_shape) + 1 or tuple(a.shape[1:]) != self.input_shape:
            want = "[N, " + ", ".join(str(d) for d in self.input_shape) + "]"
            raise Error(f"{what}: shape {list(a.shape)} does not fit the model {self.path}: expected {want}",
                        code=5)
        return a

    # ---- compute --------------------------------------------------------------------

    def energy(self, x):
        """E(x): float32 [N] for x of shape [N, *input_shape]."""
        a = self._check_x(x)
        n = a.shape[0]
        e = np.empty(n, dtype=np.float32)
        if n:
            lib = _lib.lib()
            self._run(self._h, n, lambda ctx: _lib.call(lib.ebm_energy, ctx, _addr(a), n, _addr(e)))
        return e

    def score(self, x, return_energy=False):
        """The score -dE/dx, float32 of x's shape (and E(x) with return_energy)."""
        a = self._check_x(x)
        n = a.shape[0]
        e = np.empty(n, dtype=np.float32)
        s = np.empty(a.shape, dtype=np.float32)
        if n:
            lib = _lib.lib()
            self._run(self._h, n, lambda ctx: _lib.call(lib.ebm_score, ctx, _addr(a), n, _addr(e), _addr(s)))
        return (s, e) if return_energy else s

    def grad(self, x, return_energy=False):
        """+dE/dx (= -score), float32 of x's shape (and E(x) with return_energy)."""
        s, e = self.score(x, return_energy=True)
        np.negative(s, out=s)
        return (s, e) if return_energy else s

    __call__ = energy

    # ---- sampling -------------------------------------------------------------------

    def sampler_settings(self, **kw):
        """The settings sample() would use: each keyword, else the model's
        ebm.sampler.* metadata, else DESIGN.md's default (as `ebm sample`)."""
        d = {"steps": 60, "step_size": 0.01, "noise": 0.005, "grad_clip": 0.03, "clamp": (-1.0, 1.0),
             "temperature": 1.0, "anneal": 0.0, "anneal_hold": 0.0, "denoise": 0.0,
             "init": "uniform"}
        for name, key in SAMPLER_KEYS.items():
            v = kw.get(name)
            is_kw = v is not None
            if not is_kw:
                v = self.metadata.get(key)
                if v is None:
                    continue
            what = f"{name}=" if is_kw else f"{self.path}: metadata {key} (override it with {name}=)"
            if name == "steps":
                d[name] = _int(what, v, 0, 2**31 - 1)
            elif name in ("step_size", "temperature"):
                d[name] = _float(what, v, False)
            elif name in ("grad_clip", "anneal", "denoise"):
                d[name] = _float(what, v, True)
            elif name == "noise":
                d[name] = "auto" if (isinstance(v, str) and v == "auto") else _float(what, v, True)
            elif name == "anneal_hold":
                d[name] = _float(what, v, True)
                if not d[name] < 1:
                    raise Error(f"{what}: {v}: expected the share of the steps held at the first temperature, "
                                f"in [0, 1)", code=4)
            elif name == "clamp":
                d[name] = _clamp(what, v)
            elif name == "init":
                if isinstance(v, str) and _init_sd(v) is not None:
                    d[name] = v
                elif is_kw and not isinstance(v, str):
                    d[name] = v   # an array of initial states
                else:
                    raise Error(f"{what}: '{v}' is not uniform, normal or normal:S (S in (0, 1e6])"
                                + (" (or an array)" if is_kw else ""), code=4)
        return d

    def sample(self, n=None, steps=None, sampler="langevin", seed=0, init=None, step_size=None, noise=None,
               grad_clip=None, clamp=None, temperature=None, trajectory=None, burn_in=None, anneal=None,
               anneal_hold=None, denoise=None, return_energy=False, return_stats=False, progress=None):
        """Draws n samples from exp(-E(x)/T), as `ebm sample -n n --seed seed`
        with the same settings does (the same bytes).  Settings left at None
        come from the model's ebm.sampler.* metadata, else DESIGN.md's defaults
        (steps 60, step_size 0.01, noise 0.005 or "auto" = sqrt(2 step_size),
        grad_clip 0.03, clamp (-1, 1) or "none", temperature 1).  init:
        "uniform" (in the clamp range), "normal", "normal:S" (N(0, S^2)), or an array [n, *input_shape]
        of initial states (copied).  sampler: langevin | adaptive | mala
        (burn_in: MALA's adapting steps, default steps // 2).  trajectory=M
        returns [1 + steps // M, n, *input_shape]: the initial state, then every
        M-th.  Returns the samples (float32 [n, *input_shape]), plus the final
        energies with return_energy and a dict of the sampler's statistics with
        return_stats.  progress(dict) is called after every chunk of steps
        (step, total, mean_energy, acceptance, step_size, burn_in); the
        samples are the same with or without it.

        The compiled program is the one `ebm sample -n n` runs: for an ONNX
        model and n < 128, one compiled with a tile of ceil(n / 2) samples
        (compiled, then cached, at the first use of each such tile)."""
        if not self._handles:
            raise Error(f"{self.path}: the model was closed", code=4)
        if sampler not in _lib.SAMPLER_KINDS:
            raise Error(f"sampler '{sampler}' is not langevin, adaptive or mala", code=4)
        if burn_in is not None and sampler != "mala":
            raise Error("burn_in applies to sampler='mala' only (the adaptive sampler adapts throughout)", code=4)
        seed = _int("seed=", seed, 0, 2**64 - 1)
        every = 0 if trajectory is None else _int("trajectory=", trajectory, 1, 2**31 - 1)
        s = self.sampler_settings(steps=steps, step_size=step_size, noise=noise, grad_clip=grad_clip, clamp=clamp,
                                  temperature=temperature, anneal=anneal, anneal_hold=anneal_hold, denoise=denoise,
                                  init=init)
        init_v = s["init"]
        if not isinstance(init_v, str):
            x = self._check_x(init_v, "init").copy()
            if n is not None and x.shape[0] != int(n):
                raise Error(f"init: holds {x.shape[0]} samples, but n={n} was given", code=5)
            if x.shape[0] == 0:
                raise Error("init: holds no samples", code=5)
            n = x.shape[0]
        else:
            if n is None:
                raise Error("sample: give n, the number of samples (or init=an array)", code=4)
            n = _int("n=", n, 1, 2**31 - 1)
            x = None
        lib = _lib.lib()
        p = lib.ebm_sampler_defaults()
        p.kind = _lib.SAMPLER_KINDS[sampler]
        lv = p.lv
        lv.steps = s["steps"]
        lv.step_size = s["step_size"]
        lv.noise_scale = 0.005 if s["noise"] == "auto" else s["noise"]
        lv.grad_clip = s["grad_clip"]
        lv.temperature = s["temperature"]
        if s["clamp"] is None:
            lv.clamp = 0
        else:
            lv.clamp, lv.lo, lv.hi = 1, s["clamp"][0], s["clamp"][1]
        noise_auto = s["noise"] == "auto"
        if noise_auto:   # sample_settings_resolve: sqrtf(2.0f * step_size)
            lv.noise_scale = float(np.sqrt(np.float32(2.0) * np.float32(lv.step_size)))
        lv.seed = seed
        lv.trajectory_every = every
        p.noise_auto = 1 if noise_auto else 0
        p.anneal_from = s["anneal"]
        p.anneal_hold = s["anneal_hold"]
        p.denoise = s["denoise"]
        if p.anneal_from > 0 and sampler != "langevin":
            raise Error(f"sampler '{sampler}': annealing (anneal={s['anneal']:g}, or ebm.sampler.anneal of "
                        f"{self.path}) is for the langevin sampler; pass anneal=0", code=4)
        if sampler == "mala":
            p.burn_in = lv.steps // 2 if burn_in is None else _int("burn_in=", burn_in, 0, 2**31 - 1)
        else:
            p.burn_in = 0
        if p.burn_in > lv.steps:
            raise Error(f"burn_in={p.burn_in} exceeds the {lv.steps} steps (burn-in is part of them)", code=4)
        if x is None:
            x = np.empty((n,) + self.input_shape, dtype=np.float32)
            lo, hi = (lv.lo, lv.hi) if lv.clamp else (-1.0, 1.0)
            kind = _lib.INIT_UNIFORM if init_v == "uniform" else _lib.INIT_NORMAL
            lib.ebm_init_states_sd(kind, lo, hi, _init_sd(init_v), seed, 0, 0, _addr(x), n, self.sample_numel)
        frames = 1 + lv.steps // every if every else 0
        traj = np.empty((frames, n) + self.input_shape, dtype=np.float32) if frames else None
        e = np.empty(n, dtype=np.float32)
        stats = _lib.ebm_sampler_stats()
        failure = []
        if progress is not None:
            def on_progress(pr, user):
                if failure:
                    return
                c = pr.contents
                try:
                    progress({"step": int(c.step), "total": int(c.total), "mean_energy": float(c.mean_energy),
                              "acceptance": float(c.acceptance), "step_size": float(c.step_size),
                              "burn_in": bool(c.burn_in)})
                except BaseException as exc:   # raised again once libebm returns
                    failure.append(exc)
            p.progress = _lib.PROGRESS_FN(on_progress)   # kept alive by p until the call returns
        h = self._handle(_compile.tile_for_batch(n))   # the program `ebm sample -n n` runs
        self._run(h, n, lambda ctx: _lib.call(lib.ebm_sampler_run, ctx, _addr(x), n, ctypes.byref(p), _addr(e),
                                              _addr(traj), ctypes.byref(stats)))
        if failure:
            raise failure[0]
        out = [traj if frames else x]
        if return_energy:
            out.append(e)
        if return_stats:
            out.append({"step_size": float(stats.step_size), "acceptance": float(stats.acceptance),
                        "accepted": int(stats.accepted), "proposed": int(stats.proposed),
                        "rejected_nonfinite": int(stats.rejected_nonfinite),
                        "rejected_outside": int(stats.rejected_outside)})
        return out[0] if len(out) == 1 else tuple(out)
