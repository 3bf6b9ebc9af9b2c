#!/usr/bin/env bash
# buffer.sh — the persistent sample buffer from the command line:
# `ebm sample --buffer FILE --buffer-capacity C`, `ebm train --buffer-out FILE`
# and the buffer of a checkpoint (`ebm train --resume CKPT --steps 0
# --buffer-out FILE`).  Values asserted: counts from the buffer's rule
# (runtime/buffer.h: every run or step appends its N samples and the oldest
# beyond the capacity go, so after k appends of N it holds min(k N, C)), and
# the buffer written equal, byte for byte, to the samples the checkpoint
# stores (train_ckpt.c's layout: the buffer is the last count x numel floats
# before the 8-byte checksum).
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
EBM="$BIN/ebm"
T2D="$SRC/tests/fixtures/tabular2d/model.onnx"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$TMP/cache}"

npy_shape() { head -c 200 "$1" | tr -d '\0' | grep -ao "'shape': ([0-9, ]*)" | sed "s/'shape': //"; }
# npy_data FILE: the bytes after the .npy header
npy_data() { tail -c +$((11 + $(od -An -t u2 -j 8 -N 2 "$1" | tr -d ' '))) "$1"; }

# ---- ebm sample --buffer-capacity ---------------------------------------------------------------
S=("$EBM" sample "$T2D" -n 30 --steps 3 --buffer "$TMP/buf.npy" --buffer-capacity 45)
expect_ok "sample: first run, capacity 45" "${S[@]}" -o "$TMP/s1.npy"
check "sample: holds min(30, 45) = 30" test "$(npy_shape "$TMP/buf.npy")" = "(30, 2)"
expect_ok "sample: second run" "${S[@]}" -o "$TMP/s2.npy"
check "sample: holds min(60, 45) = 45" test "$(npy_shape "$TMP/buf.npy")" = "(45, 2)"
check "sample: the newest 30 are the run's samples" cmp -s <(npy_data "$TMP/s2.npy") \
    <(npy_data "$TMP/buf.npy" | tail -c $((30 * 2 * 4)))
expect_ok "sample: a smaller capacity keeps the newest" "$EBM" sample "$T2D" -n 4 --steps 1 --buffer "$TMP/buf.npy" \
    --buffer-capacity 10 -o "$TMP/s3.npy"
check "sample: holds 10" test "$(npy_shape "$TMP/buf.npy")" = "(10, 2)"
check "sample: the last 4 are the run's" cmp -s <(npy_data "$TMP/s3.npy") <(npy_data "$TMP/buf.npy" | tail -c 32)
expect_fail "sample: --buffer-capacity 0" 2 "--buffer-capacity;'0'" "$EBM" sample "$T2D" -n 2 --buffer "$TMP/b.npy" \
    --buffer-capacity 0 -o "$TMP/x.npy"
expect_fail "sample: --buffer-capacity without --buffer" 2 "--buffer-capacity;--buffer FILE" "$EBM" sample "$T2D" -n 2 \
    --buffer-capacity 5 -o "$TMP/x.npy"

# ---- ebm train --buffer-out ---------------------------------------------------------------------
TR=("$EBM" train "$T2D" --data toy:moons --batch 32 --mcmc-steps 5 --buffer-capacity 100 --eval-every 0 --seed 3)
expect_ok "train: 2 steps" "${TR[@]}" --steps 2 -o "$TMP/t2.onnx" --buffer-out "$TMP/b2.npy"
check "train: buffer after 2 steps of 32 holds 64" test "$(npy_shape "$TMP/b2.npy")" = "(64, 2)"
expect_ok "train: 5 steps with a checkpoint" "${TR[@]}" --steps 5 -o "$TMP/t5.onnx" --checkpoint "$TMP/ck" \
    --buffer-out "$TMP/b5.npy"
check "train: after 5 steps of 32, capacity 100 holds 100" test "$(npy_shape "$TMP/b5.npy")" = "(100, 2)"
check "train: the buffer is the checkpoint's samples" cmp -s <(npy_data "$TMP/b5.npy") \
    <(tail -c $((100 * 2 * 4 + 8)) "$TMP/ck" | head -c $((100 * 2 * 4)))
expect_ok "train: --resume --steps 0 --buffer-out" "${TR[@]}" --steps 0 --resume "$TMP/ck" -o "$TMP/r.onnx" \
    --buffer-out "$TMP/r.npy"
check "train: the checkpoint's buffer, extracted" cmp -s "$TMP/r.npy" "$TMP/b5.npy"
expect_fail "train: --steps 0 without --resume" 2 "--steps 0;--resume" "${TR[@]}" --steps 0 -o "$TMP/x.onnx"
expect_fail "train: --buffer-out with dsm" 1 "--buffer-out;dsm" "$EBM" train "$T2D" --data toy:moons --objective dsm \
    --steps 1 -o "$TMP/x.onnx" --buffer-out "$TMP/x.npy"
check "train: dsm wrote no buffer" test ! -e "$TMP/x.npy"

finish
