#!/usr/bin/env bash
# sampler.sh — `ebm sample` with the three samplers, the sample buffer and
# --png on real compiled fixtures (tabular2d: 2-D input; cnn_strided_silu:
# [N,1,12,12] images; mlp_silu: 6 values, neither), and its bad input.
# Values asserted: shapes in .npy headers, buffer sizes (N, then 2N, capped
# at capacity), PNG signatures and sizes from the grid layout of ebm_png.h,
# and same-seed reproducibility of every sampler.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
EBM="$BIN/ebm"
FIX="$SRC/tests/fixtures"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$TMP/cache}"

T2D="$FIX/tabular2d/model.onnx"
IMG="$FIX/cnn_strided_silu/model.onnx"
VEC="$FIX/mlp_silu/model.onnx"

# npy_shape FILE: the shape tuple of an .npy header, e.g. "(5, 2)"
npy_shape() { head -c 200 "$1" | tr -d '\0' | grep -ao "'shape': ([0-9, ]*)" | sed "s/'shape': //"; }
# png_size FILE: "WIDTHxHEIGHT" from the IHDR chunk (after the 8-byte signature)
png_size() { echo "$(od -An -t u1 -j 16 -N 4 "$1" | awk '{print $3*256+$4}')x$(od -An -t u1 -j 20 -N 4 "$1" | awk '{print $3*256+$4}')"; }
# keep: `check` empties $TMP/err, so the summary line is copied first
keep() { cp "$TMP/err" "$TMP/summary"; }
is_png() { [ "$(od -An -t x1 -N 8 "$1" | tr -d ' ')" = "89504e470d0a1a0a" ]; }

# ---- the samplers ---------------------------------------------------------------------------
for s in langevin adaptive mala; do
    expect_ok "$s: 2-D samples" "$EBM" sample "$T2D" -n 50 --steps 40 --sampler "$s" --seed 3 -o "$TMP/$s.npy"
    keep
    check "$s: shape (50, 2)" test "$(npy_shape "$TMP/$s.npy")" = "(50, 2)"
    check "$s: summary names the sampler" grep -qiE "$s|MALA" "$TMP/summary"
    "$EBM" sample "$T2D" -n 50 --steps 40 --sampler "$s" --seed 3 -o "$TMP/$s.again.npy" 2>/dev/null
    check "$s: same seed, same bytes" cmp -s "$TMP/$s.npy" "$TMP/$s.again.npy"
    [ "$s" = mala ] && check "mala: acceptance reported" grep -q "acceptance" "$TMP/summary"
done
check "langevin and mala differ" bash -c "! cmp -s '$TMP/langevin.npy' '$TMP/mala.npy'"
expect_ok "mala with burn-in and trajectory" "$EBM" sample "$T2D" -n 8 --steps 20 --sampler mala --burn-in 5 \
    --trajectory 5 -o "$TMP/traj.npy"
check "trajectory: 1 + 20/5 frames" test "$(npy_shape "$TMP/traj.npy")" = "(5, 8, 2)"

# ---- the buffer -----------------------------------------------------------------------------
expect_ok "buffer: absent file starts empty" "$EBM" sample "$T2D" -n 30 --steps 5 --buffer "$TMP/buf.npy" \
    -o "$TMP/b1.npy"
keep
check "buffer: all 30 fresh" grep -q "30 fresh" "$TMP/summary"
check "buffer: holds 30" test "$(npy_shape "$TMP/buf.npy")" = "(30, 2)"
expect_ok "buffer: second run draws from it" "$EBM" sample "$T2D" -n 30 --steps 5 --buffer "$TMP/buf.npy" \
    --reinit 0 -o "$TMP/b2.npy"
keep
check "buffer: none fresh with --reinit 0" grep -q "(0 fresh" "$TMP/summary"
check "buffer: holds 60" test "$(npy_shape "$TMP/buf.npy")" = "(60, 2)"
expect_ok "buffer: --reinit 1" "$EBM" sample "$T2D" -n 10 --steps 1 --buffer "$TMP/buf.npy" --reinit 1 \
    -o "$TMP/b3.npy"
keep
check "buffer: all fresh with --reinit 1" grep -q "(10 fresh" "$TMP/summary"
make_npy "$TMP/bad_buf.npy" "(4, 3)" 12 3f000000
expect_fail "buffer: wrong sample size" 1 "bad_buf.npy;2 values per sample" \
    "$EBM" sample "$T2D" -n 4 --buffer "$TMP/bad_buf.npy" -o "$TMP/x.npy"

# ---- pictures -------------------------------------------------------------------------------
expect_ok "png: 2-D scatter over the energy map" "$EBM" sample "$T2D" -n 100 --steps 10 -o "$TMP/p.npy" \
    --png "$TMP/p.png"
check "png: 2-D is a PNG" is_png "$TMP/p.png"
check "png: one 400 px panel" test "$(png_size "$TMP/p.png")" = "400x400"
expect_ok "png: image grid" "$EBM" sample "$IMG" -n 9 --steps 3 -o "$TMP/i.npy" --png "$TMP/i.png"
check "png: grid is a PNG" is_png "$TMP/i.png"
# 9 tiles of 12x12 in 3 columns and 3 rows with a 2 px border: 3*12 + 4*2 = 44
check "png: 3x3 grid of 12 px tiles" test "$(png_size "$TMP/i.png")" = "44x44"

# ---- bad input ------------------------------------------------------------------------------
expect_fail "n = 0" 2 "-n;0" "$EBM" sample "$T2D" -n 0 -o "$TMP/x.npy"
expect_fail "negative steps" 2 "--steps;-3" "$EBM" sample "$T2D" -n 2 --steps -3 -o "$TMP/x.npy"
expect_fail "step size 0" 2 "--step-size;> 0" "$EBM" sample "$T2D" -n 2 --step-size 0 -o "$TMP/x.npy"
expect_fail "lo > hi" 2 "--clamp;LO is above HI" "$EBM" sample "$T2D" -n 2 --clamp 1,-1 -o "$TMP/x.npy"
expect_fail "unknown sampler" 2 "--sampler;hmc" "$EBM" sample "$T2D" -n 2 --sampler hmc -o "$TMP/x.npy"
expect_fail "burn-in without mala" 2 "--burn-in;mala" "$EBM" sample "$T2D" -n 2 --burn-in 3 -o "$TMP/x.npy"
expect_fail "burn-in above steps" 2 "--burn-in 9;--steps 4" \
    "$EBM" sample "$T2D" -n 2 --sampler mala --steps 4 --burn-in 9 -o "$TMP/x.npy"
expect_fail "reinit without buffer" 2 "--reinit;--buffer" "$EBM" sample "$T2D" -n 2 --reinit 0.5 -o "$TMP/x.npy"
expect_fail "reinit above 1" 2 "--reinit;probability" \
    "$EBM" sample "$T2D" -n 2 --buffer "$TMP/b.npy" --reinit 2 -o "$TMP/x.npy"
make_npy "$TMP/wrong.npy" "(3, 5)" 15 3f000000
expect_fail "init file of the wrong shape" 1 "wrong.npy;[N,2]" \
    "$EBM" sample "$T2D" --init "$TMP/wrong.npy" -o "$TMP/x.npy"
make_npy "$TMP/inf.npy" "(3, 2)" 6 ff800000
expect_fail "init file holding -Inf" 1 "inf.npy;element 0 [0,0] is -Inf" \
    "$EBM" sample "$T2D" --init "$TMP/inf.npy" -o "$TMP/x.npy"
expect_fail "buffer file holding -Inf" 1 "inf.npy;element 0 [0,0] is -Inf" \
    "$EBM" sample "$T2D" -n 4 --buffer "$TMP/inf.npy" -o "$TMP/x.npy"
expect_fail "png on a 6-D model" 1 "--png;mlp_silu;[N,6];neither an image" \
    "$EBM" sample "$VEC" -n 2 -o "$TMP/x.npy" --png "$TMP/x.png"
check "png error leaves no output" test ! -e "$TMP/x.npy"

finish
