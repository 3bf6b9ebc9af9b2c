#!/bin/bash
# quickstart.sh — installs what is missing, builds ebmc, and runs the main job
# on a built-in default: compiles a small bundled convolutional energy network
# to native code, prints the energies of a bundled batch of inputs, and draws
# Langevin samples from it.
#
#   scripts/quickstart.sh [MODEL.onnx INPUT.npy]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "quickstart: built build/bin/ebmc and build/bin/ebm"

model=${1:-tests/fixtures/cnn_strided_silu/model.onnx}
input=${2:-tests/fixtures/cnn_strided_silu/input.npy}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo
build/bin/ebm info "$model"
echo
echo "compiling $model to native code:"
build/bin/ebmc "$model" -o "$out/model.so" --verbose
echo
echo "energies E(x) of the samples in $input (one per line), and the score -dE/dx:"
build/bin/ebm eval "$out/model.so" --input "$input" --print --score "$out/score.npy"
echo
echo "64 samples, 200 Langevin steps:"
build/bin/ebm sample "$out/model.so" -n 64 --steps 200 -o "$out/samples.npy"
