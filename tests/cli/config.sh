#!/usr/bin/env bash
# config.sh — the seed's configuration form and writing a configuration back:
# `ebm init --config` with model_class / input_dim [H, W, C] / parameters.*,
# `ebm init --emit-config FILE`, `ebm info --config MODEL`.  Values asserted:
# parameter counts counted by hand from the architecture (the same count as
# tests/unit/test_presets.c's test_config_every_field: 16x16x3 deep energy,
# blocks 3->8 and 8->16 with 5x5 kernels, no bias, 1x1 projections, head
# 16 -> 8 -> 4 -> 1 = 12212; the residual MLP 10 -> 32 -> 32 -> 1 = 1441);
# energies of the round trip config -> init -> info --config -> init equal
# to the first model's, and to those of the flat file that says the same,
# with the same --seed; a model without ebm.config (the PyTorch fixtures)
# says so in one line.  Energies come from the reference executor (--reference):
# equal weights give equal bits there, without a C compile per model.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
EBMC="$BIN/ebmc"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONF="$SRC/tests/data/configs"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="$TMP/cache"

params() { grep -o '[0-9]* parameters' "$1" | cut -d' ' -f1; }
same_nonempty() { [ -s "$1" ] && cmp -s "$1" "$2"; }

DEEP=$(( (8*3*25 + 2*8 + 8*8*25 + 2*8 + 8*3) + (16*8*25 + 2*16 + 16*16*25 + 2*16 + 16*8) + 16*8 + 8*4 + 4 ))
MLP=$(( 10*32 + 32 + 32*32 + 32 + 32 + 1 ))

# ---- the seed's form ------------------------------------------------------------------------------
expect_ok "init: seed form (DeepEBM, input_dim [16,16,3])" "$EBM" init --config "$CONF/seed_deep.json" --seed 7 \
    -o "$TMP/a.onnx" --emit-config "$TMP/a.json"
cp "$TMP/out" "$TMP/a.out"
check "seed form: $DEEP parameters" test "$(params "$TMP/a.out")" = "$DEEP"
expect_ok "init: the flat file saying the same" "$EBM" init --config "$CONF/deep_custom.json" --seed 7 -o "$TMP/f.onnx"
expect_ok "sample: inputs [5,3,16,16]" "$EBM" sample "$TMP/f.onnx" -n 5 --steps 0 --seed 1 -o "$TMP/x.npy"
"$EBM" eval "$TMP/f.onnx" --input "$TMP/x.npy" --reference --print >"$TMP/ef.txt" 2>/dev/null
"$EBM" eval "$TMP/a.onnx" --input "$TMP/x.npy" --reference --print >"$TMP/ea.txt" 2>/dev/null
check "seed form: energies = the flat form's (seed 7)" same_nonempty "$TMP/ea.txt" "$TMP/ef.txt"
expect_ok "init: seed form (EBM, input_dim [10], settings under parameters)" "$EBM" init \
    --config "$CONF/seed_mlp.json" -o "$TMP/m.onnx"
check "seed mlp: $MLP parameters" test "$(params "$TMP/out")" = "$MLP"

# ---- round trip: config -> init -> info --config -> init --------------------------------------------
expect_ok "info --config" "$EBM" info --config "$TMP/a.onnx"
cp "$TMP/out" "$TMP/b.json"
check "info --config = --emit-config" same_nonempty "$TMP/b.json" "$TMP/a.json"
check "written in the seed's form" grep -q '"model_class": "DeepEBM"' "$TMP/b.json"
expect_ok "init from the printed configuration" "$EBM" init --config "$TMP/b.json" --seed 7 -o "$TMP/b.onnx"
check "round trip: same parameter count" test "$(params "$TMP/out")" = "$DEEP"
"$EBM" eval "$TMP/b.onnx" --input "$TMP/x.npy" --reference --print >"$TMP/eb.txt" 2>/dev/null
check "round trip: same energies (seed 7)" same_nonempty "$TMP/eb.txt" "$TMP/ea.txt"
expect_ok "init from it with another seed" "$EBM" init --config "$TMP/b.json" --seed 8 -o "$TMP/c.onnx"
"$EBM" eval "$TMP/c.onnx" --input "$TMP/x.npy" --reference --print >"$TMP/ec.txt" 2>/dev/null
check "another seed: other energies" bash -c "[ -s '$TMP/ec.txt' ] && ! cmp -s '$TMP/ec.txt' '$TMP/ea.txt'"
for p in simple cnn mnist; do
    expect_ok "$p: init --emit-config" "$EBM" init --preset "$p" --seed 2 -o "$TMP/$p.onnx" --emit-config "$TMP/$p.json"
    n1=$(params "$TMP/out")
    expect_ok "$p: init from its configuration" "$EBM" init --config "$TMP/$p.json" --seed 2 -o "$TMP/$p.2.onnx"
    check "$p: same parameter count ($n1)" test "$(params "$TMP/out")" = "$n1"
done
XM="$SRC/tests/data/fid/a.npy"   # 96 images [1, 28, 28] in [-1, 1]
"$EBM" eval "$TMP/mnist.onnx" --input "$XM" --reference --print >"$TMP/e1.txt" 2>/dev/null
"$EBM" eval "$TMP/mnist.2.onnx" --input "$XM" --reference --print >"$TMP/e2.txt" 2>/dev/null
check "mnist: same energies from its configuration" same_nonempty "$TMP/e1.txt" "$TMP/e2.txt"
expect_ok "compile the round-tripped model" "$EBMC" "$TMP/b.onnx" -o "$TMP/b.so"
expect_ok "info --config on a compiled model" "$EBM" info --config "$TMP/b.so"
check "compiled: the same configuration" same_nonempty "$TMP/out" "$TMP/b.json"

# ---- what a model does not record ----------------------------------------------------------------
expect_fail "info --config: a PyTorch export" 1 "mlp_silu/model.onnx: no ebm.config metadata;cannot be rebuilt" \
    "$EBM" info --config "$SRC/tests/fixtures/mlp_silu/model.onnx"

# ---- bad configurations: one line naming the file and the field ---------------------------------
expect_fail "unknown model_class" 1 "bad_seed_class.json;'model_class';\"VAE\"" \
    "$EBM" init --config "$CONF/bad_seed_class.json" -o "$TMP/z.onnx"
expect_fail "both forms mixed" 1 "bad_seed_mixed.json;'energy_type';parameters.energy_type;mixes" \
    "$EBM" init --config "$CONF/bad_seed_mixed.json" -o "$TMP/z.onnx"
expect_fail "nested setting without model_class" 1 "bad_seed_flat_nested.json;'parameters.energy_type';model_class" \
    "$EBM" init --config "$CONF/bad_seed_flat_nested.json" -o "$TMP/z.onnx"
expect_fail "a field at both levels" 1 "bad_seed_twice.json;'hidden_dims' and 'parameters.hidden_dims'" \
    "$EBM" init --config "$CONF/bad_seed_twice.json" -o "$TMP/z.onnx"
printf '{"energy_type": "transformer", "input_shape": [2]}\n' >"$TMP/bad_kind.json"
expect_fail "unknown energy_type: every kind named" 1 \
    "bad_kind.json;'energy_type';one of \"mlp\", \"cnn\", \"deep\", \"unet\";\"transformer\"" \
    "$EBM" init --config "$TMP/bad_kind.json" -o "$TMP/z.onnx"
check "no model written" test ! -e "$TMP/z.onnx"
expect_fail "--emit-config into a missing folder" 1 "--emit-config;$TMP/no/such.json" \
    "$EBM" init --config "$CONF/seed_mlp.json" -o "$TMP/y.onnx" --emit-config "$TMP/no/such.json"

finish
