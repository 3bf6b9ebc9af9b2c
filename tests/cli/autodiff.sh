#!/usr/bin/env bash
# autodiff.sh — the differentiated programs through the command line:
# `ebm eval --score/--grad` write arrays of the input's shape (grad = -score,
# checked byte-for-byte after flipping the sign bits), and
# `ebmc --emit=ir --program=...` prints each program.  Values themselves are
# checked against torch.autograd in tests/unit/test_fixture_grads.c.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
EBM="$BIN/ebm"
EBMC="$BIN/ebmc"
FIX="$SRC/tests/fixtures/mlp_silu"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"

"$EBM" eval "$FIX/model.onnx" --input "$FIX/input.npy" --energy "$TMP/e.npy" --score "$TMP/s.npy" \
    --grad "$TMP/g.npy" 2>"$TMP/err"
check "eval --score --grad exits 0" test $? -eq 0
check "score has the input's size" test "$(payload "$TMP/s.npy" | wc -l)" -eq "$(payload "$FIX/input.npy" | wc -l)"
# grad = -score exactly: flip each word's sign bit
payload "$TMP/s.npy" | while read -r w; do printf '%08x\n' $((0x$w ^ 0x80000000)); done >"$TMP/neg_s"
payload "$TMP/g.npy" >"$TMP/g_words"
check "grad is exactly -score" cmp -s "$TMP/neg_s" "$TMP/g_words"
check "energies: one per sample" test "$(payload "$TMP/e.npy" | wc -l)" -eq 5

for prog in score param_grad hvp; do
    "$EBMC" "$FIX/model.onnx" --emit=ir --program=$prog >"$TMP/$prog.ir" 2>"$TMP/err"
    check "ebmc --program=$prog" test $? -eq 0
done
check "score program outputs energy and score" grep -q 'output "score"' "$TMP/score.ir"
check "param_grad program has a gradient per parameter" test "$(grep -c 'output "grad:' "$TMP/param_grad.ir")" -eq 6
check "hvp program takes v" grep -q 'input "v"' "$TMP/hvp.ir"

"$EBMC" "$FIX/model.onnx" --emit=ir --program=nope >/dev/null 2>"$TMP/usage_err"
check "unknown program is a usage error" test $? -eq 2
check "... naming the flag" grep -q -- "--program" "$TMP/usage_err"

finish
