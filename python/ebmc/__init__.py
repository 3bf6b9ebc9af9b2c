"""ebmc: energy-based models compiled to native code, from Python.

    import numpy as np, ebmc
    m = ebmc.Model("model.onnx")           # or a compiled model.so
    e = m.energy(x)                          # float32 [N]
    s = m.score(x)                           # -dE/dx, x's shape; m.grad(x) = +dE/dx
    xs = m.sample(64, steps=200, seed=1)     # the same bytes as `ebm sample -n 64 --steps 200 --seed 1`
    log = ebmc.train(m, data, "trained.onnx", steps=500, progress=print)

A thin layer over libebm (ctypes, no compiler needed at import; the GIL is
released during every libebm call).  Arrays go in as they are when they are
C-contiguous float32 (other dtypes and layouts are copied into one) and come
out as float32 numpy arrays.  Every failure raises ebmc.Error with libebm's
one-line message.

Where things are found:
  libebm   $EBMC_LIBEBM; else the path recorded when the package was installed
           (pip records $EBMC_LIBEBM, else the repository's build/lib/libebm.so,
           at build time); else build/lib/libebm.so of the repository this
           source sits in (PYTHONPATH=python); else the system library path
           (ctypes.util.find_library("ebm")).
  ebmc     (to compile an ONNX model) $EBMC_EBMC; else the recorded path; else
           build/bin/ebmc; else <prefix>/bin/ebmc beside libebm's
           <prefix>/lib; else $PATH.  `ebm` (for train) likewise with $EBMC_EBM.
ONNX models are compiled by running `ebmc` (-O3, --target native, the tile
`ebm sample` would use for the batch) into $XDG_CACHE_HOME/ebmc/python (else
~/.cache/ebmc/python), a private folder beside the `ebm` tool's cache, keyed by
the model's bytes, the energy head, the tile, the ebmc binary and this CPU;
later opens load the cached .so (checked by libebm like any model).  Compiled
models (.so, recognised by content) are opened directly.

Training runs `ebm train` (writing a trained ONNX model is the compiler's
side, not libebm's) and returns its log as arrays.
"""
from ._errors import Error

Error.__module__ = "ebmc"   # shown as ebmc.Error in tracebacks
from ._model import BACKENDS, HEADS, Model
from ._torch import from_torch
from ._train import train

__version__ = "0.1.0"
__all__ = ["Error", "Model", "train", "from_torch", "BACKENDS", "HEADS", "__version__"]
