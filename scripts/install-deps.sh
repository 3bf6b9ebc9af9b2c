#!/bin/bash
# install-deps.sh — installs the Debian packages needed to build and test ebmc,
# only those missing.  Fast and silent when everything is already there.
#
# Runtime and build tools, and what the Python package needs (NumPy, pytest,
# pip/setuptools/wheel for an offline install).  PyTorch (python3-torch) and
# the onnx Python package are NOT installed: they are needed only to
# regenerate the test fixtures (tests/fixtures/gen_fixtures.py), to run the
# benchmarks against PyTorch (bench/) and for the Python package's from_torch
# tests, which are skipped without torch.
set -euo pipefail

packages=(
    cmake gcc make pkg-config          # build
    protobuf-c-compiler libprotobuf-c-dev  # proto/: protoc-c and its runtime
    libopenblas-dev                    # matmul/convolution in the reference executor
    check                              # unit test framework
    libjansson-dev                     # JSON model configurations (ebm init --config)
    libpng-dev                         # PNG output of samples and 2-D plots (runtime/png.c)
    zlib1g-dev                         # gzipped IDX datasets (runtime/data.c)
    libopenmpi-dev openmpi-bin         # mpirun -np R ebm train|sample (optional at build time; CTest cli_mpi)
    clang libclang-rt-14-dev           # libFuzzer targets (tests/fuzz)
    g++ llvm-14-dev libclang-14-dev libclang-cpp14-dev   # the in-process JIT (compiler/jit_clang.cpp; optional at build time)
    python3                            # the scripts: standard library only
    python3-numpy python3-pytest       # the Python package (python/) and its tests (CTest python_package)
    python3-pip python3-setuptools python3-wheel python3-venv   # pip install --no-build-isolation ./python, offline
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${sudo[@]}" apt-get update -qq >"$log" 2>&1 ||
   ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "install-deps: apt-get failed (output above)" >&2
    exit 1
fi
echo "install-deps: done"
