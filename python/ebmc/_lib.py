"""ctypes declarations of libebm (runtime/ebm.h, runtime/sampler.h) and how the
package finds libebm and the ebmc / ebm programs.

Only what the package calls is declared.  The structures mirror the C ones
field by field; ebm_abi_model is checked against EBM_ABI_VERSION when a model
is opened, so a runtime with another descriptor layout is refused with a
message instead of being misread.
"""
import ctypes
import ctypes.util
import os
import shutil
import threading

from ._errors import Error

ABI_VERSION = 3          # runtime/ebm_abi.h: EBM_ABI_VERSION
ABI_MAGIC = 0x434D4245
ABI_MAX_RANK = 6
ABI_ISA_NAME_MAX = 24
ERROR_MSG_MAX = 1024     # base/ebm_status.h: EBM_ERROR_MSG_MAX

SAMPLER_KINDS = {"langevin": 0, "adaptive": 1, "mala": 2}
INIT_UNIFORM, INIT_NORMAL = 0, 1


class ebm_error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * ERROR_MSG_MAX)]


class ebm_langevin_params(ctypes.Structure):   # ebm_abi_langevin
    _fields_ = [
        ("steps", ctypes.c_int32),
        ("step_size", ctypes.c_float),
        ("noise_scale", ctypes.c_float),
        ("grad_clip", ctypes.c_float),
        ("temperature", ctypes.c_float),
        ("clamp", ctypes.c_int32),
        ("lo", ctypes.c_float),
        ("hi", ctypes.c_float),
        ("seed", ctypes.c_uint64),
        ("step_offset", ctypes.c_uint64),
        ("trajectory_every", ctypes.c_int32),
    ]


class ebm_progress(ctypes.Structure):
    _fields_ = [
        ("step", ctypes.c_int64),
        ("total", ctypes.c_int64),
        ("mean_energy", ctypes.c_double),
        ("acceptance", ctypes.c_double),
        ("step_size", ctypes.c_float),
        ("burn_in", ctypes.c_int),
    ]


PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(ebm_progress), ctypes.c_void_p)


class ebm_sampler_params(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("lv", ebm_langevin_params),
        ("noise_auto", ctypes.c_int),
        ("burn_in", ctypes.c_int32),
        ("target_rate", ctypes.c_double),
        ("anneal_from", ctypes.c_float),
        ("anneal_hold", ctypes.c_float),
        ("denoise", ctypes.c_float),
        ("progress", PROGRESS_FN),
        ("progress_user", ctypes.c_void_p),
    ]


class ebm_sampler_stats(ctypes.Structure):
    _fields_ = [
        ("step_size", ctypes.c_float),
        ("acceptance", ctypes.c_double),
        ("accepted", ctypes.c_int64),
        ("proposed", ctypes.c_int64),
        ("rejected_nonfinite", ctypes.c_int64),
        ("rejected_outside", ctypes.c_int64),
    ]


class ebm_abi_meta(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("value", ctypes.c_char_p)]


class ebm_abi_model(ctypes.Structure):   # the leading fields; only read, never allocated here
    _fields_ = [
        ("magic", ctypes.c_uint32),
        ("abi_version", ctypes.c_uint32),
        ("code_hash", ctypes.c_uint64),
        ("weights_hash", ctypes.c_uint64),
        ("blob_bytes", ctypes.c_int64),
        ("isa_features", ctypes.c_uint64),
        ("isa", ctypes.c_char * ABI_ISA_NAME_MAX),
        ("compiler_version", ctypes.c_char_p),
        ("source_hash", ctypes.c_char_p),
        ("input_rank", ctypes.c_int32),
        ("input_shape", ctypes.c_int64 * ABI_MAX_RANK),
        ("sample_numel", ctypes.c_int64),
        ("energy_head", ctypes.c_char_p),
        ("tile", ctypes.c_int64),
        ("n_params", ctypes.c_int32),
        ("params", ctypes.c_void_p),
        ("weights_numel", ctypes.c_int64),
        ("weights", ctypes.c_void_p),
        ("n_meta", ctypes.c_int32),
        ("meta", ctypes.POINTER(ebm_abi_meta)),
        ("n_programs", ctypes.c_int32),
        ("programs", ctypes.c_void_p),
    ]


class ebm_open_options(ctypes.Structure):
    _fields_ = [("trust_file", ctypes.c_int)]


_P = ctypes.c_void_p
_ERR = ctypes.POINTER(ebm_error)
_FLOATS = ctypes.c_void_p   # numpy buffers are passed as addresses (no copy)

_SIGNATURES = {
    "ebm_model_open_with": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ebm_open_options), ctypes.POINTER(_P), _ERR]),
    "ebm_model_close": (None, [_P]),
    "ebm_model_desc": (ctypes.POINTER(ebm_abi_model), [_P]),
    "ebm_cpu_features": (ctypes.c_uint64, []),
    "ebm_ctx_new": (ctypes.c_int, [_P, ctypes.c_int64, ctypes.POINTER(_P), _ERR]),
    "ebm_ctx_free": (None, [_P]),
    "ebm_ctx_capacity": (ctypes.c_int64, [_P]),
    "ebm_energy": (ctypes.c_int, [_P, _FLOATS, ctypes.c_int64, _FLOATS, _ERR]),
    "ebm_score": (ctypes.c_int, [_P, _FLOATS, ctypes.c_int64, _FLOATS, _FLOATS, _ERR]),
    "ebm_sampler_defaults": (ebm_sampler_params, []),
    "ebm_sampler_run": (ctypes.c_int, [_P, _FLOATS, ctypes.c_int64, ctypes.POINTER(ebm_sampler_params), _FLOATS,
                                       _FLOATS, ctypes.POINTER(ebm_sampler_stats), _ERR]),
    "ebm_init_states": (None, [ctypes.c_int, ctypes.c_float, ctypes.c_float, ctypes.c_uint64, ctypes.c_uint64,
                               ctypes.c_int64, _FLOATS, ctypes.c_int64, ctypes.c_int64]),
    "ebm_init_states_sd": (None, [ctypes.c_int, ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_uint64,
                                  ctypes.c_uint64, ctypes.c_int64, _FLOATS, ctypes.c_int64, ctypes.c_int64]),
}

_lock = threading.Lock()
_lib = None
_lib_path = None


def _installed():
    """Paths recorded when the package was installed (setup.py writes
    _install_paths.py), or an empty dict in a source tree."""
    try:
        from . import _install_paths
    except ImportError:
        return {}
    return {k: v for k, v in vars(_install_paths).items() if k.isupper() and v}


def _repo_build():
    """The CMake build folder of the repository this package's source sits in
    (python/ebmc/ -> ../../build), for PYTHONPATH=python use."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "build"))


def libebm_candidates():
    """Where libebm is looked for, in order: $EBMC_LIBEBM, the path recorded at
    install time, the repository's build/ folder, the system library path."""
    out = []
    env = os.environ.get("EBMC_LIBEBM")
    if env:
        return [("$EBMC_LIBEBM", env)]
    rec = _installed().get("LIBEBM")
    if rec:
        out.append(("recorded at install", rec))
    out.append(("build folder", os.path.join(_repo_build(), "lib", "libebm.so")))
    found = ctypes.util.find_library("ebm")
    if found:
        out.append(("system library path", found))
    return out


def lib():
    """libebm, loaded once (ctypes.CDLL: the GIL is released during calls)."""
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for how, path in libebm_candidates():
            if how != "system library path" and not os.path.exists(path):
                tried.append(f"{path} ({how}: absent)")
                continue
            try:
                handle = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{path} ({how}: {e})")
                continue
            for name, (res, args) in _SIGNATURES.items():
                try:
                    fn = getattr(handle, name)
                except AttributeError:
                    raise Error(f"{path}: libebm lacks {name} (an older libebm?)") from None
                fn.restype = res
                fn.argtypes = args
            _lib, _lib_path = handle, path
            return _lib
        raise Error("libebm not found: tried " + "; ".join(tried) +
                    " (set EBMC_LIBEBM to the path of libebm.so)")


def lib_path():
    lib()
    return _lib_path


def find_program(name):
    """The ebmc compiler or the ebm tool: $EBMC_EBMC / $EBMC_EBM, the path
    recorded at install time, the repository's build/bin, the bin/ folder
    beside libebm's lib/ folder (<prefix>/lib -> <prefix>/bin), then $PATH."""
    env_name = "EBMC_" + name.upper()
    env = os.environ.get(env_name)
    if env:
        return env
    candidates = []
    rec = _installed().get(name.upper())
    if rec:
        candidates.append(rec)
    candidates.append(os.path.join(_repo_build(), "bin", name))
    try:
        where = lib_path()
    except Error:
        where = None
    if where and os.sep in where:   # <prefix>/lib/libebm.so (or build/lib/) -> <prefix>/bin
        candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(where))), "bin", name))
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    found = shutil.which(name)
    if found:
        return found
    raise Error(f"the '{name}' program was not found (tried {', '.join(candidates)} and $PATH; "
                f"set {env_name} to its path)")


def call(fn, *args):
    """Calls a libebm function whose last argument is ebm_error*; raises Error
    with libebm's message on failure."""
    err = ebm_error()
    st = fn(*args, ctypes.byref(err))
    if st != 0:
        msg = err.msg.decode("utf-8", "replace") or f"libebm status {st}"
        raise Error(msg, code=st)
    return st
