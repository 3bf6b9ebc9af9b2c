#!/bin/bash
# quickstart.sh — installs what is missing, builds ebmc, and runs the main job
# on a built-in default: trains a small energy-based model from scratch on the
# 2-D "8gaussians" toy data (persistent contrastive divergence, compiled
# Langevin sampler, Adam), then draws exact MALA samples from it.  Everything
# lands in build/quickstart/: the trained ONNX model, the training log and
# PNGs (data | learned density with samples), and the samples.  About a
# minute on a 2-core machine.
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
echo "2. train it on toy:$toy (compiled once to native code, then 2500 steps of persistent CD)"
$ebm train "$out/model.onnx" --data "toy:$toy" -o "$out/trained.onnx" --steps 2500 --batch 128 --lr 5e-4 \
    --alpha 0.001 --ema 0.998 --mcmc-steps 40 --step-size 0.01 --noise auto --grad-clip 0 \
    --log "$out/train.csv" --log-every 100 --png "$out/train" --png-every 500

echo
echo "3. 1000 exact samples from the trained model (MALA, 300 steps, the first 150 adapt the step size)"
$ebm sample "$out/trained.onnx" -n 1000 --sampler mala --steps 300 --step-size 0.05 --clamp none \
    -o "$out/samples.npy" --png "$out/samples.png"

echo
echo "quickstart: see $out/train.png (data | learned density and samples), $out/samples.png,"
echo "            $out/train.csv (loss, energies, KL(data||model) per 100 steps) and $out/trained.onnx"
