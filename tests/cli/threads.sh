#!/usr/bin/env bash
# threads.sh — the README's promise "bitwise the same for any thread count",
# end to end: the mnist preset's energies, scores, Langevin samples and a
# training run give the same bytes with EBM_NUM_THREADS=1 and 2 (issue 18: the
# CLI compiled a different tile per thread count, and 33 of 7,840 sample
# values differed).  Also with batches that split into a partial tile.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
EBM="$BIN/ebm"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$TMP/cache}"

M="$TMP/mnist.onnx"
DATA="$SRC/tests/data/fid/a.npy"   # 96 images [1, 28, 28] in [-1, 1]
expect_ok "init the mnist preset" "$EBM" init --preset mnist --seed 0 -o "$M"

for t in 1 2; do
    export EBM_NUM_THREADS=$t
    expect_ok "$t threads: sample 10" "$EBM" sample "$M" -n 10 --steps 20 -o "$TMP/s10-$t.npy" --energy "$TMP/e10-$t.npy"
    expect_ok "$t threads: sample 11 (a partial tile)" "$EBM" sample "$M" -n 11 --steps 5 --sampler mala --anneal 0 -o "$TMP/s11-$t.npy"
    expect_ok "$t threads: eval" "$EBM" eval "$M" --input "$DATA" --energy "$TMP/ev-$t.npy" --score "$TMP/sc-$t.npy"
    expect_ok "$t threads: train 3 steps" "$EBM" train "$M" --data "$DATA" -o "$TMP/t-$t.onnx" --steps 3 --batch 12 \
        --mcmc-steps 4 --eval-every 0 --checkpoint "$TMP/c-$t.ckpt"
done
unset EBM_NUM_THREADS
for f in s10 e10 s11 ev sc; do
    check "$f: 1 and 2 threads give the same bytes" cmp "$TMP/$f-1.npy" "$TMP/$f-2.npy"
done
check "train: the same trained model" cmp "$TMP/t-1.onnx" "$TMP/t-2.onnx"
check "train: the same checkpoint" cmp "$TMP/c-1.ckpt" "$TMP/c-2.ckpt"
check "training moved the weights" bash -c "! cmp -s '$M' '$TMP/t-1.onnx'"

finish
