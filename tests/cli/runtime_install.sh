#!/usr/bin/env bash
# runtime_install.sh — libebm as a C user gets it: `cmake --install` into a
# temporary prefix, then a small C program built with
# `cc prog.c $(pkg-config --cflags --libs ebm)` opens the fake compiled model
# (tests/data/runtime/quadratic_model.c: E(x) = 1/2 ||x||^2) and prints the
# energy of x = (1, 2, 3, 4), which must be 15.  The prefix is then moved, and
# the program built again: the .pc file finds its prefix from its own place.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
BUILD="$BIN/.."
QUAD="$BIN/../testdata/runtime/quadratic.so"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"

for tool in cmake pkg-config cc; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed"
        exit 77   # CTest's SKIP_RETURN_CODE
    fi
done

PREFIX="$TMP/prefix"
expect_ok "cmake --install" cmake --install "$BUILD" --prefix "$PREFIX"
for f in lib/libebm.so lib/libebm.a lib/pkgconfig/ebm.pc bin/ebm bin/ebmc \
         include/ebm/ebm.h include/ebm/ebm_abi.h include/ebm/ebm_status.h include/ebm/ebm_philox.h \
         include/ebm/npy.h; do
    check "installed $f" test -e "$PREFIX/$f"
done
check "no private header installed" test ! -e "$PREFIX/include/ebm/model_internal.h"

cat >"$TMP/prog.c" <<'EOF'
#include <stdio.h>
#include <ebm.h>

int main(int argc, char **argv)
{
    ebm_error err;
    ebm_model *m;
    ebm_ctx *ctx;
    float x[4] = {1, 2, 3, 4}, energy;
    if (argc != 2 || ebm_model_open(argv[1], &m, &err) || ebm_ctx_new(m, 1, &ctx, &err) ||
        ebm_energy(ctx, x, 1, &energy, &err)) {
        fprintf(stderr, "%s\n", argc == 2 ? err.msg : "usage: prog MODEL");
        return 1;
    }
    printf("%.9g\n", energy);
    ebm_ctx_free(ctx);
    ebm_model_close(m);
    return 0;
}
EOF

# A sanitizer build of libebm needs its runtime in the program too.
extra=()
if readelf -d "$PREFIX/lib/libebm.so" 2>/dev/null | grep -q 'libasan'; then
    extra=("-fsanitize=address,undefined")
fi

# build_and_run NAME PREFIX: compile prog.c against PREFIX with pkg-config, run it
build_and_run() {
    local name=$1 prefix=$2 flags
    read -r -a flags <<<"$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs ebm)"
    expect_ok "$name: cc \$(pkg-config --cflags --libs ebm)" \
        cc -std=c11 -Wall -Wextra -Werror "${extra[@]}" "$TMP/prog.c" "${flags[@]}" -o "$TMP/prog"
    expect_ok "$name: run" env LD_LIBRARY_PATH="$prefix/lib" "$TMP/prog" "$QUAD"
    check "$name: E(1,2,3,4) = 15" test "$(cat "$TMP/out")" = 15
}

build_and_run "installed" "$PREFIX"
check "pkg-config --modversion" test -n "$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --modversion ebm)"
mv "$PREFIX" "$TMP/moved"
build_and_run "moved prefix" "$TMP/moved"
expect_ok "installed ebm runs" "$TMP/moved/bin/ebm" info "$QUAD"

finish
