#!/usr/bin/env bash
# cache_weights.sh — weights are data: the compile cache is keyed by the
# graph (what decides the code), and a model opened from it gets its own
# file's parameters and ebm.* metadata.  a.onnx and b.onnx are the simple
# preset with other seeds (other weights) and, for b, 7 sampler steps in its
# metadata; c.onnx has another input size (another graph).  Then: sampling
# compiles an entry without param_grad, training the whole model, which
# sampling takes from then on.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="$TMP/cache"
CACHE="$XDG_CACHE_HOME/ebmc"

echo '{"parameters": {"mcmc_steps": 7}}' >"$TMP/steps7.json"
"$EBM" init --preset simple --seed 1 -o "$TMP/a.onnx" >/dev/null
"$EBM" init --preset simple --seed 2 --config "$TMP/steps7.json" -o "$TMP/b.onnx" >/dev/null
"$EBM" init --preset simple --seed 1 --input-dim 3 -o "$TMP/c.onnx" >/dev/null
make_npy "$TMP/x.npy" "(4, 2)" 8 3e800000   # 0.25
make_npy "$TMP/x3.npy" "(4, 3)" 12 3e800000

entries() { find "$CACHE" -name '*.so' | wc -l; }

# files_near FILE REF: 4 lines, each within 1e-5 of REF's (relative to max(1e-3, |ref|))
files_near() {
    awk 'NR == FNR { r[FNR] = $1; next } { d = $1 - r[FNR]; if (d < 0) d = -d; s = r[FNR] < 0 ? -r[FNR] : r[FNR];
         if (s < 1e-3) s = 1e-3; if (d > 1e-5 * s) bad = 1; n++ } END { exit bad || n != 4 }' "$2" "$1"
}

expect_ok "a compiles" "$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --print
cp "$TMP/out" "$TMP/a.txt"
check "one entry" test "$(entries)" -eq 1
so=$(find "$CACHE" -name '*.so')
stamp() { stat -c '%i %y' "$so"; }
before=$(stamp)

expect_ok "b: the same graph, other weights" "$EBM" eval "$TMP/b.onnx" --input "$TMP/x.npy" --print
cp "$TMP/out" "$TMP/b.txt"
cp "$TMP/err" "$TMP/b_err"
check "... compiles nothing" test "$(entries)" -eq 1 -a "$(stamp)" = "$before"
check "... says nothing of compiling" test "$(grep -c compil "$TMP/b_err")" -eq 0
expect_ok "b by the reference executor" "$EBM" eval "$TMP/b.onnx" --input "$TMP/x.npy" --print --reference
cp "$TMP/out" "$TMP/b_ref.txt"
check "... b's energies, not a's (reference, 1e-5)" files_near "$TMP/b.txt" "$TMP/b_ref.txt"
check "... which differ from a's" test "$(cmp -s "$TMP/a.txt" "$TMP/b.txt"; echo $?)" -ne 0

# b's own metadata: 7 steps by default (a's preset has 500)
expect_ok "sample b from the shared entry" "$EBM" sample "$TMP/b.onnx" -n 3 -o "$TMP/b_shared.npy"
cat "$TMP/out" "$TMP/err" >"$TMP/b_said"
check "... with b's ebm.sampler.steps" grep -qF "N=3, 7 Langevin steps" "$TMP/b_said"
check "... compiled for sampling once (its own tile)" test "$(entries)" -eq 2
expect_ok "sample a: b's entry" "$EBM" sample "$TMP/a.onnx" -n 3 -o "$TMP/a_s.npy"
cat "$TMP/out" "$TMP/err" >"$TMP/a_said"
check "... compiles nothing" test "$(entries)" -eq 2 -a "$(grep -c compil "$TMP/a_said")" -eq 0
check "... with a's metadata" grep -qF "N=3, 500 Langevin steps" "$TMP/a_said"
# the same bytes as b compiled on its own, in a cache of its own
expect_ok "sample b, compiled alone" env XDG_CACHE_HOME="$TMP/cache_b" "$EBM" sample "$TMP/b.onnx" -n 3 \
    -o "$TMP/b_alone.npy"
check "... the same samples, bit for bit" cmp -s "$TMP/b_shared.npy" "$TMP/b_alone.npy"

expect_ok "c: another graph" "$EBM" eval "$TMP/c.onnx" --input "$TMP/x3.npy" --print
check "... is another entry" test "$(entries)" -eq 3

# Sampling compiles only what it runs; training the whole model, which sampling then uses.
CACHE_T="$TMP/cache_t/ebmc"
tentries() { find "$CACHE_T" -name '*.so' | wc -l; }
expect_ok "sample a in a fresh cache" env XDG_CACHE_HOME="$TMP/cache_t" "$EBM" sample "$TMP/a.onnx" -n 4 \
    --steps 3 -o "$TMP/t1.npy"
check "... one entry" test "$(tentries)" -eq 1
expect_ok "... which ebm info reads" "$EBM" info "$(find "$CACHE_T" -name '*.so')"
check "... holding energy, score and langevin, no param_grad" \
    sh -c "grep -q 'programs .*energy.*score.*langevin' '$TMP/out' && ! grep -q param_grad '$TMP/out'"
expect_ok "train a (batch 4: the same tile)" env XDG_CACHE_HOME="$TMP/cache_t" "$EBM" train "$TMP/a.onnx" \
    --data toy:8gaussians --steps 2 --batch 4 -o "$TMP/t.onnx"
check "... compiles the whole model: a second entry" test "$(tentries)" -eq 2
expect_ok "sample a again" env XDG_CACHE_HOME="$TMP/cache_t" "$EBM" sample "$TMP/a.onnx" -n 4 --steps 3 \
    -o "$TMP/t2.npy"
cat "$TMP/out" "$TMP/err" >"$TMP/t2_said"
check "... from the whole model's entry: nothing compiled" \
    test "$(tentries)" -eq 2 -a "$(grep -c compil "$TMP/t2_said")" -eq 0
check "... the same samples as from the sampling entry, bit for bit" cmp -s "$TMP/t1.npy" "$TMP/t2.npy"

finish
