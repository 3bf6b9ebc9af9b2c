#!/usr/bin/env bash
# score.sh — `ebm score`: the FID between two fixed image sets and one set's
# class histogram, against the values PyTorch and NumPy give for the same
# built-in feature network (tests/data/fid/gen.py wrote them); a set against
# itself scores 0; bad input is one clear line.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
EBM="$BIN/ebm"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"

F="$SRC/tests/data/fid"
want_fid=$(awk '$1 == "fid_ab" { print $2 }' "$F/expected.txt")
want_hist=$(awk '$1 == "hist_a" { $1 = ""; print substr($0, 2) }' "$F/expected.txt")

expect_ok "score b against a" "$EBM" score "$F/b.npy" --data "$F/a.npy"
got_fid=$(awk '$1 == "FID" { print $2 }' "$TMP/out")
check "FID = PyTorch + NumPy's $want_fid (1e-3 relative)" \
    awk -v g="$got_fid" -v w="$want_fid" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(g != "" && d <= 1e-3 * w) }'
check "the line names both files and the network" grep -q "96 samples of .*b.npy against 96 of .*a.npy; features: the built-in" "$TMP/out"

expect_ok "score a against b" "$EBM" score "$F/a.npy" --data "$F/b.npy"
check "FID is symmetric" test "$(awk '$1 == "FID" { print $2 }' "$TMP/out")" = "$got_fid"
got_hist=$(sed -n 's/.*per class: //p' "$TMP/out")
check "class histogram of a = PyTorch's ($want_hist)" test "$got_hist" = "$want_hist"

expect_ok "a set against itself" "$EBM" score "$F/a.npy" --data "$F/a.npy"
check "FID of a set against itself is 0" \
    awk -v g="$(awk '$1 == "FID" { print $2 }' "$TMP/out")" 'BEGIN { exit !(g != "" && g + 0 < 1e-3 && g + 0 > -1e-3) }'
expect_ok "--max-data 50: evenly spaced data" "$EBM" score "$F/b.npy" --data "$F/a.npy" --max-data 50
check "--max-data 50 uses 50 data samples" grep -q "against 50 of" "$TMP/out"

# ---- bad input ----------------------------------------------------------------------------------
expect_fail "no --data" 2 "--data" "$EBM" score "$F/a.npy"
expect_fail "missing samples" 1 "nope.npy" "$EBM" score "$TMP/nope.npy" --data "$F/a.npy"
printf '1,2\n3,4\n' >"$TMP/two.csv"
expect_fail "data of the wrong size" 1 "two.csv;2 values per sample;784" "$EBM" score "$F/a.npy" --data "$TMP/two.csv"
expect_fail "a feature network that is not ONNX" 1 "a.npy" "$EBM" score "$F/a.npy" --data "$F/b.npy" \
    --features "$F/a.npy"
expect_fail "--max-data 1" 2 "--max-data" "$EBM" score "$F/a.npy" --data "$F/b.npy" --max-data 1
make_npy "$TMP/nan.npy" "(2, 1, 28, 28)" 1568 7fc00000
expect_fail "NaN samples" 1 "nan.npy;element 0 [0,0,0,0] is NaN" "$EBM" score "$TMP/nan.npy" --data "$F/a.npy"
expect_fail "NaN data" 1 "nan.npy;element 0;not a finite" "$EBM" score "$F/a.npy" --data "$TMP/nan.npy"

finish
