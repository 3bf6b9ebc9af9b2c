#!/usr/bin/env bash
# codegen.sh — `ebmc MODEL -o model.so` and its failure modes: a good build
# writes exactly the shared library (an ELF object exporting the ABI
# descriptor) and nothing else; a missing compiler, a compiler that fails, an
# unwritable destination and bad flags fail with one clear line on stderr and
# leave nothing behind, neither in the destination nor in $TMPDIR.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBMC="$BIN/ebmc"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODEL="$SRC/tests/fixtures/mlp_silu/model.onnx"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
OUT="$TMP/out"        # the destination folder
WORK="$TMP/work"      # TMPDIR of ebmc: its work folders
mkdir -p "$OUT" "$WORK"
export TMPDIR="$WORK"

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() {
    echo "FAIL $1: $2"
    sed 's/^/    stderr: /' "$TMP/err"
    failed=$((failed + 1))
}

empty() { [ -z "$(ls -A "$1")" ]; }

# expect_fail NAME CODE 'pattern1;pattern2' ARGS...: exit CODE, one stderr line
# holding every pattern, and no file left in $OUT or $WORK.
expect_fail() {
    local name=$1 want=$2 patterns=$3
    shift 3
    "$EBMC" "$@" >"$TMP/stdout" 2>"$TMP/err"
    local code=$? pat missing=""
    IFS=';' read -r -a pats <<<"$patterns"
    for pat in "${pats[@]}"; do
        grep -qF -- "$pat" "$TMP/err" || missing="$missing '$pat'"
    done
    if [ "$code" -ne "$want" ]; then
        fail "$name" "exit status $code, expected $want"
    elif [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
        fail "$name" "$(wc -l <"$TMP/err") lines on stderr, expected 1"
    elif [ -n "$missing" ]; then
        fail "$name" "stderr does not mention$missing"
    elif ! empty "$OUT" || ! empty "$WORK"; then
        fail "$name" "left files behind: $(ls -A "$OUT" "$WORK" | tr '\n' ' ')"
    else
        pass "$name"
    fi
    rm -rf "${OUT:?}"/* "${WORK:?}"/*
}

# check NAME CMD ARGS...: CMD must succeed.
check() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then pass "$name"; else : >"$TMP/err"; fail "$name" "check failed: $*"; fi
}

is_elf_model() {
    [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] && grep -qa "ebm_abi_model_v3" "$1"
}

# ---- a good build --------------------------------------------------------------------
if "$EBMC" "$MODEL" -o "$OUT/model.so" -O2 --target generic 2>"$TMP/err"; then
    pass "compile mlp_silu"
else
    fail "compile mlp_silu" "exit status $?"
fi
check "the output is an ELF object exporting the descriptor" is_elf_model "$OUT/model.so"
check "only model.so in the destination" test "$(ls -A "$OUT")" = "model.so"
check "no work folder left in TMPDIR" empty "$WORK"
rm -rf "${OUT:?}"/*

"$EBMC" "$MODEL" -o "$OUT/model.so" --keep-temps 2>"$TMP/err" >/dev/null
kept=$(sed -n 's/^ebmc: kept the generated files in //p' "$TMP/err")
check "--keep-temps names its folder" test -n "$kept"
check "--keep-temps keeps the C, the assembler and the blob" \
    test -f "$kept/model.c" -a -f "$kept/weights.s" -a -f "$kept/weights.bin" -a -f "$kept/ebm_abi.h"
check "the blob holds the weights (1313 parameters, 64-byte aligned)" test "$(stat -c %s "$kept/weights.bin")" -ge 5252
rm -rf "${OUT:?}"/* "${WORK:?}"/*

"$EBMC" "$MODEL" --emit=c >"$TMP/model.c" 2>"$TMP/err"
check "--emit=c prints the C" grep -q "EBM_ABI_SYMBOL" "$TMP/model.c"
check "--emit=c: a kernel named after its node" grep -q "EBM_SHARED void energy_k[0-9]*_matmul_fc1_Gemm" "$TMP/model.c"
check "--emit=c: the forward kernels score repeats are #defined to energy's" \
    grep -q "^#define score_k[0-9]*_matmul_fc1_Gemm energy_k[0-9]*_matmul_fc1_Gemm" "$TMP/model.c"
check "--emit=c: the file compiles whole, as one unit" \
    cc -std=c11 -fsyntax-only -Werror -I "$SRC/runtime" "$TMP/model.c"
check "--emit=c: matmul through BLAS" grep -q "cblas_sgemm" "$TMP/model.c"
check "--emit=c writes no library" empty "$OUT"

# ---- a model in units: compiled side by side, the same bytes however many at once -------
CNN="$SRC/tests/fixtures/cnn_strided_silu/model.onnx"
"$EBMC" "$CNN" --emit=c -o "$TMP/cnn.c" 2>"$TMP/err"
units=$(sed -n 's/^#define EBM_UNITS \([0-9]*\)$/\1/p' "$TMP/cnn.c")
check "a conv net's kernels are dealt over units (EBM_UNITS = $units)" test "${units:-0}" -ge 2
for k in $(seq 0 $((${units:-1} - 1))); do
    check "--emit=c: unit $k compiles on its own" \
        cc -std=c11 -fsyntax-only -Werror -DEBM_UNIT="$k" -I "$SRC/runtime" "$TMP/cnn.c"
done
EBMC_JOBS=1 "$EBMC" "$CNN" -o "$OUT/one.so" -O1 -v 2>"$TMP/err"
check "EBMC_JOBS=1: one compiler at a time" grep -q "($units units, 1 at once)" "$TMP/err"
EBMC_JOBS=4 "$EBMC" "$CNN" -o "$OUT/four.so" -O1 -v 2>"$TMP/err"
check "EBMC_JOBS=4: the units side by side" grep -q "($units units, $units at once)" "$TMP/err"
check "the library's bytes do not depend on how many compiled at once" cmp "$OUT/one.so" "$OUT/four.so"
check "the units' objects are cleaned up" empty "$WORK"
rm -rf "${OUT:?}"/* "${WORK:?}"/*

# ---- failures ---------------------------------------------------------------------------
expect_fail "missing C compiler" 1 "/nonexistent/cc;--cc" "$MODEL" -o "$OUT/model.so" --cc /nonexistent/cc
printf '#!/bin/sh\necho "fake-cc: error: the compiler broke" >&2\nexit 1\n' >"$TMP/badcc"
chmod +x "$TMP/badcc"
expect_fail "failing C compiler" 1 "$TMP/badcc;failed;fake-cc: error: the compiler broke" \
    "$MODEL" -o "$OUT/model.so" --cc "$TMP/badcc"
expect_fail "unwritable destination" 1 "$OUT/no/such/dir/model.so;cannot write" \
    "$MODEL" -o "$OUT/no/such/dir/model.so"
mkdir "$TMP/adir"
expect_fail "destination is a folder" 1 "$TMP/adir;folder" "$MODEL" -o "$TMP/adir"
expect_fail "bad -O" 2 "-O;0..3" "$MODEL" -o "$OUT/model.so" -O7
expect_fail "bad --target-cpu" 1 "--target 'x86-64" "$MODEL" -o "$OUT/model.so" "--target-cpu=x86-64;rm"
expect_fail "unknown --target" 2 "--target: unknown value 'x86-64-v9'" "$MODEL" -o "$OUT/model.so" --target x86-64-v9
expect_fail "--target and --target-cpu" 2 "--target and --target-cpu" "$MODEL" -o "$OUT/model.so" --target generic \
    --target-cpu skylake
expect_fail "bad --tile" 2 "--tile" "$MODEL" -o "$OUT/model.so" --tile 0
expect_fail "--program without --emit=ir" 2 "--program" "$MODEL" -o "$OUT/model.so" --program=score
expect_fail "nothing to do" 2 "-o model.so;--emit" "$MODEL"
expect_fail "bad --emit" 2 "--emit;asm" "$MODEL" --emit=asm

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
