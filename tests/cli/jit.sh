#!/usr/bin/env bash
# jit.sh — `ebm eval|sample|train --backend jit|cc|auto` (compiler/jit.h).
# With no C compiler reachable (PATH without one, CC pointing nowhere) the
# JIT still samples the mnist preset, writes no file besides the samples and
# caches nothing; a PyTorch-exported fixture evaluates through the JIT within
# 1e-4 of PyTorch's float64 energies; the JIT's energies of the simple preset
# are the C compiler's (1e-5) and those of the reference executor, also for
# a second file of the same graph with other weights.  Two tiers (-O0 code at
# once, the optimised code when ready) give the same samples as the C
# compiler; EBMC_JIT_TIERS=1 compiles once, optimised.  A bad value is one
# error line naming the flag.  In a build without LLVM, --backend jit says so
# in one line and the rest is skipped.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source folder}"
EBM="$BIN/ebm"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="$TMP/cache"

"$EBM" init --preset simple --seed 1 -o "$TMP/a.onnx" >/dev/null
"$EBM" init --preset simple --seed 2 -o "$TMP/b.onnx" >/dev/null
make_npy "$TMP/x.npy" "(4, 2)" 8 3e800000   # 0.25

expect_fail "a bad --backend" 1 "--backend 'gcc';expected jit, cc or auto" \
    "$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --print --backend gcc
for cmd in eval sample train; do
    "$EBM" "$cmd" --help >"$TMP/help" 2>&1
    check "ebm $cmd --help documents --backend" grep -q -- "--backend jit|cc|auto" "$TMP/help"
done

if ! "$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --print --backend jit >"$TMP/out" 2>"$TMP/err" &&
    grep -q "built without LLVM" "$TMP/err"; then
    expect_fail "--backend jit without LLVM: one line" 1 "--backend jit;built without LLVM" \
        "$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --print --backend jit
    expect_ok "--backend auto without LLVM: the C compiler" \
        "$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --print --backend auto
    finish || exit 1
    echo "jit.sh: SKIPPED the JIT's own checks: this ebm was built without LLVM"
    exit 77
fi

# files_near FILE REF TOL: as many lines as REF, each within TOL of REF's (relative to max(1, |ref|))
files_near() {
    awk -v t="$3" 'NR == FNR { r[FNR] = $1; n++; next }
         { d = $1 - r[FNR]; if (d < 0) d = -d; s = r[FNR] < 0 ? -r[FNR] : r[FNR]; if (s < 1) s = 1;
           if (d > t * s) bad = 1; m++ }
         END { exit bad || m != n || n == 0 }' "$2" "$1"
}

# the simple preset: JIT, C compiler and reference executor agree, for two files of one graph
for f in a b; do
    expect_ok "$f: eval --backend jit" "$EBM" eval "$TMP/$f.onnx" --input "$TMP/x.npy" --print --backend jit
    cp "$TMP/out" "$TMP/$f.jit"
    expect_ok "$f: eval --backend cc" "$EBM" eval "$TMP/$f.onnx" --input "$TMP/x.npy" --print --backend cc
    cp "$TMP/out" "$TMP/$f.cc"
    expect_ok "$f: eval --reference" "$EBM" eval "$TMP/$f.onnx" --input "$TMP/x.npy" --print --reference
    cp "$TMP/out" "$TMP/$f.ref"
    check "$f: the JIT's energies are the C compiler's (1e-5)" files_near "$TMP/$f.jit" "$TMP/$f.cc" 1e-5
    check "$f: ... and the reference executor's (1e-5)" files_near "$TMP/$f.jit" "$TMP/$f.ref" 1e-5
done
check "a and b (other weights) differ" test "$(cmp -s "$TMP/a.jit" "$TMP/b.jit"; echo $?)" -ne 0

# a PyTorch export (tests/fixtures, see its README) against torch's float64 energies
FIX="$SRC/tests/fixtures/cnn_strided_silu"
expect_ok "fixture cnn_strided_silu: eval --backend jit" \
    "$EBM" eval "$FIX/model.onnx" --input "$FIX/input.npy" --print --backend jit
cp "$TMP/out" "$TMP/fix.jit"
hlen=$(od -An -t u2 -j 8 -N 2 "$FIX/energy_f64.npy" | tr -d ' ')
od -An -v -t f8 -j $((10 + hlen)) "$FIX/energy_f64.npy" | tr -s ' \n' '\n\n' | sed '/^$/d' >"$TMP/fix.ref"
check "... 5 reference energies" test "$(wc -l <"$TMP/fix.ref")" -eq 5
check "... within 1e-4 of PyTorch's float64 energies" files_near "$TMP/fix.jit" "$TMP/fix.ref" 1e-4

# no C compiler anywhere: cc fails, the JIT samples the mnist preset
"$EBM" init --preset mnist -o "$TMP/mnist.onnx" >/dev/null
mkdir -p "$TMP/empty" "$TMP/tmpdir"
nocc() { env PATH="$TMP/empty" CC=/nonexistent TMPDIR="$TMP/tmpdir" XDG_CACHE_HOME="$TMP/nocache" "$@"; }
expect_fail "no compiler: --backend cc cannot compile" 1 "C compiler" \
    nocc "$EBM" sample "$TMP/mnist.onnx" -n 4 --steps 2 -o "$TMP/s_cc.npy" --backend cc
rm -rf "$TMP/nocache"
expect_ok "no compiler: sample mnist --backend jit" \
    nocc "$EBM" sample "$TMP/mnist.onnx" -n 4 --steps 2 --seed 3 -o "$TMP/s.npy" --backend jit
cat "$TMP/out" "$TMP/err" >"$TMP/said"
check "... wrote 4 samples [4, 1, 28, 28]" grep -qa "'shape': (4, 1, 28, 28)" "$TMP/s.npy"
check "... the energies are finite" grep -q " 0 NaN/Inf" "$TMP/said"
expect_ok "no compiler: --backend auto is the JIT here" \
    nocc "$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --print --backend auto
check "... a's energies" files_near "$TMP/out" "$TMP/a.cc" 1e-5
check "... no temporary file left, nothing cached" \
    test "$(find "$TMP/tmpdir" -mindepth 1 | wc -l)" -eq 0 -a ! -e "$TMP/nocache/ebmc"
# two tiers: the model runs at once on -O0 code and moves to its optimised
# code; the samples are the same bytes as the C compiler's.  The long run
# waits for the optimised code after its first half second on the -O0 code
# (runtime/run.c), and says when it moved.  (test_jit compares the tiers'
# bits with one -O2 tier's and the AOT code's, function by function.)
for how in tiers cc; do
    case $how in
        tiers) env=(EBMC_VERBOSE=1) backend=jit ;;
        cc) env=() backend=cc ;;
    esac
    expect_ok "mnist preset, 300 steps of 64 chains: $how" env "${env[@]}" \
        "$EBM" sample "$TMP/mnist.onnx" -n 64 --steps 300 --seed 4 -o "$TMP/t_$how.npy" --backend $backend
    cp "$TMP/err" "$TMP/t_$how.err"
done
check "two tiers: the -O0 code first" grep -q "JIT -O0:" "$TMP/t_tiers.err"
check "... then the optimised code" grep -q "the model runs its -O3 code from now" "$TMP/t_tiers.err"
check "... the same samples as the C compiler's code" cmp -s "$TMP/t_tiers.npy" "$TMP/t_cc.npy"
# EBMC_JIT_TIERS=1: one optimised compile, no -O0 code
expect_ok "EBMC_JIT_TIERS=1: eval --backend jit" \
    env EBMC_JIT_TIERS=1 EBMC_VERBOSE=1 "$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --print --backend jit
cp "$TMP/err" "$TMP/one.err"   # (check empties $TMP/err)
check "... one -O3 compile" grep -q "JIT -O3:" "$TMP/one.err"
check "... no -O0 code" test "$(grep -c "JIT -O0:" "$TMP/one.err")" -eq 0
check "... a's energies" files_near "$TMP/out" "$TMP/a.cc" 1e-5
finish
