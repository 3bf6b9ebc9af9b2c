#!/bin/bash
# pip_install_check.sh PYTHON — installs the package offline as a user would
# (pip install --no-build-isolation, here with --target into a temporary
# folder, from a copy of python/ so the source tree stays clean), then imports
# it from there with none of the EBMC_* variables set: libebm and ebmc must be
# found through the paths setup.py recorded at install time.
# Exits 77 (CTest: skipped) when pip or setuptools is missing.
set -euo pipefail
py=${1:?usage: pip_install_check.sh PYTHON}
src=${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR is not set}
if ! "$py" -c "import setuptools, wheel" 2>/dev/null || ! "$py" -m pip --version >/dev/null 2>&1; then
    echo "pip_install_check: SKIPPED: $py lacks pip, setuptools or wheel (scripts/install-deps.sh installs them)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
cp -r "$src/python/pyproject.toml" "$src/python/setup.py" "$src/python/README.md" "$src/python/ebmc" "$tmp/src/"
rm -rf "$tmp/src/ebmc/__pycache__" "$tmp/src/ebmc/_install_paths.py"
# --no-deps: --target would otherwise install numpy into the folder too (from an index: none offline)
if ! "$py" -m pip install --no-build-isolation --no-index --no-deps --disable-pip-version-check --quiet \
        --target "$tmp/site" "$tmp/src" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log"
    echo "pip_install_check: FAILED: pip install (output above)"
    exit 1
fi
cat "$tmp/site/ebmc/_install_paths.py"
env -u EBMC_LIBEBM -u EBMC_EBMC -u EBMC_EBM PYTHONPATH="$tmp/site" PYTHONDONTWRITEBYTECODE=1 \
    "$py" - "$tmp/site" "$src/tests/fixtures/mlp_silu" <<'PY'
import os, sys
import numpy as np
import ebmc
site, fix = sys.argv[1], sys.argv[2]
assert ebmc.__file__.startswith(site), ebmc.__file__
m = ebmc.Model(os.path.join(fix, "model.onnx"))
e = m.energy(np.load(os.path.join(fix, "input.npy")))
ref = np.load(os.path.join(fix, "energy_f64.npy"))
err = np.max(np.abs(e - ref)) / np.max(np.abs(ref))
assert err <= 1e-4, err
print(f"pip_install_check: imported {ebmc.__file__}; energy rel err {err:.2e} against torch float64")
PY
