#!/usr/bin/env bash
# train_recipe.sh — where `ebm train` takes its recipe from and when it stops:
# a trained model's ebm.train.* metadata is read back as the defaults of the
# next run (a flag still wins); --time ends a run on the clock; on 28x28x1
# images the FID of fresh chains is logged every --eval-every steps and
# reported at the end; the trained model keeps the training chains' settings
# (ebm.train.*) apart from the sampler's (ebm.sampler.*); a dsm model of many
# noise levels carries the annealed, denoised sampler that draws it.
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

# ---- the recipe travels with the model ------------------------------------------------------------
expect_ok "first run: batch 8, 7 steps, lr 2e-3, ema 0.9" "$EBM" train "$T2D" --data toy:moons -o "$TMP/a.onnx" \
    --batch 8 --steps 7 --lr 2e-3 --ema 0.9 --mcmc-steps 3 --step-size 0.05 --noise auto --grad-clip 0
"$EBM" info "$TMP/a.onnx" >"$TMP/info" 2>&1
for kv in "ebm.train.batch = 8" "ebm.train.steps = 7" "ebm.train.lr = 0.002" "ebm.train.ema = 0.9" \
          "ebm.train.mcmc_steps = 3" "ebm.train.step_size = 0.05" "ebm.train.noise_scale = auto" \
          "ebm.train.grad_clip = 0" "ebm.sampler.steps = 3"; do
    check "metadata: $kv" grep -qF "$kv" "$TMP/info"
done
expect_ok "second run with no recipe flags" "$EBM" train "$TMP/a.onnx" --data toy:moons -o "$TMP/b.onnx"
cp "$TMP/err" "$TMP/summary"
check "it trains 7 steps of batch 8 with 3 chain steps, from the metadata" \
    grep -q "7 steps (1..7) of cd, 3 langevin steps each on toy:moons, batch 8" "$TMP/summary"
expect_ok "a flag wins over the metadata" "$EBM" train "$TMP/a.onnx" --data toy:moons -o "$TMP/c.onnx" --batch 4 \
    --steps 2
cp "$TMP/err" "$TMP/summary"
check "batch 4, 2 steps" grep -q "2 steps (1..2) .* batch 4" "$TMP/summary"

# ---- --time -------------------------------------------------------------------------------------
# (the model of batch 8 is compiled and cached by now: the budget goes to training)
expect_ok "--time 3 with no --steps" "$EBM" train "$T2D" --data toy:rings -o "$TMP/t.onnx" --time 3 \
    --batch 8 --mcmc-steps 2 --eval-every 0
cp "$TMP/err" "$TMP/summary"
check "the run ended on the clock" grep -q -- "--time reached" "$TMP/summary"
steps=$(sed -n 's/.*ebm train: \([0-9]*\) steps.*/\1/p' "$TMP/summary")
check "it trained past the 7 steps of the metadata ($steps)" test "${steps:-0}" -gt 7
secs=$(sed -n 's/.* in \([0-9.e+]*\) s (.*/\1/p' "$TMP/summary")
check "within the budget ($secs s of training)" awk -v s="$secs" 'BEGIN { exit !(s > 0 && s < 3.0) }'
expect_ok "--time with --steps: the steps end it first" "$EBM" train "$T2D" --data toy:rings -o "$TMP/t2.onnx" \
    --time 600 --steps 5 --batch 8 --mcmc-steps 2
cp "$TMP/err" "$TMP/summary"
check "5 steps, no --time note" \
    bash -c "grep -q '5 steps (1..5)' '$TMP/summary' && ! grep -q -- '--time reached' '$TMP/summary'"
expect_fail "--time 0" 2 "--time" "$EBM" train "$T2D" --data toy:rings -o "$TMP/x.onnx" --time 0

# ---- FID of fresh chains on 28x28x1 images ----------------------------------------------------------
expect_ok "cnn preset" "$EBM" init --preset cnn --seed 1 -o "$TMP/cnn.onnx"
expect_ok "train on 96 images, FID every 2 steps" "$EBM" train "$TMP/cnn.onnx" --data "$SRC/tests/data/fid/a.npy" \
    -o "$TMP/img.onnx" --steps 4 --batch 8 --mcmc-steps 3 --eval-every 2 --eval-samples 24 --log "$TMP/img.csv" \
    --log-every 2
cp "$TMP/err" "$TMP/summary"
check "log header has fid" grep -q "^step,.*,fid,seconds$" "$TMP/img.csv"
check "FID logged at steps 2 and 4, finite and > 0" awk -F, 'NR > 1 { n++; if (!($11 + 0 > 0)) bad = 1 } END { exit bad || n != 2 }' \
    "$TMP/img.csv"
check "summary: FID of 24 fresh chains and classes" grep -qE "FID [0-9.]+ of 24 fresh chains, [0-9]+/10 classes" \
    "$TMP/summary"
expect_fail "--features that does not fit the data" 1 "--features;784;4" \
    "$EBM" train "$TMP/cnn.onnx" --data "$SRC/tests/data/fid/a.npy" -o "$TMP/x.onnx" --steps 2 --eval-every 1 \
    --features "$SRC/tests/fixtures/mlp_silu/model.onnx"

# ---- dsm at many noise levels: the trained model carries the sampler that draws it -----------------------
expect_ok "dsm with --sigma-max" "$EBM" train "$T2D" --data toy:moons -o "$TMP/ms.onnx" --objective dsm \
    --sigma 0.1 --sigma-max 0.8 --steps 3 --batch 8 --mcmc-steps 40 --step-size 0.001 --noise auto --grad-clip 0
cp "$TMP/err" "$TMP/ms_summary"
"$EBM" info "$TMP/ms.onnx" >"$TMP/info" 2>&1
for kv in "ebm.train.sigma = 0.1" "ebm.train.sigma_max = 0.8" "ebm.train.sigma_power = 1" "ebm.sampler.anneal = 8" \
    "ebm.sampler.denoise = 0.01"; do
    check "metadata: $kv" grep -qF "$kv" "$TMP/info"
done
check "summary: log-uniform levels" grep -qF "of denoising score matching (noise levels 0.1 to 0.8, log-uniform) on toy:moons" \
    "$TMP/ms_summary"
expect_ok "sample it with no flags" "$EBM" sample "$TMP/ms.onnx" -n 16 -o "$TMP/ms.npy"
cp "$TMP/err" "$TMP/summary"
check "annealed from 8 and denoised, from the metadata" \
    grep -qF "40 annealed Langevin steps (T 8 down to 1, step size 0.001 x T^2/T_end^2, noise sqrt(2 alpha), then a denoising step of 0.01" "$TMP/summary"
expect_ok "--anneal 0 --denoise 0 turn both off" "$EBM" sample "$TMP/ms.onnx" -n 4 -o "$TMP/ms0.npy" --anneal 0 \
    --denoise 0
cp "$TMP/err" "$TMP/summary"
check "plain Langevin" bash -c "grep -q '40 Langevin steps (step size 0.001' '$TMP/summary' && ! grep -q denoising '$TMP/summary'"
expect_fail "--anneal with mala" 1 "annealing;langevin" "$EBM" sample "$TMP/ms.onnx" -n 4 -o "$TMP/x.npy" \
    --sampler mala
expect_fail "negative --anneal" 2 "--anneal" "$EBM" sample "$TMP/ms.onnx" -n 4 -o "$TMP/x.npy" --anneal -1
expect_fail "--anneal-hold 1" 2 "--anneal-hold;'1';[0, 1)" "$EBM" sample "$TMP/ms.onnx" -n 4 -o "$TMP/x.npy" \
    --anneal-hold 1
# a hold at the first temperature: carried from ebm train's flag to the metadata to ebm sample
expect_ok "dsm with --anneal-hold 0.25" "$EBM" train "$T2D" --data toy:moons -o "$TMP/mh.onnx" --objective dsm \
    --sigma 0.1 --sigma-max 0.8 --steps 3 --batch 8 --mcmc-steps 40 --step-size 0.001 --noise auto --grad-clip 0 \
    --anneal-hold 0.25
check "metadata: ebm.sampler.anneal_hold = 0.25" bash -c "'$EBM' info '$TMP/mh.onnx' | grep -qF 'ebm.sampler.anneal_hold = 0.25'"
expect_ok "sample it with no flags" "$EBM" sample "$TMP/mh.onnx" -n 16 -o "$TMP/mh.npy"
cp "$TMP/err" "$TMP/summary"
check "10 of the 40 steps held at T 8" grep -qF "40 annealed Langevin steps (the first 10 held at T 8, then T 8 down to 1," \
    "$TMP/summary"
expect_ok "--anneal-hold 0 on the same model" "$EBM" sample "$TMP/mh.onnx" -n 16 -o "$TMP/mh0.npy" --anneal-hold 0
check "the hold changes the samples" bash -c "! cmp -s '$TMP/mh.npy' '$TMP/mh0.npy'"
check "--anneal-hold 0 on it is the model trained without the hold" cmp -s "$TMP/mh0.npy" "$TMP/ms.npy"
expect_fail "--sigma-max below --sigma" 1 "sigma_max" "$EBM" train "$T2D" --data toy:moons -o "$TMP/x.onnx" \
    --objective dsm --sigma 0.1 --sigma-max 0.05 --steps 1 --batch 8
# how the levels are drawn (test_train checks the draw): carried from the flag to the metadata, and it
# changes the training
expect_ok "dsm with --sigma-power 0.5" "$EBM" train "$T2D" --data toy:moons -o "$TMP/mp.onnx" --objective dsm \
    --sigma 0.1 --sigma-max 0.8 --steps 3 --batch 8 --mcmc-steps 40 --step-size 0.001 --noise auto --grad-clip 0 \
    --sigma-power 0.5
cp "$TMP/err" "$TMP/summary"
check "summary names the levels and the draw" grep -qF "of denoising score matching (noise levels 0.1 to 0.8, drawn with power 0.5) on toy:moons" "$TMP/summary"
check "metadata: ebm.train.sigma_power = 0.5" bash -c "'$EBM' info '$TMP/mp.onnx' | grep -qF 'ebm.train.sigma_power = 0.5'"
expect_ok "sample it" "$EBM" sample "$TMP/mp.onnx" -n 16 -o "$TMP/mp.npy"
check "other levels, another model" bash -c "! cmp -s '$TMP/mp.npy' '$TMP/ms.npy'"
expect_fail "--sigma-power 0" 2 "--sigma-power;'0';expected > 0" "$EBM" train "$T2D" --data toy:moons \
    -o "$TMP/x.onnx" --objective dsm --sigma 0.1 --sigma-max 0.8 --steps 1 --sigma-power 0
expect_fail "--lr -1" 2 "--lr;'-1' is out of range" "$EBM" train "$T2D" --data toy:moons -o "$TMP/x.onnx" --lr -1
cp "$TMP/err" "$TMP/summary"
check "an open range ends at its bound (was 'expected > 00')" grep -q "expected > 0$" "$TMP/summary"

finish
