#!/usr/bin/env bash
# sdk_install.sh — the C SDK as a user gets it: `cmake --install` into a
# temporary prefix, then, with nothing but `pkg-config --cflags --libs` and
# PKG_CONFIG_PATH pointing at the prefix, and no LD_LIBRARY_PATH:
#   - the installed files are exactly the SDK's list, and every header
#     compiles alone (twice included) with -std=c11 -Wall -Wextra -Werror;
#   - a small program with #include <ebm/ebm.h> and <ebm/sampler.h> gives the
#     energy 15 of x = (1, 2, 3, 4) on the fake compiled model
#     tests/data/runtime/quadratic_model.c (E = 1/2 |x|^2);
#   - examples/from_c.c (the README's "From C" block, checked to be that
#     file) prints the energies of tests/fixtures/tabular2d compiled by the
#     installed ebmc, equal to torch's float64 energies; it samples and trains
#     with the same output for 1 and 2 threads;
#   - examples/custom_energy.c (pkg-config ebmc) builds its network with the
#     builder and compiles it; from_c's energies of that .so match the
#     reference executor's float64 energies of its ONNX (`ebm eval --f64`);
#   - a compiled model needs no library but the ones the README names;
#   - the prefix moved elsewhere still compiles and links.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
BUILD="$BIN/.."
QUAD="$BIN/../testdata/runtime/quadratic.so"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"

for tool in cmake pkg-config cc readelf od; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed"
        exit 77   # CTest's SKIP_RETURN_CODE
    fi
done
unset LD_LIBRARY_PATH

PREFIX="$TMP/prefix"
expect_ok "cmake --install" cmake --install "$BUILD" --prefix "$PREFIX"

# ---- what is installed ----------------------------------------------------------
headers="buffer.h codegen.h data.h ebm.h ebm_abi.h ebm_philox.h ebm_png.h ebm_status.h fid.h ir.h nn.h
         npy.h onnx.h passes.h pipeline.h sampler.h toy.h train.h"
want="bin/ebm bin/ebmc include/ebm/ops.def lib/libebm.a lib/libebm.so lib/libebm.so.0 lib/libebm.so.0.1.0
      lib/libebmc.so lib/libebmc.so.0 lib/libebmc.so.0.1.0 lib/pkgconfig/ebm.pc lib/pkgconfig/ebmc.pc"
for h in $headers; do want="$want include/ebm/$h"; done
printf '%s\n' $want | sort >"$TMP/want"
(cd "$PREFIX" && find . ! -type d | sed 's|^\./||' | sort) >"$TMP/have"
check "installed files are the SDK's list" diff "$TMP/want" "$TMP/have"
diff "$TMP/want" "$TMP/have" | sed 's/^/    /'

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
read -r -a cflags <<<"$(pkg-config --cflags ebm)"
check "pkg-config --cflags ebm is -I\$prefix/include" test "${cflags[0]}" = "-I$PREFIX/lib/pkgconfig/../../include"
check "pkg-config --libs ebm has the rpath" grep -qF -- "-Wl,-rpath,$PREFIX/lib" <<<"$(pkg-config --libs ebm)"
check "installed ebm has RUNPATH \$ORIGIN/../lib" grep -qF 'runpath: [$ORIGIN/../lib]' \
    <<<"$(readelf -d "$PREFIX/bin/ebm")"

# A sanitizer build of libebm needs its runtime in the programs too.
extra=()
if readelf -d "$PREFIX/lib/libebm.so" 2>/dev/null | grep -q 'libasan'; then
    extra=("-fsanitize=address,undefined")
fi
CC=(cc -std=c11 -Wall -Wextra -Werror "${extra[@]}")

for h in $headers; do
    printf '#include <ebm/%s>\n#include <ebm/%s>\n' "$h" "$h" >"$TMP/h.c"
    expect_ok "ebm/$h compiles alone" "${CC[@]}" "${cflags[@]}" -c "$TMP/h.c" -o "$TMP/h.o"
    [ -s "$TMP/err" ] && sed 's/^/    /' "$TMP/err"
done

# ---- a small program: <ebm/ebm.h> and <ebm/sampler.h> ---------------------------------
cat >"$TMP/prog.c" <<'PROG'
#include <stdio.h>
#include <ebm/ebm.h>
#include <ebm/sampler.h>

int main(int argc, char **argv)
{
    ebm_error err;
    ebm_model *m;
    ebm_ctx *ctx;
    float x[4] = {1, 2, 3, 4}, energy;
    ebm_sampler_params p = ebm_sampler_defaults();
    if (argc != 2 || ebm_model_open(argv[1], &m, &err) || ebm_ctx_new(m, 1, &ctx, &err) ||
        ebm_energy(ctx, x, 1, &energy, &err)) {
        fprintf(stderr, "%s\n", argc == 2 ? err.msg : "usage: prog MODEL");
        return 1;
    }
    printf("%.9g %s\n", energy, ebm_sampler_name(p.kind));
    ebm_ctx_free(ctx);
    ebm_model_close(m);
    return 0;
}
PROG

# build_and_run NAME: compile prog.c with pkg-config (PKG_CONFIG_PATH as set), run it
build_and_run() {
    local name=$1 flags
    read -r -a flags <<<"$(pkg-config --cflags --libs ebm)"
    expect_ok "$name: cc prog.c \$(pkg-config --cflags --libs ebm)" \
        "${CC[@]}" "$TMP/prog.c" "${flags[@]}" -o "$TMP/prog"
    expect_ok "$name: run without LD_LIBRARY_PATH" "$TMP/prog" "$QUAD"
    check "$name: E(1,2,3,4) = 15" test "$(cat "$TMP/out")" = "15 langevin"
}
build_and_run "installed"

# ---- float values of an .npy (version 1 header) --------------------------------------
# npy_values FILE f4|f8: one value per line
npy_values() {
    local hlen
    hlen=$(od -An -t u2 -j 8 -N 2 "$1" | tr -d ' ')
    od -An -v -t "$2" -j $((10 + hlen)) "$1" | tr -s ' \n' '\n\n' | sed '/^$/d'
}
# all_close A B TOL: the files hold as many numbers, each |a - b| <= TOL * max(1, |b|)
all_close() {
    [ -s "$1" ] && [ "$(wc -l <"$1")" -eq "$(wc -l <"$2")" ] &&
        paste "$1" "$2" | awk -v t="$3" '{ d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2;
            if (s < 1) s = 1; if (d > t * s) bad = 1 } END { exit bad }'
}

# ---- examples/from_c.c: the README's block, on a PyTorch fixture ---------------------------
awk '/^```c$/ { on = 1; next } on && /^```$/ { exit } on' "$SRC/README.md" >"$TMP/readme_c.c"
check "README's C block is examples/from_c.c" cmp -s "$TMP/readme_c.c" "$SRC/examples/from_c.c"
read -r -a libs <<<"$(pkg-config --cflags --libs ebm)"
expect_ok "from_c.c: cc \$(pkg-config --cflags --libs ebm)" \
    "${CC[@]}" "$SRC/examples/from_c.c" "${libs[@]}" -o "$TMP/from_c"
FIX="$SRC/tests/fixtures/tabular2d"
expect_ok "installed ebmc compiles tabular2d" "$PREFIX/bin/ebmc" "$FIX/model.onnx" -o "$TMP/tab.so"
expect_ok "from_c tabular2d (2 threads)" env EBM_NUM_THREADS=2 "$TMP/from_c" "$TMP/tab.so" "$FIX/input.npy"
cp "$TMP/out" "$TMP/from_c.2"
sed 's/^/    /' "$TMP/out"
sed -n 's/^energy [0-9]* //p' "$TMP/from_c.2" >"$TMP/e_c"
npy_values "$FIX/energy_f64.npy" f8 >"$TMP/e_torch"
check "from_c energies = torch float64 (5 samples, 1e-5)" all_close "$TMP/e_c" "$TMP/e_torch" 1e-5
acc=$(sed -n 's/^mala: .*acceptance \([0-9.]*\),.*/\1/p' "$TMP/from_c.2")
check "from_c: MALA acceptance in (0, 1]" awk -v a="$acc" 'BEGIN { exit !(a != "" && a > 0 && a <= 1) }'
check "from_c: 100 training steps, finite loss" grep -qE '^train: 100 steps, loss -?[0-9]+\.[0-9]+$' "$TMP/from_c.2"
expect_ok "from_c tabular2d (1 thread)" env EBM_NUM_THREADS=1 "$TMP/from_c" "$TMP/tab.so" "$FIX/input.npy"
check "from_c: the same output for 1 and 2 threads" cmp -s "$TMP/out" "$TMP/from_c.2"

# ---- examples/custom_energy.c: the builder and compiler (pkg-config ebmc) --------------------
read -r -a libs <<<"$(pkg-config --cflags --libs ebmc)"
expect_ok "custom_energy.c: cc \$(pkg-config --cflags --libs ebmc)" \
    "${CC[@]}" "$SRC/examples/custom_energy.c" "${libs[@]}" -o "$TMP/custom_energy"
expect_ok "custom_energy builds, exports and compiles" \
    "$TMP/custom_energy" "$TMP/custom.onnx" --compile "$TMP/custom.so"
# 784*256 + 256 + 256*128 + 128 + 128*1 + 1
check "custom_energy: 233985 parameters" grep -qF "wrote $TMP/custom.onnx: 233985 parameters" "$TMP/out"
check "custom_energy: compiled" grep -qF "compiled $TMP/custom.so" "$TMP/out"
make_npy "$TMP/x784.npy" "(3, 784)" $((3 * 784)) 3f000000   # every pixel 0.5
expect_ok "from_c on custom.so" "$TMP/from_c" "$TMP/custom.so" "$TMP/x784.npy"
sed -n 's/^energy [0-9]* //p' "$TMP/out" >"$TMP/e_c"
expect_ok "ebm eval --f64 custom.onnx (reference executor)" \
    "$PREFIX/bin/ebm" eval "$TMP/custom.onnx" --f64 --input "$TMP/x784.npy" --energy "$TMP/e_ref.npy"
npy_values "$TMP/e_ref.npy" f8 >"$TMP/e_ref"   # --f64 writes float64
check "custom.so energies = the reference executor's (3 samples, 1e-5)" all_close "$TMP/e_c" "$TMP/e_ref" 1e-5

# ---- what a compiled model needs at run time (the README's list) ---------------------
readelf -d "$TMP/tab.so" "$TMP/custom.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u >"$TMP/needed"
echo "    a compiled model's NEEDED: $(tr '\n' ' ' <"$TMP/needed")"
check "model.so needs only libc, libm and libopenblas" \
    test -z "$(grep -vE '^(libc\.so\.6|libm\.so\.6|libopenblas\.so\.0)$' "$TMP/needed")"

# ---- a moved prefix still compiles and links (the rpath names the old place) -----------
mv "$PREFIX" "$TMP/moved"
export PKG_CONFIG_PATH="$TMP/moved/lib/pkgconfig"
read -r -a flags <<<"$(pkg-config --cflags --libs ebm)"
expect_ok "moved prefix: cc" "${CC[@]}" "$TMP/prog.c" "${flags[@]}" -o "$TMP/prog"
expect_ok "moved prefix: run with LD_LIBRARY_PATH" env LD_LIBRARY_PATH="$TMP/moved/lib" "$TMP/prog" "$QUAD"
check "moved prefix: E(1,2,3,4) = 15" test "$(cat "$TMP/out")" = "15 langevin"
expect_ok "moved prefix: installed ebm runs" "$TMP/moved/bin/ebm" info "$QUAD"

finish
