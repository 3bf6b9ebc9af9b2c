#!/bin/bash
# quickstart.sh — installs what is missing, builds ebmc, and runs the main job
# on a built-in default: trains a small energy-based model from scratch on the
# 2-D "8gaussians" toy data with the `simple` preset's own recipe (denoising
# score matching, Adam, an EMA of the parameters; no tuning flags), then draws
# samples from it with the Langevin settings the trained model carries, and
# exact MALA samples for comparison.  Everything lands in build/quickstart/:
# the trained ONNX model, the training log and PNGs (data | learned density
# with samples), and the samples.  About a minute on a 2-core machine.
#
#   scripts/quickstart.sh [TOY]     TOY: 8gaussians (default), rings, moons, ...
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "quickstart: built build/bin/ebmc and build/bin/ebm"

toy=${1:-8gaussians}
out=build/quickstart
mkdir -p "$out"
ebm=build/bin/ebm

echo
echo "1. a fresh model: the 'simple' preset, an MLP 2 -> 128 -> 128 -> 64 -> 1 (ONNX, standard operators)"
$ebm init --preset simple -o "$out/model.onnx"

echo
echo "2. train it on toy:$toy with the preset's recipe (compiled once to native code, then 12000 steps"
echo "   of denoising score matching; the recipe is in the model's ebm.train.* metadata)"
$ebm train "$out/model.onnx" --data "toy:$toy" -o "$out/trained.onnx" \
    --log "$out/train.csv" --log-every 1000 --png "$out/train" --png-every 4000

echo
echo "3. 1000 samples from the trained model with the settings it carries (500 Langevin steps)"
$ebm sample "$out/trained.onnx" -n 1000 -o "$out/samples.npy" --png "$out/samples.png"
echo "   and 1000 exact ones (MALA, 300 steps, the first 150 adapt the step size)"
$ebm sample "$out/trained.onnx" -n 1000 --sampler mala --steps 300 --step-size 0.05 --clamp none \
    -o "$out/mala.npy" --png "$out/mala.png"

echo
echo "quickstart: see $out/train.png (data | learned density and samples), $out/samples.png, $out/mala.png,"
echo "            $out/train.csv (loss, energies, KL(data||model) per 1000 steps) and $out/trained.onnx"
