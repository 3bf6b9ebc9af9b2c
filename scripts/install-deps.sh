#!/bin/bash
# install-deps.sh — installs the Debian packages needed to build and test ebmc,
# only those missing.  Fast and silent when everything is already there.
#
# Runtime and build tools only.  PyTorch (python3-torch) and the onnx Python
# package are NOT installed: they are needed only to regenerate the test
# fixtures (tests/fixtures/gen_fixtures.py) and to run the benchmarks against
# PyTorch (bench/); building and testing never use them.
set -euo pipefail

packages=(
    cmake gcc make pkg-config          # build
    protobuf-c-compiler libprotobuf-c-dev  # proto/: protoc-c and its runtime
    libopenblas-dev                    # matmul/convolution in the reference executor
    check                              # unit test framework
    libjansson-dev                     # JSON model configurations (ebm init --config)
    libpng-dev                         # PNG output of samples and 2-D plots (runtime/png.c)
    zlib1g-dev                         # gzipped IDX datasets (runtime/data.c)
    clang libclang-rt-14-dev           # libFuzzer targets (tests/fuzz)
    python3                            # standard library only (no numpy/torch/onnx)
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
