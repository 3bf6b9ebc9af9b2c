#!/usr/bin/env bash
# train.sh — `ebm train` end to end on the tabular2d fixture (an MLP on 2-D
# input): a toy run writes a trained ONNX that ebm reads back (same inputs,
# the training settings in its ebm.* metadata, other weights); killing a run
# and resuming it from its checkpoint gives the same file as running it
# straight through; data and flag errors are one clear line each.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
EBM="$BIN/ebm"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$TMP/cache}"

T2D="$SRC/tests/fixtures/tabular2d/model.onnx"
IMG="$SRC/tests/fixtures/cnn_strided_silu/model.onnx"
SMALL=(--batch 16 --mcmc-steps 5 --step-size 0.05 --noise auto --grad-clip 0 --lr 1e-3 --buffer-capacity 64)

# ---- a short run, and the file it writes --------------------------------------------------------
expect_ok "toy run" "$EBM" train "$T2D" --data toy:8gaussians -o "$TMP/t.onnx" --steps 30 "${SMALL[@]}" \
    --log "$TMP/log.csv" --log-every 10 --png "$TMP/p" --png-every 20
cp "$TMP/err" "$TMP/summary"
check "summary reports KL" grep -q "KL(data||model)" "$TMP/summary"
check "log: header + 3 rows" test "$(wc -l <"$TMP/log.csv")" -eq 4
check "log: step column" test "$(cut -d, -f1 "$TMP/log.csv" | tr '\n' ' ')" = "step 10 20 30 "
check "png at step 20 and at the end" test -s "$TMP/p-000020.png" -a -s "$TMP/p.png"
"$EBM" info "$TMP/t.onnx" >"$TMP/info" 2>&1
check "trained ONNX loads, same input" grep -q "x \[N,2\]" "$TMP/info"
check "metadata: objective" grep -q "ebm.train.objective = cd" "$TMP/info"
check "metadata: steps" grep -q "ebm.train.steps = 30" "$TMP/info"
check "metadata: the data's clamp range" grep -qE "ebm.sampler.clamp = -[0-9.]+,[0-9.]+" "$TMP/info"
check "weights changed" bash -c "! cmp -s '$T2D' '$TMP/t.onnx'"
expect_ok "the trained model samples" "$EBM" sample "$TMP/t.onnx" -n 20 --steps 10 -o "$TMP/s.npy"

# ---- denoising score matching (compiles the second-order dsm_grad program) --------------------
expect_ok "dsm run" "$EBM" train "$T2D" --data toy:moons --objective dsm --sigma 0.3 -o "$TMP/d.onnx" --steps 15 \
    --batch 16 --lr 1e-3 --log "$TMP/dsm.csv" --log-every 5
check "dsm: loss logged and finite" awk -F, 'NR > 1 { if ($2 == "" || $2 != $2 + 0) bad = 1; n++ } END { exit bad || n != 3 }' \
    "$TMP/dsm.csv"
"$EBM" info "$TMP/d.onnx" >"$TMP/info" 2>&1
check "dsm: metadata" grep -q "ebm.train.objective = dsm" "$TMP/info"

# ---- kill and resume ----------------------------------------------------------------------------
expect_ok "straight 20 steps" "$EBM" train "$T2D" --data toy:rings -o "$TMP/a.onnx" --steps 20 "${SMALL[@]}" --seed 5
expect_ok "first 10 steps + checkpoint" "$EBM" train "$T2D" --data toy:rings -o "$TMP/b10.onnx" --steps 10 \
    "${SMALL[@]}" --seed 5 --checkpoint "$TMP/c.ckpt" --checkpoint-every 5
expect_ok "resume to 20" "$EBM" train "$T2D" --data toy:rings -o "$TMP/b.onnx" --steps 20 "${SMALL[@]}" --seed 5 \
    --resume "$TMP/c.ckpt"
check "resumed = straight, byte for byte" cmp -s "$TMP/a.onnx" "$TMP/b.onnx"
# a run killed while writing leaves c.ckpt.tmp-PID-0; the next write of c.ckpt removes it (issue 18)
(exit 0) &
gone=$!
wait "$gone"
printf 'partial' >"$TMP/c.ckpt.tmp-$gone-0"
printf 'partial' >"$TMP/b.onnx.tmp-$gone-3"
printf 'partial' >"$TMP/c.ckpt.tmp-$$-0"
expect_ok "a run after a killed one" "$EBM" train "$T2D" --data toy:rings -o "$TMP/b.onnx" --steps 12 "${SMALL[@]}" \
    --seed 5 --resume "$TMP/c.ckpt" --checkpoint "$TMP/c.ckpt" --checkpoint-every 5
check "the killed run's temporaries are gone" test ! -e "$TMP/c.ckpt.tmp-$gone-0" -a ! -e "$TMP/b.onnx.tmp-$gone-3"
check "a live process's temporary stays" test -e "$TMP/c.ckpt.tmp-$$-0"
# a resume with other settings, or from a damaged checkpoint, is refused (issue 18)
expect_fail "resume with another --batch" 1 "c.ckpt;batch = 16, this run has batch = 8 (--batch)" \
    "$EBM" train "$T2D" --data toy:rings -o "$TMP/x.onnx" --steps 20 "${SMALL[@]}" --batch 8 --seed 5 \
    --resume "$TMP/c.ckpt"
expect_fail "resume with another --seed" 1 "c.ckpt;seed = 5, this run has seed = 6 (--seed)" \
    "$EBM" train "$T2D" --data toy:rings -o "$TMP/x.onnx" --steps 20 "${SMALL[@]}" --seed 6 --resume "$TMP/c.ckpt"
cp "$TMP/c.ckpt" "$TMP/flip.ckpt"
byte=$(od -An -t u1 -j 200 -N 1 "$TMP/flip.ckpt" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 4)))" | dd of="$TMP/flip.ckpt" bs=1 seek=200 conv=notrunc status=none
expect_fail "resume from a checkpoint with one flipped byte" 1 "flip.ckpt;damaged" \
    "$EBM" train "$T2D" --data toy:rings -o "$TMP/x.onnx" --steps 20 "${SMALL[@]}" --seed 5 --resume "$TMP/flip.ckpt"

# ---- bad input ----------------------------------------------------------------------------------
expect_fail "missing data file" 1 "nope.idx" "$EBM" train "$T2D" --data "$TMP/nope.idx" -o "$TMP/x.onnx"
printf 'a,b\n' >"$TMP/empty.csv"
expect_fail "empty dataset" 1 "empty.csv" "$EBM" train "$T2D" --data "$TMP/empty.csv" -o "$TMP/x.onnx"
printf '1,2,3\n4,5,6\n' >"$TMP/three.csv"
expect_fail "wrong sample size" 1 "three.csv;[2]" "$EBM" train "$T2D" --data "$TMP/three.csv" -o "$TMP/x.onnx"
make_npy "$TMP/nan.npy" "(4, 2)" 8 7fc00000
expect_fail "NaN in the data" 1 "nan.npy;element 0 = nan is not a finite" \
    "$EBM" train "$T2D" --data "$TMP/nan.npy" -o "$TMP/x.onnx"
expect_fail "2-D toy for an image model" 1 "8gaussians;[N,2]" \
    "$EBM" train "$IMG" --data toy:8gaussians -o "$TMP/x.onnx"
expect_fail "unknown toy" 1 "nosuch;8gaussians" "$EBM" train "$T2D" --data toy:nosuch -o "$TMP/x.onnx"
expect_fail "lr = 0" 2 "--lr" "$EBM" train "$T2D" --data toy:moons --lr 0 -o "$TMP/x.onnx"
expect_fail "negative lr" 2 "--lr" "$EBM" train "$T2D" --data toy:moons --lr -1 -o "$TMP/x.onnx"
expect_fail "unknown objective" 2 "--objective;nce" "$EBM" train "$T2D" --data toy:moons --objective nce -o "$TMP/x.onnx"
expect_fail "missing -o" 2 "-o TRAINED.onnx" "$EBM" train "$T2D" --data toy:moons
expect_fail "resume from a missing checkpoint" 1 "missing.ckpt" \
    "$EBM" train "$T2D" --data toy:moons -o "$TMP/x.onnx" --steps 2 "${SMALL[@]}" --resume "$TMP/missing.ckpt"
expect_fail "--log on a full disk" 1 "--log /dev/full: write failed: No space left on device" \
    "$EBM" train "$T2D" --data toy:moons -o "$TMP/x.onnx" --steps 2 "${SMALL[@]}" --log /dev/full
check "failed runs wrote no model" test ! -e "$TMP/x.onnx"

finish
