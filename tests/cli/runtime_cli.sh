#!/usr/bin/env bash
# runtime_cli.sh — `ebm eval`, `ebm sample` and `ebm info` on compiled models,
# and the compile cache for ONNX models.  The model is the hand-written fake
# of tests/data/runtime/quadratic_model.c: E(x) = 1/2 ||x||^2 on [N, 2, 2],
# whose metadata asks for 5 steps of size 0.1 without noise, clip or clamp.
# From x0 = 0.5 everywhere, K noiseless steps give x = 0.5 (1 - a/T)^K and
# E = 2 x^2: the expected energies below are computed from that formula.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
FAKE="$BIN/../testdata/runtime"
QUAD="$FAKE/quadratic.so"
DATA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/data"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="$TMP/cache"

make_npy "$TMP/half.npy" "(3, 2, 2)" 12 3f000000          # 0.5
make_npy "$TMP/half_wide.npy" "(3, 4)" 12 3f000000

# analytic ENERGY_AFTER STEP T K: E = 2 (0.5 (1 - STEP/T)^K)^2
analytic() { awk -v a="$1" -v t="$2" -v k="$3" 'BEGIN { x = 0.5 * (1 - a / t) ^ k; printf "%.9g\n", 2 * x * x }'; }

# sample_energy NAME WANT ARGS...: sample from half.npy, then the compiled
# energy of the result (ebm eval --print) must be WANT for every sample
sample_energy() {
    local name=$1 want=$2
    shift 2
    expect_ok "$name: sample" "$EBM" sample "$QUAD" --init "$TMP/half.npy" -o "$TMP/s.npy" "$@"
    "$EBM" eval "$QUAD" --input "$TMP/s.npy" --print >"$TMP/e.txt" 2>"$TMP/err"
    check "$name: E = $want" all_near "$TMP/e.txt" "$want" 1e-5
}

# ---- eval and info on a compiled model ------------------------------------------------------
expect_ok "eval .so --print" "$EBM" eval "$QUAD" --input "$TMP/half.npy" --print
check "eval: E(0.5) = 0.5" all_near "$TMP/out" 0.5 1e-7
check "eval: one energy per sample" test "$(wc -l <"$TMP/out")" -eq 3
expect_ok "eval .so --energy --score --grad" "$EBM" eval "$QUAD" --input "$TMP/half.npy" --energy "$TMP/e.npy" \
    --score "$TMP/sc.npy" --grad "$TMP/g.npy"
check "eval: score = -x (bits of -0.5)" test "$(payload "$TMP/sc.npy" | sort -u)" = bf000000
check "eval: grad = +x" test "$(payload "$TMP/g.npy" | sort -u)" = 3f000000
check "eval: energies [3]" grep -aqF "'shape': (3,)" "$TMP/e.npy"
expect_ok "info .so" "$EBM" info "$QUAD"
check "info: input shape" grep -qE '^input +\[N,2,2\]' "$TMP/out"
check "info: metadata" grep -qF 'ebm.sampler.steps = 5' "$TMP/out"
check "info: parameters" grep -qE '^ +center +\[2,2\]' "$TMP/out"

# ---- sample: defaults from metadata, flags over them ------------------------------------------
sample_energy "metadata defaults (5 steps of 0.1)" "$(analytic 0.1 1 5)"
"$EBM" sample "$QUAD" --init "$TMP/half.npy" -o "$TMP/s.npy" 2>"$TMP/summary"
check "summary names the settings" grep -qF "5 Langevin steps (step size 0.1, noise 0, grad clip 0, clamp none, T 1" \
    "$TMP/summary"
sample_energy "--steps 10" "$(analytic 0.1 1 10)" --steps 10
sample_energy "--temperature 2" "$(analytic 0.1 2 5)" --temperature 2
sample_energy "--step-size 0.2" "$(analytic 0.2 1 5)" --step-size 0.2
sample_energy "--clamp 0.4,1 holds x at 0.4" 0.32 --clamp 0.4,1
sample_energy "--grad-clip 0.01: x falls by 0.001 a step" "$(awk 'BEGIN { x = 0.495; print 2 * x * x }')" \
    --grad-clip 0.01
sample_energy "--steps 0" 0.5 --steps 0
expect_ok "--noise auto" "$EBM" sample "$QUAD" -n 4 --noise auto -o "$TMP/s.npy"
cp "$TMP/err" "$TMP/summary"
check "auto noise = sqrt(2 * 0.1)" grep -qF "noise 0.447214" "$TMP/summary"

# same seed, same samples, whatever N; another seed, other samples
expect_ok "sample -n 64" "$EBM" sample "$QUAD" -n 64 --seed 7 --noise 0.1 --steps 20 -o "$TMP/a.npy" \
    --energy "$TMP/ea.npy"
expect_ok "sample -n 3" "$EBM" sample "$QUAD" -n 3 --seed 7 --noise 0.1 --steps 20 -o "$TMP/b.npy"
expect_ok "sample -n 3 --seed 8" "$EBM" sample "$QUAD" -n 3 --seed 8 --noise 0.1 --steps 20 -o "$TMP/c.npy"
payload "$TMP/a.npy" | head -12 >"$TMP/a12"
payload "$TMP/b.npy" >"$TMP/b12"
payload "$TMP/c.npy" >"$TMP/c12"
check "N=3 is the first 3 of N=64" cmp -s "$TMP/a12" "$TMP/b12"
check "another seed differs" test "$(cmp -s "$TMP/b12" "$TMP/c12"; echo $?)" -ne 0
check "--energy writes [64]" grep -aqF "'shape': (64,)" "$TMP/ea.npy"
check "samples [64,2,2]" grep -aqF "'shape': (64, 2, 2)" "$TMP/a.npy"
expect_ok "--init normal" "$EBM" sample "$QUAD" -n 5 --init normal --steps 0 --clamp none -o "$TMP/n.npy"
expect_ok "--init normal:2" "$EBM" sample "$QUAD" -n 5 --init normal:2 --steps 0 --clamp none -o "$TMP/n2.npy"
cp "$TMP/err" "$TMP/summary"
check "the summary names normal:2" grep -qF "init normal:2)" "$TMP/summary"
# twice a float is its exponent plus one: the word + 0x800000 (normal numbers)
while read -r w; do printf '%08x\n' $((0x$w + 0x800000)); done < <(payload "$TMP/n.npy") >"$TMP/n_twice"
payload "$TMP/n2.npy" >"$TMP/n2_words"
check "normal:2 is twice normal, bit for bit" cmp -s "$TMP/n_twice" "$TMP/n2_words"
expect_ok "--trajectory 2" "$EBM" sample "$QUAD" --init "$TMP/half.npy" --steps 5 --trajectory 2 -o "$TMP/t.npy"
check "trajectory [1 + 5/2, N, 2, 2]" grep -aqF "'shape': (3, 3, 2, 2)" "$TMP/t.npy"
check "frame 0 is the initial state" test "$(payload "$TMP/t.npy" | head -12 | sort -u)" = 3f000000

# ---- bad input ---------------------------------------------------------------------------------
expect_fail "sample: -n 0" 2 "-n;'0'" "$EBM" sample "$QUAD" -n 0 -o "$TMP/x.npy"
expect_fail "sample: no -n" 2 "-n N" "$EBM" sample "$QUAD" -o "$TMP/x.npy"
expect_fail "sample: no -o" 2 "-o OUT.npy" "$EBM" sample "$QUAD" -n 2
expect_fail "sample: --steps -1" 2 "--steps;'-1'" "$EBM" sample "$QUAD" -n 2 --steps -1 -o "$TMP/x.npy"
expect_fail "sample: --step-size 0" 2 "--step-size;> 0" "$EBM" sample "$QUAD" -n 2 --step-size 0 -o "$TMP/x.npy"
expect_fail "sample: --noise -1" 2 "--noise;>= 0" "$EBM" sample "$QUAD" -n 2 --noise -1 -o "$TMP/x.npy"
expect_fail "sample: --noise loud" 2 "--noise;'loud'" "$EBM" sample "$QUAD" -n 2 --noise loud -o "$TMP/x.npy"
expect_fail "sample: --temperature 0" 2 "--temperature" "$EBM" sample "$QUAD" -n 2 --temperature 0 -o "$TMP/x.npy"
expect_fail "sample: --clamp 1,-1" 2 "--clamp;LO is above HI" "$EBM" sample "$QUAD" -n 2 --clamp 1,-1 -o "$TMP/x.npy"
expect_fail "sample: --clamp 3" 2 "--clamp;LO,HI" "$EBM" sample "$QUAD" -n 2 --clamp 3 -o "$TMP/x.npy"
expect_fail "sample: --init normal:0" 2 "--init;normal:0;(0, 1e6]" "$EBM" sample "$QUAD" -n 2 --init normal:0 -o "$TMP/x.npy"
expect_fail "sample: --init normal:x" 2 "--init;'x'" "$EBM" sample "$QUAD" -n 2 --init normal:x -o "$TMP/x.npy"
expect_fail "sample: --trajectory 0" 2 "--trajectory" "$EBM" sample "$QUAD" -n 2 --trajectory 0 -o "$TMP/x.npy"
expect_fail "sample: --seed -1" 2 "--seed" "$EBM" sample "$QUAD" -n 2 --seed -1 -o "$TMP/x.npy"
expect_fail "sample: init file of the wrong shape" 1 "half_wide.npy;[3,4];[N,2,2]" \
    "$EBM" sample "$QUAD" --init "$TMP/half_wide.npy" -o "$TMP/x.npy"
expect_fail "sample: init file and another -n" 1 "half.npy;3 samples;-n 5" \
    "$EBM" sample "$QUAD" -n 5 --init "$TMP/half.npy" -o "$TMP/x.npy"
expect_fail "sample: float64 init file" 1 "x_f64.npy;float32" \
    "$EBM" sample "$QUAD" --init "$DATA/x_f64.npy" -o "$TMP/x.npy"
expect_fail "sample: bad metadata" 1 "bad_meta.so;ebm.sampler.steps;'many';--steps" \
    "$EBM" sample "$FAKE/bad_meta.so" -n 2 -o "$TMP/x.npy"
expect_ok "control: a flag overrides bad metadata" "$EBM" sample "$FAKE/bad_meta.so" -n 2 --steps 3 -o "$TMP/x.npy"
rm -f "$TMP/x.npy"
expect_fail "sample: diverging chain" 1 "divergent.so;non-finite;at step" \
    "$EBM" sample "$FAKE/divergent.so" -n 20 --steps 100 -o "$TMP/x.npy"
check "nothing written after a numeric error" test ! -e "$TMP/x.npy"
expect_fail "sample: unwritable -o" 1 "$TMP/no/dir/x.npy" "$EBM" sample "$QUAD" -n 2 -o "$TMP/no/dir/x.npy"
printf 'not a model\n' >"$TMP/notes.so"
expect_fail "sample: text file named .so" 1 "notes.so" "$EBM" sample "$TMP/notes.so" -n 2 -o "$TMP/x.npy"
head -c 4000 "$QUAD" >"$TMP/truncated.so"
expect_fail "sample: truncated .so" 1 "truncated.so;truncated" "$EBM" sample "$TMP/truncated.so" -n 2 -o "$TMP/x.npy"
expect_fail "sample: not an ebmc model" 1 "no_symbol.so;no ebm_abi_model_v3 symbol" \
    "$EBM" sample "$FAKE/no_symbol.so" -n 2 -o "$TMP/x.npy"
expect_fail "sample: another ABI" 1 "future_abi.so;ABI version 4" \
    "$EBM" sample "$FAKE/future_abi.so" -n 2 -o "$TMP/x.npy"
expect_fail "sample: missing model" 1 "$TMP/none.so" "$EBM" sample "$TMP/none.so" -n 2 -o "$TMP/x.npy"
expect_fail "eval: --reference on a .so" 1 "quadratic.so;compiled model" \
    "$EBM" eval "$QUAD" --input "$TMP/half.npy" --print --reference
expect_fail "eval: another head than compiled" 1 "quadratic.so;energy head 'output';--energy-head sum" \
    "$EBM" eval "$QUAD" --input "$TMP/half.npy" --print --energy-head sum
expect_fail "eval: wrong shape for a .so" 1 "half_wide.npy;[3,4];[N,2,2]" \
    "$EBM" eval "$QUAD" --input "$TMP/half_wide.npy" --print

# ---- ONNX models: compiled once into the cache -----------------------------------------------------
GOOD="$DATA/good.onnx"
CACHE="$XDG_CACHE_HOME/ebmc"
expect_ok "eval ONNX (compiles)" "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print
cp "$TMP/out" "$TMP/compiled.txt"
# not on a terminal: one line, only for a compile of over a second
cp "$TMP/err" "$TMP/compile_err"
check "compile note only past 1 s" awk '/compiled/ { n++; if ($0 !~ /^ebm: compiled .*good\.onnx in [0-9.]+ s; cached as / || $5 < 1.0) bad = 1 }
    END { exit bad || n > 1 }' "$TMP/compile_err"
check "one model in the cache" test "$(find "$CACHE" -name '*.so' | wc -l)" -eq 1
expect_ok "eval ONNX --reference" "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print --reference
check "compiled = reference (rel 1e-5)" \
    awk 'NR == FNR { r[FNR] = $1; next } { d = $1 - r[FNR]; if (d < 0) d = -d; s = r[FNR] < 0 ? -r[FNR] : r[FNR];
         if (s < 1e-30) s = 1e-30; if (d > 1e-5 * s) bad = 1; n++ } END { exit bad || n != 2 }' \
    "$TMP/out" "$TMP/compiled.txt"
# A second run must not compile: the cached file stays the same file (a
# compile would rename a new one into place).  The C compiler is still asked
# its version: it is part of the cache key.
cached_so=$(find "$CACHE" -name '*.so')
stamp() { stat -c '%i %y' "$cached_so"; }
before=$(stamp)
expect_ok "cache hit" env EBM_PROGRESS=1 "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print
check "... compiles nothing" test "$(stamp)" = "$before"
cp "$TMP/err" "$TMP/hit_err"
check "... and says nothing of compiling" test ! -s "$TMP/hit_err"
cp "$GOOD" "$TMP/renamed_copy.onnx"
expect_ok "a copy under another name" "$EBM" eval "$TMP/renamed_copy.onnx" --input "$DATA/x.npy" --print
check "... hits the same entry" test "$(stamp)" = "$before" -a "$(find "$CACHE" -name '*.so' | wc -l)" -eq 1
expect_fail "a new head compiles: missing C compiler" 1 "no-such-cc" \
    env CC="$TMP/no-such-cc" "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print --energy-head sum
expect_ok "another head is another cache entry" env EBM_PROGRESS=1 "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print \
    --energy-head sum
# the progress line (forced on, as on a terminal): redrawn while cc runs, then the time it took
cp "$TMP/err" "$TMP/progress_err"
check "progress line while compiling" grep -qaE "compiling .*good\.onnx [-|/\\] [0-9.]+ s" "$TMP/progress_err"
check "... then the time and the cache entry" grep -qaE "ebm: compiled .*good\.onnx in [0-9.]+ s; cached as $CACHE/" \
    "$TMP/progress_err"
check "two models in the cache" test "$(find "$CACHE" -name '*.so' | wc -l)" -eq 2
check "no temporary files left in the cache" test "$(find "$CACHE" -mindepth 1 ! -name '*.so' | wc -l)" -eq 0
expect_ok "sample ONNX" "$EBM" sample "$GOOD" -n 4 --steps 10 -o "$TMP/s.npy"
check "samples of the ONNX input shape" grep -aqF "'shape': (4, 3, 8, 8)" "$TMP/s.npy"
# a corrupt cache entry is rebuilt
for f in "$CACHE"/*.so; do printf 'garbage' >"$f"; done
expect_ok "corrupt cache entry rebuilt" "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print
check "... with the same energies" cmp -s "$TMP/out" "$TMP/compiled.txt"
# no usable cache folder (its parent is a file): compiled in a temporary folder, with a warning
printf 'a file\n' >"$TMP/plain_file"
mkdir -p "$TMP/tmpdir"
expect_ok "unusable cache folder" env XDG_CACHE_HOME="$TMP/plain_file/cache" TMPDIR="$TMP/tmpdir" "$EBM" eval \
    "$GOOD" --input "$DATA/x.npy" --print
cp "$TMP/err" "$TMP/warning"
check "... warns" grep -qF "without caching it" "$TMP/warning"
check "... same energies" cmp -s "$TMP/out" "$TMP/compiled.txt"
check "... leaves no temporary folder" test -z "$(ls -A "$TMP/tmpdir")"
expect_ok "relative XDG_CACHE_HOME is ignored (HOME used)" \
    env XDG_CACHE_HOME=relative HOME="$TMP/home" "$EBM" eval "$GOOD" --input "$DATA/x.npy" --print
check "... cache under HOME" test -d "$TMP/home/.cache/ebmc"
expect_fail "eval: ONNX that does not import" 1 "dangling_input.onnx;ghost_tensor" \
    "$EBM" eval "$DATA/dangling_input.onnx" --input "$DATA/x.npy" --print
expect_fail "eval: folder as model" 1 "is a directory" "$EBM" eval "$TMP" --input "$DATA/x.npy" --print

finish
