#!/usr/bin/env bash
# init.sh — `ebm init` end to end: every preset goes through `ebmc` to a
# compiled model whose energies are finite, one per sample, and equal to the
# reference executor's on the ONNX file; `ebm info` shows the preset and the
# parameter count of the architecture table (counted by hand in
# tests/unit/test_presets.c); the same seed writes the same bytes;
# configurations and flags override presets; bad flags and bad
# configurations fail with one line naming the flag, file and field, and
# leave no file behind.  The C builder example (examples/custom_energy.c)
# runs too.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
EBMC="$BIN/ebmc"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONF="$SRC/tests/data/configs"
X="$SRC/tests/data/presets"     # inputs of the presets: <preset>_x.npy, 5 samples each
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="$TMP/cache"

# every line of FILE is a finite number, and there are COUNT of them
finite_lines() {
    [ "$(wc -l <"$1")" -eq "$2" ] &&
        awk '{ if ($1 !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) bad = 1 } END { exit bad }' "$1"
}

# the lines of A and B agree within TOL (relative, at least absolute)
lines_near() {
    [ "$(wc -l <"$1")" -eq "$(wc -l <"$2")" ] &&
        paste "$1" "$2" | awk -v t="$3" '{ d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2;
            if (s < 1) s = 1; if (d > t * s) bad = 1 } END { exit bad }'
}

differ() { ! cmp -s "$1" "$2"; }
lacks() { ! grep -q -- "$1" "$2"; }

# info_has NAME FILE PATTERN: `ebm info FILE` prints a line matching PATTERN (extended regex)
info_has() {
    "$EBM" info "$2" >"$TMP/info" 2>"$TMP/err"
    check "$1" grep -qE -- "$3" "$TMP/info"
}

# ---- each preset: init -> ebmc -> compiled energies -------------------------------------------
declare -A PARAMS=([simple]=25217 [cnn]=18881 [mnist]=74994 [cifar]=1258977)
for p in simple cnn mnist cifar; do
    expect_ok "init $p" "$EBM" init --preset "$p" -o "$TMP/$p.onnx"
    check "$p: summary" grep -qF "wrote $TMP/$p.onnx: $p" "$TMP/out"
    info_has "$p: ebm.preset in info" "$TMP/$p.onnx" "^  ebm\.preset = $p\$"
    info_has "$p: parameter count" "$TMP/$p.onnx" "^parameters +${PARAMS[$p]} trainable"
    info_has "$p: architecture" "$TMP/$p.onnx" "^  ebm\.architecture = "
    expect_ok "ebmc $p" "$EBMC" "$TMP/$p.onnx" -o "$TMP/$p.so"
    expect_ok "eval $p.so" "$EBM" eval "$TMP/$p.so" --input "$X/${p}_x.npy" --print
    cp "$TMP/out" "$TMP/compiled.txt"
    check "$p: 5 finite energies" finite_lines "$TMP/compiled.txt" 5
    expect_ok "eval $p.onnx --reference" "$EBM" eval "$TMP/$p.onnx" --reference --input "$X/${p}_x.npy" --print
    check "$p: compiled = reference" lines_near "$TMP/compiled.txt" "$TMP/out" 1e-4
done
info_has "cifar: 1x1 projections" "$TMP/cifar.onnx" "^  block4\.proj\.weight +\[256,128,1,1\]"
info_has "mnist: sampler defaults" "$TMP/mnist.onnx" "^  ebm\.buffer\.capacity = 4096$"
info_has "cifar: sampler defaults" "$TMP/cifar.onnx" "^  ebm\.sampler\.steps = 100$"

# ---- determinism --------------------------------------------------------------------------------
expect_ok "init seed 7" "$EBM" init --preset mnist --seed 7 -o "$TMP/a.onnx"
expect_ok "init seed 7 again" "$EBM" init --preset mnist --seed 7 -o "$TMP/b.onnx"
expect_ok "init seed 8" "$EBM" init --preset mnist --seed 8 -o "$TMP/c.onnx"
check "same seed, same bytes" cmp -s "$TMP/a.onnx" "$TMP/b.onnx"
check "another seed, other bytes" differ "$TMP/a.onnx" "$TMP/c.onnx"
check "default seed is 0" cmp -s "$TMP/mnist.onnx" <("$EBM" init --preset mnist --seed 0 -o "$TMP/d.onnx" >/dev/null &&
                                                      cat "$TMP/d.onnx")

# ---- flags and configurations ---------------------------------------------------------------------
expect_ok "simple --input-dim 784" "$EBM" init --preset simple --input-dim 784 -o "$TMP/s784.onnx"
info_has "input [N,784]" "$TMP/s784.onnx" "^inputs +x \[N,784\]"
info_has "simple 784: parameters" "$TMP/s784.onnx" "^parameters +125313 trainable"
expect_ok "cnn --input-shape 32,32,3" "$EBM" init --preset cnn --input-shape 32,32,3 -o "$TMP/c32.onnx"
info_has "input [N,3,32,32]" "$TMP/c32.onnx" "^inputs +x \[N,3,32,32\]"
expect_ok "--config alone" "$EBM" init --config "$CONF/deep_custom.json" -o "$TMP/custom.onnx"
info_has "config: name" "$TMP/custom.onnx" "^  ebm\.name = small-deep$"
info_has "config: parameters" "$TMP/custom.onnx" "^parameters +12212 trainable"
check "config alone: no ebm.preset" lacks "ebm.preset" "$TMP/info"
expect_ok "--preset mnist --config overrides" "$EBM" init --preset mnist --config "$CONF/override_mnist.json" \
    -o "$TMP/over.onnx"
# the preset's unet at levels 8, 16 (test_presets counts it layer by layer)
info_has "override: parameters" "$TMP/over.onnx" "^parameters +4458 trainable"
info_has "override: preset kept" "$TMP/over.onnx" "^  ebm\.preset = mnist$"
info_has "override: steps" "$TMP/over.onnx" "^  ebm\.sampler\.steps = 40$"
expect_ok "init --help" "$EBM" init --help
check "help lists the presets" grep -qF "cifar   32,32,3" "$TMP/out"
check "help describes the mnist preset's U-Net" grep -qF "mnist   28,28,1: U-Net denoiser" "$TMP/out"
check "help lists every energy_type" grep -qF "energy_type: one of mlp, cnn, deep, unet." "$TMP/out"

# ---- bad flags (usage errors, exit 2) --------------------------------------------------------------
mkdir -p "$TMP/dest"
D="$TMP/dest/m.onnx"
expect_fail "no -o" 2 "missing required flag -o" "$EBM" init --preset mnist
expect_fail "no preset or config" 2 "--preset NAME;--config FILE" "$EBM" init -o "$D"
expect_fail "unknown preset" 2 "--preset: unknown preset 'imagenet';simple, cnn, mnist, cifar" \
    "$EBM" init --preset imagenet -o "$D"
# a parameter ceiling, checked before anything is allocated (issue 18: this tried to allocate 17 GB)
printf '{"input_dim": 2, "hidden_dims": [65536, 65536]}\n' >"$TMP/big.json"
expect_fail "17 GB of parameters" 1 "layer 'fc2';above the ceiling of 100000000;--max-params" \
    "$EBM" init --config "$TMP/big.json" -o "$D"
expect_fail "a lower --max-params" 1 "above the ceiling of 1000" \
    "$EBM" init --preset simple --max-params 1000 -o "$D"
expect_fail "--max-params 0" 2 "--max-params: '0'" "$EBM" init --preset simple --max-params 0 -o "$D"
expect_ok "a higher --max-params" "$EBM" init --preset simple --max-params 200000 -o "$TMP/ceiling.onnx"
expect_fail "negative --input-dim" 2 "--input-dim: '-3'" "$EBM" init --preset simple --input-dim -3 -o "$D"
expect_fail "bad --input-shape" 2 "--input-shape: '28,28';H,W,C" "$EBM" init --preset cnn --input-shape 28,28 -o "$D"
expect_fail "zero in --input-shape" 2 "--input-shape: '0'" "$EBM" init --preset cnn --input-shape 28,0,1 -o "$D"
expect_fail "both input flags" 2 "--input-dim and --input-shape" \
    "$EBM" init --preset cnn --input-dim 3 --input-shape 8,8,1 -o "$D"
expect_fail "negative --seed" 2 "--seed: '-1'" "$EBM" init --preset mnist --seed -1 -o "$D"
expect_fail "unknown flag" 2 "unknown flag '--presets'" "$EBM" init --presets mnist -o "$D"

# ---- bad configurations (input errors, exit 1) ---------------------------------------------------------
expect_fail "config: unknown field" 1 "bad_unknown_field.json: unknown field 'hiden_dims';did you mean 'hidden_dims'" \
    "$EBM" init --config "$CONF/bad_unknown_field.json" -o "$D"
expect_fail "config: wrong type" 1 "bad_wrong_type.json: field 'hidden_dims': expected an array;found the string" \
    "$EBM" init --config "$CONF/bad_wrong_type.json" -o "$D"
expect_fail "config: negative dimension" 1 "field 'input_dim': expected a positive integer;found -3" \
    "$EBM" init --config "$CONF/bad_negative_dim.json" -o "$D"
expect_fail "config: negative hidden" 1 "field 'hidden_dims[1]';found -1" \
    "$EBM" init --preset simple --config "$CONF/bad_negative_hidden.json" -o "$D"
expect_fail "config: unknown activation" 1 "field 'activation';found the string \"sigmoidx\"" \
    "$EBM" init --preset mnist --config "$CONF/bad_activation.json" -o "$D"
expect_fail "config: output_dim 10" 1 "field 'output_dim': expected 1;found 10" \
    "$EBM" init --config "$CONF/bad_output_dim.json" -o "$D"
expect_fail "config: JSON syntax" 1 "bad_syntax.json:2:;not valid JSON" \
    "$EBM" init --config "$CONF/bad_syntax.json" -o "$D"
expect_fail "config: missing file" 1 "nope.json: cannot open" "$EBM" init --config "$TMP/nope.json" -o "$D"
expect_fail "cnn with a tabular input" 1 "energy_type 'cnn' needs input_shape" \
    "$EBM" init --preset cnn --input-dim 5 -o "$D"
check "nothing written by the failures" test -z "$(ls -A "$TMP/dest")"

# a failure leaves an existing model as it was; an unwritable destination is named
cp "$TMP/a.onnx" "$D"
expect_fail "bad config over an existing file" 1 "output_dim" \
    "$EBM" init --config "$CONF/bad_output_dim.json" -o "$D"
check "existing model unchanged" cmp -s "$TMP/a.onnx" "$D"
expect_fail "missing folder" 1 "$TMP/no/dir/m.onnx: cannot create a temporary file" \
    "$EBM" init --preset simple -o "$TMP/no/dir/m.onnx"
check "no temporary files left" test "$(ls -A "$TMP/dest")" = "m.onnx"

# ---- the C builder example ----------------------------------------------------------------------------
expect_ok "examples/custom_energy" "$BIN/custom_energy" "$TMP/custom_energy.onnx" --compile "$TMP/custom_energy.so"
info_has "custom_energy: 784*256+256 + 256*128+128 + 128+1 parameters" "$TMP/custom_energy.onnx" \
    "^parameters +233985 trainable"
info_has "custom_energy: input [N,784]" "$TMP/custom_energy.onnx" "^inputs +x \[N,784\]"
make_npy "$TMP/zeros784.npy" "(4, 784)" 3136 00000000
expect_ok "custom_energy.so eval" "$EBM" eval "$TMP/custom_energy.so" --input "$TMP/zeros784.npy" --print
check "custom_energy: 4 finite energies" finite_lines "$TMP/out" 4

finish
