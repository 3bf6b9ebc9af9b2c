#!/usr/bin/env bash
# bad_input.sh — ebmc and ebm on bad input: every case must exit non-zero with
# exactly one line on stderr that names the culprit (file, node, tensor or
# flag), and no sanitizer report.  A few good inputs run too, so a tool that
# fails on everything cannot pass.  Models and arrays come from data/gen.py
# (committed; no python needed here).
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
EBMC="$BIN/ebmc"
DATA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/data"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# expect_fail NAME CODE 'pattern1;pattern2' CMD ARGS...: CODE is the exit
# status required (1 input error, 2 usage); every pattern must appear in the
# single stderr line.  expect_ok, check: see lib/check.bash.
# shellcheck source=lib/check.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"

GOOD="$DATA/good.onnx"

# ---- broken model files (both tools) ------------------------------------------------
: >"$TMP/empty.onnx"
size=$(wc -c <"$GOOD")
head -c $((size / 2)) "$GOOD" >"$TMP/truncated.onnx"

for tool in ebmc info; do
    if [ "$tool" = ebmc ]; then run=("$EBMC"); post=(--emit=ir); else run=("$EBM" info); post=(); fi
    expect_fail "$tool: empty file" 1 "$TMP/empty.onnx" "${run[@]}" "$TMP/empty.onnx" "${post[@]}"
    expect_fail "$tool: truncated model" 1 "$TMP/truncated.onnx" \
        "${run[@]}" "$TMP/truncated.onnx" "${post[@]}"
    expect_fail "$tool: random bytes" 1 "random.bin" "${run[@]}" "$DATA/random.bin" "${post[@]}"
    expect_fail "$tool: unsupported op" 1 "unsupported_op.onnx;weird_hardmax;Hardmax" \
        "${run[@]}" "$DATA/unsupported_op.onnx" "${post[@]}"
    expect_fail "$tool: dangling input" 1 "dangling_input.onnx;ghost_tensor" \
        "${run[@]}" "$DATA/dangling_input.onnx" "${post[@]}"
    expect_fail "$tool: missing initializer" 1 "missing_initializer.onnx;fc.missing_weight" \
        "${run[@]}" "$DATA/missing_initializer.onnx" "${post[@]}"
    expect_fail "$tool: missing file" 1 "$TMP/nope.onnx" "${run[@]}" "$TMP/nope.onnx" "${post[@]}"
    expect_fail "$tool: .npy given as model" 1 "x.npy;.npy array" \
        "${run[@]}" "$DATA/x.npy" "${post[@]}"
    expect_fail "$tool: directory given as model" 1 "$TMP" "${run[@]}" "$TMP" "${post[@]}"
done

# ---- ebmc flags -------------------------------------------------------------------------
expect_fail "ebmc: unknown flag" 2 "--bogus" "$EBMC" "$GOOD" --bogus
expect_fail "ebmc: unknown short flag" 2 "-q" "$EBMC" "$GOOD" -q
expect_fail "ebmc: missing MODEL" 2 "MODEL" "$EBMC" --emit=ir
expect_fail "ebmc: two models" 2 "extra.onnx" "$EBMC" "$GOOD" extra.onnx --emit=ir
expect_fail "ebmc: bad --emit" 2 "--emit;asm" "$EBMC" "$GOOD" --emit=asm
expect_fail "ebmc: bad --energy-head" 2 "--energy-head;median" "$EBMC" "$GOOD" --energy-head median
expect_fail "ebmc: -o needs a value" 2 "-o" "$EBMC" "$GOOD" --emit=ir -o
expect_fail "ebmc: switch with a value" 2 "--verify" "$EBMC" "$GOOD" --verify=yes
expect_fail "ebmc: bad ebm.energy_head metadata" 1 "bad_head_meta.onnx;ebm.energy_head;bogus_head" \
    "$EBMC" "$DATA/bad_head_meta.onnx" --emit=ir
expect_fail "ebmc: head output on [N,3] logits" 1 "logits.onnx;output" \
    "$EBMC" "$DATA/logits.onnx" --emit=ir
expect_ok "control: ebmc logits with --energy-head=neg-logsumexp" \
    "$EBMC" "$DATA/logits.onnx" --emit=ir --energy-head=neg-logsumexp
expect_fail "ebmc: -o into a missing folder" 1 "$TMP/no/such/dir/model.so" \
    "$EBMC" "$GOOD" -o "$TMP/no/such/dir/model.so"
check "ebmc: no model.so written" test ! -e "$TMP/no/such/dir/model.so"
expect_fail "ebmc: unwritable -o" 1 "$TMP/no/such/dir/out.txt" \
    "$EBMC" "$GOOD" --emit=ir -o "$TMP/no/such/dir/out.txt"

# ---- ebm dispatch -------------------------------------------------------------------------
expect_fail "ebm: no command" 2 "ebm --help" "$EBM"
expect_fail "ebm: unknown command" 2 "frobnicate" "$EBM" frobnicate "$GOOD"
expect_fail "ebm: unknown global flag" 2 "--bogus" "$EBM" --bogus
expect_fail "ebm: help for unknown command" 2 "frobnicate" "$EBM" help frobnicate
expect_fail "ebm info: unknown flag" 2 "--bogus" "$EBM" info "$GOOD" --bogus=3
expect_fail "ebm info: missing MODEL" 2 "MODEL" "$EBM" info

# ---- ebm eval ---------------------------------------------------------------------------------
E="$TMP/e.npy"
expect_fail "eval: unknown flag" 2 "--bogus" "$EBM" eval "$GOOD" --input "$DATA/x.npy" --energy "$E" --bogus
expect_fail "eval: missing --input" 2 "--input" "$EBM" eval "$GOOD" --energy "$E"
expect_fail "eval: missing --energy" 2 "--energy" "$EBM" eval "$GOOD" --input "$DATA/x.npy"
expect_fail "eval: --input without value" 2 "--input" "$EBM" eval "$GOOD" --energy "$E" --input
expect_fail "eval: empty --input=" 2 "--input" "$EBM" eval "$GOOD" --energy "$E" --input=
expect_fail "eval: bad --energy-head" 2 "--energy-head;nope" \
    "$EBM" eval "$GOOD" --input "$DATA/x.npy" --energy "$E" --energy-head=nope
expect_fail "eval: wrong input shape" 1 "x_wrong_shape.npy;[N,3,8,8];[2,3,8,4]" \
    "$EBM" eval "$GOOD" --input "$DATA/x_wrong_shape.npy" --energy "$E"
expect_fail "eval: int64 input" 1 "x_int64.npy;float32" \
    "$EBM" eval "$GOOD" --input "$DATA/x_int64.npy" --energy "$E"
expect_fail "eval: int64 input with --f64" 1 "x_int64.npy;float32" \
    "$EBM" eval "$GOOD" --input "$DATA/x_int64.npy" --energy "$E" --f64
expect_fail "eval: float64 input without --f64" 1 "x_f64.npy;--f64" \
    "$EBM" eval "$GOOD" --input "$DATA/x_f64.npy" --energy "$E"
expect_fail "eval: model file as input" 1 "good.onnx" \
    "$EBM" eval "$GOOD" --input "$GOOD" --energy "$E"
expect_fail "eval: missing input file" 1 "$TMP/none.npy" \
    "$EBM" eval "$GOOD" --input "$TMP/none.npy" --energy "$E"
expect_fail "eval: bad model" 1 "ghost_tensor" \
    "$EBM" eval "$DATA/dangling_input.onnx" --input "$DATA/x.npy" --energy "$E"
expect_fail "eval: NaN/Inf energies" 1 "not finite;2 of 3;1 NaN;1 Inf" \
    "$EBM" eval "$DATA/nan.onnx" --input "$DATA/nan_input.npy" --energy "$E"
# NaN/Inf inputs are refused, naming the file and the first bad element, on every path: a
# ReLU maps NaN to a finite energy, so the outputs alone would not show it (issue 18)
RELU="$DATA/relu.onnx"
for how in compiled --reference --f64; do
    flags=()
    [ "$how" = compiled ] || flags=("$how")
    expect_fail "eval $how: NaN input" 1 "relu_nan_input.npy;element 3 [1,1] is NaN" \
        "$EBM" eval "$RELU" --input "$DATA/relu_nan_input.npy" --energy "$E" "${flags[@]}"
    expect_fail "eval $how: -Inf input, --score" 1 "relu_inf_input.npy;element 3 [1,1] is -Inf" \
        "$EBM" eval "$RELU" --input "$DATA/relu_inf_input.npy" --score "$E" "${flags[@]}"
    expect_fail "eval $how: NaN input, --grad" 1 "relu_nan_input.npy;element 3 [1,1] is NaN" \
        "$EBM" eval "$RELU" --input "$DATA/relu_nan_input.npy" --grad "$E" "${flags[@]}"
done
check "eval: nothing written after errors" test ! -e "$E"
expect_fail "eval: unwritable --energy" 1 "$TMP/no/dir/e.npy" \
    "$EBM" eval "$GOOD" --input "$DATA/x.npy" --energy "$TMP/no/dir/e.npy"

# ---- text from files reaches the terminal escaped (issue 18) ----------------------------------
# ansi_meta.onnx's ebm.energy_head is ESC [2J (erase screen), ESC ]0;pwned BEL (set the title),
# then "evil_head"; its "note" holds a C1 CSI (U+009B) after a plain UTF-8 'é'.
no_raw_controls() { ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]' "$1"; }
ANSI="$DATA/ansi_meta.onnx"
expect_fail "ebmc: control bytes in a message are escaped" 1 'ansi_meta.onnx;\x1b[2J\x1b]0;pwned\x07evil_head' \
    "$EBMC" "$ANSI" --emit=ir
cp "$TMP/err" "$TMP/err.kept"
check "ebmc: no raw control byte on stderr" no_raw_controls "$TMP/err.kept"
expect_fail "eval: control bytes in a message are escaped" 1 'ebm.energy_head;\x1b[2J\x1b]0;pwned\x07evil_head' \
    "$EBM" eval "$ANSI" --input "$DATA/x.npy" --energy "$E" --reference
cp "$TMP/err" "$TMP/err.kept"
check "eval: no raw control byte on stderr" no_raw_controls "$TMP/err.kept"
expect_ok "info: a model with control bytes in its metadata" "$EBM" info "$ANSI"
cp "$TMP/out" "$TMP/out.kept"
check "info: no raw control byte on stdout" no_raw_controls "$TMP/out.kept"
check "info: ESC, BEL and C1 shown escaped, UTF-8 kept" grep -qF \
    -e 'ebm.energy_head = \x1b[2J\x1b]0;pwned\x07evil_head' "$TMP/out.kept"
check "info: C1 CSI escaped, é kept" grep -qF 'note = café \xc2\x9b31m' "$TMP/out.kept"

# ---- a failed write to stdout is an error, not exit 0 with the output lost (issue 18) ----------
# to_full TOOL ARGS...: runs with stdout on /dev/full; stderr in $TMP/full.err, the status printed
to_full() { "$@" >/dev/full 2>"$TMP/full.err"; echo $?; }
for run in "ebm info" "ebm eval --print" "ebmc --emit=ir" "ebm --help"; do
    case $run in
    "ebm info") status=$(to_full "$EBM" info "$GOOD") ;;
    "ebm eval --print") status=$(to_full "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print --reference) ;;
    "ebmc --emit=ir") status=$(to_full "$EBMC" "$GOOD" --emit=ir) ;;
    *) status=$(to_full "$EBM" --help) ;;
    esac
    check "$run > /dev/full: exit status 1" test "$status" = 1
    check "$run > /dev/full: one line naming stdout" \
        test "$(grep -c 'stdout>: write failed: No space left on device' "$TMP/full.err")" = 1 -a \
        "$(wc -l <"$TMP/full.err")" = 1
done

# ---- good input still works (controls) ------------------------------------------------
expect_ok "control: ebmc --emit=ir" "$EBMC" "$GOOD" --emit=ir
expect_ok "control: ebmc --emit dot -o" "$EBMC" "$GOOD" --emit dot -o "$TMP/g.dot" --verify
check "control: dot file written" grep -q "digraph" "$TMP/g.dot"
expect_ok "control: ebm info" "$EBM" info "$GOOD"
check "control: info names the parameters" grep -q "fc.weight" "$TMP/out"
expect_ok "control: eval f32" "$EBM" eval "$GOOD" --input "$DATA/x.npy" --energy "$E"
check "control: energies are float32 [2]" grep -aqF "'descr': '<f4', 'fortran_order': False, 'shape': (2,)" "$E"
expect_ok "control: eval --f64 with float64 input" \
    "$EBM" eval "$GOOD" --input "$DATA/x_f64.npy" --energy="$E" --f64
check "control: energies are float64 [2]" grep -aqF "'descr': '<f8', 'fortran_order': False, 'shape': (2,)" "$E"
expect_ok "control: eval N=0" "$EBM" eval "$GOOD" --input "$DATA/x_n0.npy" --energy "$TMP/e0.npy"
check "control: N=0 writes an empty [0] array" grep -aqF "'shape': (0,)" "$TMP/e0.npy"

finish
