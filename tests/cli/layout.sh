#!/usr/bin/env bash
# layout.sh — channel-last image arrays (--layout nhwc) for ebm eval, sample
# and train, on a model built by `ebm init --input-shape 6,5,3` (x is
# [N,3,6,5]).  The NHWC arrays are made here by permuting the 32-bit words of
# an NCHW array in awk (element (n,h,w,c) = NCHW element ((n C + c) H + h) W
# + w), independently of the code under test.  Values asserted: the energies
# of the NHWC array with --layout nhwc equal, bit for bit, those of the same
# data in NCHW; the score written back is the awk permutation of the NCHW
# score; samples and buffers written with --layout nhwc are the permutation of
# those written without it (same seed); an NHWC array without --layout is
# refused naming both shapes and --layout nhwc.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="$TMP/cache"

H=6 W=5 C=3

# words FILE: the .npy data as 8-hex-digit words, one per line
words() { payload "$1"; }
# npy_from_words FILE SHAPE: a float32 .npy of SHAPE from hex words on stdin
npy_from_words() {
    {
        npy_header "$2"
        awk '{ printf "\\x%s\\x%s\\x%s\\x%s", substr($1, 7, 2), substr($1, 5, 2), substr($1, 3, 2), substr($1, 1, 2) }' |
            while IFS= read -r -d '' chunk || [ -n "$chunk" ]; do printf '%b' "$chunk"; done
    } >"$1"
}
# to_nhwc: NCHW words on stdin -> NHWC order on stdout (samples of C x H x W)
to_nhwc() {
    awk -v C="$C" -v H="$H" -v W="$W" '{ v[NR - 1] = $1 } END {
        per = C * H * W; n = NR / per
        for (s = 0; s < n; s++) for (h = 0; h < H; h++) for (w = 0; w < W; w++) for (c = 0; c < C; c++)
            print v[s * per + (c * H + h) * W + w] }'
}
npy_shape() { head -c 200 "$1" | tr -d '\0' | grep -ao "'shape': ([0-9, ]*)" | sed "s/'shape': //"; }

expect_ok "init: an image model [N,3,6,5]" "$EBM" init --preset cnn --input-shape "$H,$W,$C" --seed 4 -o "$TMP/m.onnx"
expect_ok "sample: NCHW data" "$EBM" sample "$TMP/m.onnx" -n 7 --steps 0 --seed 9 -o "$TMP/x.npy"
check "NCHW data is (7, 3, 6, 5)" test "$(npy_shape "$TMP/x.npy")" = "(7, 3, 6, 5)"
words "$TMP/x.npy" | to_nhwc | npy_from_words "$TMP/xh.npy" "(7, $H, $W, $C)"
check "awk made (7, 6, 5, 3)" test "$(npy_shape "$TMP/xh.npy")" = "(7, 6, 5, 3)"
differs() { ! cmp -s "$1" "$2"; }
same_nonempty() { [ -s "$1" ] && cmp -s "$1" "$2"; }
check "the NHWC data is a permutation, not a copy" differs <(payload "$TMP/x.npy") <(payload "$TMP/xh.npy")

# ---- eval ----------------------------------------------------------------------------------------
expect_ok "eval NCHW" "$EBM" eval "$TMP/m.onnx" --input "$TMP/x.npy" --energy "$TMP/e.npy" --score "$TMP/s.npy"
expect_ok "eval NHWC --layout nhwc" "$EBM" eval "$TMP/m.onnx" --input "$TMP/xh.npy" --layout nhwc \
    --energy "$TMP/eh.npy" --score "$TMP/sh.npy"
check "energies of NHWC = energies of NCHW (same bits)" cmp -s <(payload "$TMP/e.npy") <(payload "$TMP/eh.npy")
check "score written back as (7, 6, 5, 3)" test "$(npy_shape "$TMP/sh.npy")" = "(7, 6, 5, 3)"
check "score in NHWC = the permuted NCHW score" cmp -s <(words "$TMP/s.npy" | to_nhwc) <(words "$TMP/sh.npy")
expect_ok "eval --reference --layout nhwc" "$EBM" eval "$TMP/m.onnx" --input "$TMP/xh.npy" --layout nhwc --reference \
    --print
cp "$TMP/out" "$TMP/eh_ref.txt"
"$EBM" eval "$TMP/m.onnx" --input "$TMP/x.npy" --reference --print >"$TMP/e_ref.txt" 2>/dev/null
check "reference: NHWC energies = NCHW energies" cmp -s "$TMP/e_ref.txt" "$TMP/eh_ref.txt"
expect_fail "eval: NHWC without --layout" 1 "xh.npy;[7,6,5,3];[N,3,6,5];--layout nhwc" \
    "$EBM" eval "$TMP/m.onnx" --input "$TMP/xh.npy" --print
expect_fail "eval: NCHW with --layout nhwc" 1 "--layout nhwc;x.npy;[7,3,6,5];[N,6,5,3]" \
    "$EBM" eval "$TMP/m.onnx" --input "$TMP/x.npy" --layout nhwc --print
expect_fail "eval: --layout on a tabular model" 1 "--layout nhwc;not an image" \
    "$EBM" eval "$BIN/../testdata/runtime/quadratic.so" --input "$TMP/xh.npy" --layout nhwc --print
expect_fail "eval: --layout bad" 2 "--layout;'nwhc';nchw or nhwc" \
    "$EBM" eval "$TMP/m.onnx" --input "$TMP/xh.npy" --layout nwhc --print

# ---- sample ------------------------------------------------------------------------------------
expect_ok "sample NCHW" "$EBM" sample "$TMP/m.onnx" -n 5 --steps 4 --seed 2 --buffer "$TMP/buf.npy" -o "$TMP/o.npy"
expect_ok "sample --layout nhwc" "$EBM" sample "$TMP/m.onnx" -n 5 --steps 4 --seed 2 --layout nhwc \
    --buffer "$TMP/bufh.npy" -o "$TMP/oh.npy"
check "samples written as (5, 6, 5, 3)" test "$(npy_shape "$TMP/oh.npy")" = "(5, 6, 5, 3)"
check "NHWC samples = the permuted NCHW samples" cmp -s <(words "$TMP/o.npy" | to_nhwc) <(words "$TMP/oh.npy")
check "NHWC buffer = the permuted NCHW buffer" cmp -s <(words "$TMP/buf.npy" | to_nhwc) <(words "$TMP/bufh.npy")
expect_ok "sample: --init NHWC --layout nhwc" "$EBM" sample "$TMP/m.onnx" --init "$TMP/xh.npy" --steps 3 --seed 1 \
    --layout nhwc -o "$TMP/ih.npy" --trajectory 3
expect_ok "sample: --init NCHW" "$EBM" sample "$TMP/m.onnx" --init "$TMP/x.npy" --steps 3 --seed 1 -o "$TMP/i.npy" \
    --trajectory 3
check "trajectory written as (2, 7, 6, 5, 3)" test "$(npy_shape "$TMP/ih.npy")" = "(2, 7, 6, 5, 3)"
check "NHWC trajectory = the permuted NCHW one" cmp -s <(words "$TMP/i.npy" | to_nhwc) <(words "$TMP/ih.npy")
expect_ok "sample: the NHWC buffer read back" "$EBM" sample "$TMP/m.onnx" -n 5 --steps 4 --seed 2 --layout nhwc \
    --buffer "$TMP/bufh.npy" --reinit 0 -o "$TMP/oh2.npy"
expect_ok "sample: the NCHW buffer read back" "$EBM" sample "$TMP/m.onnx" -n 5 --steps 4 --seed 2 \
    --buffer "$TMP/buf.npy" --reinit 0 -o "$TMP/o2.npy"
check "second runs agree too" cmp -s <(words "$TMP/o2.npy" | to_nhwc) <(words "$TMP/oh2.npy")
expect_fail "sample: --init NHWC without --layout" 1 "xh.npy;[7,6,5,3];--layout nhwc" \
    "$EBM" sample "$TMP/m.onnx" --init "$TMP/xh.npy" --steps 1 -o "$TMP/z.npy"

expect_fail "sample: --layout nhwc on a tabular model" 1 "--layout nhwc;not an image" \
    "$EBM" sample "$BIN/../testdata/runtime/quadratic.so" -n 2 --layout nhwc -o "$TMP/z.npy"

# ---- train -------------------------------------------------------------------------------------
for k in 1 2 3 4 5; do words "$TMP/x.npy"; done >"$TMP/many.txt"   # 35 samples
npy_from_words "$TMP/d.npy" "(35, 3, $H, $W)" <"$TMP/many.txt"
to_nhwc <"$TMP/many.txt" | npy_from_words "$TMP/dh.npy" "(35, $H, $W, $C)"
TR=(train "$TMP/m.onnx" --steps 2 --batch 8 --mcmc-steps 3 --eval-every 0 --seed 5 --buffer-capacity 16)
expect_ok "train NCHW data" "$EBM" "${TR[@]}" --data "$TMP/d.npy" -o "$TMP/t.onnx" --buffer-out "$TMP/tb.npy"
expect_ok "train NHWC data --layout nhwc" "$EBM" "${TR[@]}" --data "$TMP/dh.npy" --layout nhwc -o "$TMP/th.onnx" \
    --buffer-out "$TMP/tbh.npy"
"$EBM" eval "$TMP/t.onnx" --input "$TMP/x.npy" --print >"$TMP/te.txt" 2>/dev/null
"$EBM" eval "$TMP/th.onnx" --input "$TMP/x.npy" --print >"$TMP/the.txt" 2>/dev/null
check "the models trained on either layout give the same energies" same_nonempty "$TMP/te.txt" "$TMP/the.txt"
check "... and training changed them" differs "$TMP/te.txt" <("$EBM" eval "$TMP/m.onnx" --input "$TMP/x.npy" --print 2>/dev/null)
check "buffer-out NHWC = the permuted NCHW buffer" cmp -s <(words "$TMP/tb.npy" | to_nhwc) <(words "$TMP/tbh.npy")
expect_fail "train: NHWC data without --layout" 1 "dh.npy;channel-last;--layout nhwc" \
    "$EBM" "${TR[@]}" --data "$TMP/dh.npy" -o "$TMP/z.onnx"

finish
