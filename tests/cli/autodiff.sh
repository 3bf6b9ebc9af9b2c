#!/usr/bin/env bash
# autodiff.sh — the differentiated programs through the command line:
# `ebm eval --score/--grad` write arrays of the input's shape (grad = -score,
# checked byte-for-byte after flipping the sign bits), and
# `ebmc --emit=ir --program=...` prints each program; `ebmc --dsm` adds the
# dsm_grad program to the generated C.  Values themselves are checked against
# torch.autograd in tests/unit/test_fixture_grads.c (dsm_grad: test_dsm.c).
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

for prog in score param_grad hvp dsm_grad; do
    "$EBMC" "$FIX/model.onnx" --emit=ir --program=$prog >"$TMP/$prog.ir" 2>"$TMP/err"
    check "ebmc --program=$prog" test $? -eq 0
done
check "score program outputs energy and score" grep -q 'output "score"' "$TMP/score.ir"
check "param_grad program has a gradient per parameter" test "$(grep -c 'output "grad:' "$TMP/param_grad.ir")" -eq 6
check "hvp program takes v" grep -q 'input "v"' "$TMP/hvp.ir"
check "dsm_grad program takes the target" grep -q 'input "target"' "$TMP/dsm_grad.ir"
check "dsm_grad program outputs the loss" grep -q 'output "loss"' "$TMP/dsm_grad.ir"
check "dsm_grad program has a gradient per parameter" test "$(grep -c 'output "grad:' "$TMP/dsm_grad.ir")" -eq 6

# the dsm_grad program is compiled only with --dsm
"$EBMC" "$FIX/model.onnx" --emit=c >"$TMP/plain.c" 2>"$TMP/err"
check "emit=c without --dsm" test $? -eq 0
"$EBMC" "$FIX/model.onnx" --emit=c --dsm >"$TMP/dsm.c" 2>"$TMP/err"
check "emit=c --dsm" test $? -eq 0
check "without --dsm: no dsm_grad entry" test "$(grep -c 'EBM_PROGRAM_DSM_GRAD' "$TMP/plain.c")" -eq 0
check "with --dsm: the dsm_grad entry in the program table" grep -q '{EBM_PROGRAM_DSM_GRAD, [0-9]*, ebm_run_dsm_grad}' "$TMP/dsm.c"
check "with --dsm: five programs" grep -q '\.n_programs = 5,' "$TMP/dsm.c"

"$EBMC" "$FIX/model.onnx" --emit=ir --program=nope >/dev/null 2>"$TMP/usage_err"
check "unknown program is a usage error" test $? -eq 2
check "... naming the flag" grep -q -- "--program" "$TMP/usage_err"

finish
