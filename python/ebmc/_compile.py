"""ONNX -> model.so for the Python package: the `ebmc` program, run once per
(model bytes, energy head, tile, ebmc build, CPU) into a private cache folder.

The `ebm` tool keeps its own cache (tools/model_cache.c, keyed by the compiler
library's identity); the package cannot compute that key without linking the
compiler, so it keeps a sibling folder, $XDG_CACHE_HOME/ebmc/python (else
~/.cache/ebmc/python), made 0700 like ebm's.  ebmc is run with the options the
`ebm` cache compiles with (-O3, --target native, the same --tile), so a model
compiled here runs the same program as one compiled by `ebm sample`.  A cached
file is opened with every check of libebm; one that fails them is rebuilt.
"""
import hashlib
import os
import subprocess
import tempfile

from . import _lib
from ._errors import Error

TILES_PER_BATCH = 2   # tools/model_cache.c: CACHE_TILES_PER_BATCH


def tile_for_batch(batch):
    """tools/model_cache.c cache_tile_for_batch: the tile `ebm sample -n batch`
    compiles with (two tiles below ebmc's default of 64, else ebmc's choice)."""
    if batch <= 1:
        return 0
    tile = (batch + TILES_PER_BATCH - 1) // TILES_PER_BATCH
    return tile if tile < 64 else 0


def cache_dir():
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg.startswith("/"):
        base = os.path.join(xdg, "ebmc")
    elif os.environ.get("HOME"):
        base = os.path.join(os.environ["HOME"], ".cache", "ebmc")
    else:
        base = None
    if base is None:
        return None
    d = os.path.join(base, "python")
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        st = os.lstat(d)
        if st.st_uid != os.geteuid():
            return None
        if st.st_mode & 0o077:
            os.chmod(d, 0o700)
    except OSError:
        return None
    return d


def is_shared_object(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _key(model_bytes, head, tile, ebmc):
    h = hashlib.sha256()
    h.update(model_bytes)
    st = os.stat(ebmc)
    lib = _lib.lib()
    for part in (head or "(head from metadata)", f"tile {tile}", os.path.realpath(ebmc),
                 f"{st.st_size} {st.st_mtime_ns}", os.environ.get("CC", ""), f"abi {_lib.ABI_VERSION}",
                 f"cpu {lib.ebm_cpu_features():016x}"):
        h.update(b"\xff" + part.encode())
    return h.hexdigest()[:24]


def _run_ebmc(ebmc, source, head, tile, out):
    cmd = [ebmc, source, "-o", out, "-O3", "--target", "native"]
    if head:
        cmd += ["--energy-head", head]
    if tile:
        cmd += ["--tile", str(tile)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else f"{ebmc} exited with status {r.returncode}"
        if msg.startswith("ebmc: "):
            msg = msg[len("ebmc: "):]
        raise Error(msg, code=4)


def compile_onnx(source, head, tile, opener):
    """opener(path) -> handle opens a compiled model (raising Error).  Returns
    the handle of source compiled with (head, tile), compiling it if needed."""
    try:
        with open(source, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Error(f"{source}: cannot open: {e.strerror}", code=1) from None
    ebmc = _lib.find_program("ebmc")
    d = cache_dir()
    if d is None:   # no usable cache folder: a private temporary one
        with tempfile.TemporaryDirectory(prefix="ebmc-py-") as tmp:
            out = os.path.join(tmp, "model.so")
            _run_ebmc(ebmc, source, head, tile, out)
            return opener(out)   # the mapping outlives the file
    path = os.path.join(d, _key(data, head, tile, ebmc) + ".so")
    if os.path.exists(path):
        try:
            return opener(path)
        except Error:
            os.remove(path)   # damaged or planted: rebuilt
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".so", dir=d)
    os.close(fd)
    try:
        _run_ebmc(ebmc, source, head, tile, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return opener(path)
