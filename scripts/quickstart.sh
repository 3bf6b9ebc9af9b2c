#!/bin/bash
# quickstart.sh — installs what is missing, builds ebmc, and runs the main job
# on a built-in default: the energies (and the score's size) of a small bundled
# convolutional energy network on a bundled batch of inputs.
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
echo "energies E(x) of the samples in $input (one per line), and the score -dE/dx:"
build/bin/ebm eval "$model" --input "$input" --print --score "$out/score.npy"
