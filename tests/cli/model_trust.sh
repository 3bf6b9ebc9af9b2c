#!/usr/bin/env bash
# model_trust.sh — issue 18's reproducers for compiled models and the model
# cache, end to end through ebmc and ebm.  Before the fixes each of these
# crashed (SIGSEGV, SIGBUS inside dlopen or after it), ran a foreign
# constructor, or used a damaged / planted / stale file silently; each must
# now end in exactly one line on stderr naming the file and the failed check
# (exit 1), and no constructor of a refused file may run.  Needs readelf
# (binutils, there with any C compiler) to find the bytes to flip.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
EBMC="$BIN/ebmc"
FAKE="$BIN/../testdata/runtime"
DATA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/data"
TMP="$(mktemp -d)"
trap 'chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="$TMP/cache"
unset EBM_CPU_DISABLE
GOOD="$DATA/good.onnx"
X="$DATA/x.npy"
MARKER="$TMP/constructor-ran"
export EBM_FAKE_CONSTRUCTOR_MARKER="$MARKER"

# flip FILE OFFSET: xor the byte at OFFSET (decimal) with 0x10
flip() {
    local b
    b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
    printf "\\x$(printf %02x $((b ^ 16)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# section_offset FILE NAME: the file offset of a section (decimal)
section_offset() { echo $((16#$(readelf -SW "$1" | sed 's/^ *\[ *[0-9]*\] //' | awk -v n="$2" '$1 == n { print $4 }'))); }
# symbol_offset FILE NAME: the file offset of a symbol of .rodata (decimal)
symbol_offset() {
    local va addr off
    va=$(readelf -sW "$1" | awk -v n="$2" '$8 == n { print $2; exit }')
    addr=$(readelf -SW "$1" | sed 's/^ *\[ *[0-9]*\] //' | awk '$1 == ".rodata" { print $3 }')
    off=$(section_offset "$1" .rodata)
    echo $((16#$va - 16#$addr + off))
}
no_marker() { [ ! -e "$MARKER" ]; }

# ---- a model to damage -------------------------------------------------------------------------
expect_ok "compile good.onnx" "$EBMC" "$GOOD" -o "$TMP/m.so"
expect_ok "info" "$EBM" info "$TMP/m.so"
check "info: the target and its CPU features" grep -qE '^target +native \(CPU features: ' "$TMP/out"
check "info: the digests" grep -qE '^digests +code [0-9a-f]{16}, weights [0-9a-f]{16}' "$TMP/out"
expect_ok "eval" "$EBM" eval "$TMP/m.so" --input "$X" --print
cp "$TMP/out" "$TMP/energies.txt"

cp "$TMP/m.so" "$TMP/rela.so"
flip "$TMP/rela.so" $(($(section_offset "$TMP/rela.so" .rela.dyn) + 17))   # an addend: it used to crash `ebm info`
expect_fail "one byte of .rela.dyn" 1 "rela.so;integrity check failed: the code does not match its digest" \
    "$EBM" info "$TMP/rela.so"
cp "$TMP/m.so" "$TMP/text.so"
flip "$TMP/text.so" $(($(section_offset "$TMP/text.so" .text) + 40))
expect_fail "one byte of code" 1 "text.so;the code does not match its digest" \
    "$EBM" eval "$TMP/text.so" --input "$X" --print
cp "$TMP/m.so" "$TMP/weights.so"
flip "$TMP/weights.so" $(($(symbol_offset "$TMP/weights.so" ebm_blob) + 7))   # used to give other energies, exit 0
expect_fail "one byte of the weights" 1 "weights.so;integrity check failed: the weights do not match their digest" \
    "$EBM" eval "$TMP/weights.so" --input "$X" --print
cp "$TMP/m.so" "$TMP/arm.so"
printf '\xb7\x00' | dd of="$TMP/arm.so" bs=1 seek=18 conv=notrunc status=none   # e_machine = EM_AARCH64
expect_fail "an aarch64 ELF" 1 "arm.so;built for aarch64 (e_machine 183), not x86-64" "$EBM" info "$TMP/arm.so"
head -c 3000 "$TMP/m.so" >"$TMP/cut.so"
expect_fail "a truncated model" 1 "cut.so;truncated or corrupt" "$EBM" info "$TMP/cut.so"

# ---- corrupt descriptors (hand-written fakes, sealed: past the digests) ---------------------------
expect_fail "n_params past its table (was SIGSEGV)" 1 "defect_n_params.so;the parameter table (100000 entries" \
    "$EBM" info "$FAKE/defect_n_params.so"
expect_fail "weights_numel past the blob (was SIGBUS)" 1 \
    "defect_weights_numel.so;weights_numel = 16777236, but the weights blob holds 20 floats" \
    "$EBM" eval "$FAKE/defect_weights_numel.so" --input "$X" --print
expect_fail "an entry point in data (was SIGSEGV in run.c)" 1 "defect_entry_in_data.so;outside the model's code" \
    "$EBM" sample "$FAKE/defect_entry_in_data.so" -n 2 -o "$TMP/s.npy"
expect_fail "a string outside the object (was SIGSEGV in info)" 1 \
    "defect_string_outside.so;energy_head points outside the model's read-only data" \
    "$EBM" info "$FAKE/defect_string_outside.so"

# ---- foreign code never runs --------------------------------------------------------------------
cat >"$TMP/evil.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
__attribute__((visibility("default"))) const int ebm_abi_model_v3[64] = {0x434d4245, 3};
__attribute__((constructor)) static void evil(void)
{
    const char *m = getenv("EBM_FAKE_CONSTRUCTOR_MARKER");
    FILE *f = m ? fopen(m, "w") : NULL;
    if (f)
        fclose(f);
}
EOF
cc -shared -fPIC -o "$TMP/evil.so" "$TMP/evil.c"
for cmd in info eval sample; do
    case $cmd in
    info) args=() ;;
    eval) args=(--input "$X" --print) ;;
    sample) args=(-n 2 -o "$TMP/s.npy") ;;
    esac
    expect_fail "ebm $cmd on a .so with a constructor" 1 "evil.so;it runs code when loaded (DT_INIT" \
        "$EBM" "$cmd" "$TMP/evil.so" "${args[@]}"
    check "... which never ran" no_marker
done
expect_fail "the fake with a constructor" 1 "constructor.so;DT_INIT_ARRAY" "$EBM" info "$FAKE/constructor.so"
check "... which never ran" no_marker

# ---- owner and permissions ------------------------------------------------------------------------
cp "$TMP/m.so" "$TMP/open.so"
chmod 0666 "$TMP/open.so"
expect_fail "a model anyone may write" 1 "open.so;writable by anyone (mode 0666);--trust-file" \
    "$EBM" eval "$TMP/open.so" --input "$X" --print
expect_ok "... --trust-file" "$EBM" eval "$TMP/open.so" --input "$X" --print --trust-file
check "... same energies" cmp -s "$TMP/out" "$TMP/energies.txt"
expect_ok "... info --trust-file" "$EBM" info "$TMP/open.so" --trust-file
expect_ok "... sample --trust-file" "$EBM" sample "$TMP/open.so" -n 2 --steps 2 -o "$TMP/s.npy" --trust-file
if [ "$(id -u)" -eq 0 ]; then
    cp "$TMP/evil.so" "$TMP/planted.so"
    chown nobody "$TMP/planted.so" && chmod 0777 "$TMP/planted.so"
    expect_fail "a planted .so (owner nobody, 0777), as root" 1 "planted.so;owned by uid" "$EBM" info "$TMP/planted.so"
    check "... whose constructor never ran" no_marker
    expect_fail "... --trust-file still refuses its constructor" 1 "planted.so;runs code when loaded" \
        "$EBM" info "$TMP/planted.so" --trust-file
    check "... which never ran" no_marker
else
    echo "SKIP planted files of another owner: needs root to chown"
fi

# ---- the target ISA ---------------------------------------------------------------------------------
expect_ok "compile --target generic" "$EBMC" "$GOOD" -o "$TMP/generic.so" --target generic
check "generic needs nothing beyond x86-64" grep -qE '^target +generic \(CPU features: x86-64 baseline\)' \
    <("$EBM" info "$TMP/generic.so")
expect_ok "generic loads on a CPU without any extension" env EBM_CPU_DISABLE=all "$EBM" eval "$TMP/generic.so" \
    --input "$X" --print
expect_ok "compile --target x86-64-v3" "$EBMC" "$GOOD" -o "$TMP/v3.so" --target x86-64-v3
expect_fail "x86-64-v3 on a CPU without AVX2 (was SIGILL)" 1 \
    "v3.so;compiled for x86-64-v3, which needs CPU features this CPU lacks (avx2 fma);--target" \
    env EBM_CPU_DISABLE=avx2,fma "$EBM" eval "$TMP/v3.so" --input "$X" --print
if grep -qw avx512f /proc/cpuinfo; then
    expect_ok "compile --target x86-64-v4" "$EBMC" "$GOOD" -o "$TMP/v4.so" --target x86-64-v4
    expect_ok "x86-64-v4 here" "$EBM" eval "$TMP/v4.so" --input "$X" --print
    expect_fail "x86-64-v4 on a CPU without AVX-512" 1 "v4.so;lacks (avx512f" \
        env EBM_CPU_DISABLE=avx512f "$EBM" info "$TMP/v4.so"
else
    echo "SKIP --target x86-64-v4: this CPU has no AVX-512"
fi
expect_fail "native on a CPU without its features" 1 "m.so;compiled for native, which needs CPU features" \
    env EBM_CPU_DISABLE=all "$EBM" info "$TMP/m.so"

# ---- the cache: private, checked, keyed by the whole build ------------------------------------------
CACHE="$XDG_CACHE_HOME/ebmc"
mkdir -p "$CACHE" && chmod 0755 "$CACHE"
expect_ok "eval ONNX (compiles into the cache)" "$EBM" eval "$GOOD" --input "$X" --print
check "... the same energies as ebmc's" cmp -s "$TMP/out" "$TMP/energies.txt"
check "the cache folder is made private (0700)" test "$(stat -c %a "$CACHE")" = 700
rm -rf "$XDG_CACHE_HOME"
expect_ok "a new cache" "$EBM" eval "$GOOD" --input "$X" --print
check "... created 0700" test "$(stat -c %a "$CACHE")" = 700
entry=$(find "$CACHE" -name '*.so')
flip "$entry" $(($(symbol_offset "$entry" ebm_blob) + 3))
expect_ok "a bit flip in a cached model's weights" "$EBM" eval "$GOOD" --input "$X" --print
cp "$TMP/err" "$TMP/warn"   # check() empties $TMP/err
check "... is refused with a warning" grep -qF "warning: the cached model was refused and is rebuilt" "$TMP/warn"
check "... names the weights" grep -qF "the weights do not match their digest" "$TMP/warn"
check "... and rebuilt: same energies" cmp -s "$TMP/out" "$TMP/energies.txt"
cp "$TMP/evil.so" "$entry"
chmod 0777 "$entry"
[ "$(id -u)" -eq 0 ] && chown nobody "$entry"
expect_ok "a planted cache entry" "$EBM" eval "$GOOD" --input "$X" --print
cp "$TMP/err" "$TMP/warn"
check "... is refused" grep -qF "warning: the cached model was refused" "$TMP/warn"
check "... its constructor never ran" no_marker
check "... rebuilt: same energies" cmp -s "$TMP/out" "$TMP/energies.txt"
check "... replaced by the user's own file" test "$(stat -c %u "$entry")" = "$(id -u)"
if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$CACHE"
    expect_ok "a cache folder of another user" env TMPDIR="$TMP" "$EBM" eval "$GOOD" --input "$X" --print
    cp "$TMP/err" "$TMP/warn"
    check "... is not used" grep -qF "belongs to uid" "$TMP/warn"
    check "... compiled without caching it" grep -qF "without caching it" "$TMP/warn"
    chown root "$CACHE"
fi

# Another C compiler is another entry: a wrapper that passes everything to cc
# but says another version (same path, other version: another entry too).
n_entries() { find "$CACHE" -name '*.so' | wc -l; }
printf '#!/bin/sh\n[ "$1" = --version ] && { echo "wrapped cc 1"; exit 0; }\nexec cc "$@"\n' >"$TMP/wcc"
chmod +x "$TMP/wcc"
before=$(n_entries)
expect_ok "eval with another C compiler" env CC="$TMP/wcc" "$EBM" eval "$GOOD" --input "$X" --print
check "... is another cache entry" test "$(n_entries)" -eq $((before + 1))
sed -i 's/wrapped cc 1/wrapped cc 2/' "$TMP/wcc"
expect_ok "the same compiler path, another version" env CC="$TMP/wcc" "$EBM" eval "$GOOD" --input "$X" --print
check "... is another cache entry" test "$(n_entries)" -eq $((before + 2))
expect_ok "the same again" env CC="$TMP/wcc" "$EBM" eval "$GOOD" --input "$X" --print
check "... hits" test "$(n_entries)" -eq $((before + 2))
check "every entry is the user's, 0755 or stricter, nothing else in the folder" \
    test -z "$(find "$CACHE" -mindepth 1 \( ! -name '*.so' -o ! -user "$(id -u)" -o -perm /022 \))"

finish
