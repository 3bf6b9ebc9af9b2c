#!/usr/bin/env bash
# docs_operators.sh — docs/operators.md is what tools/gen_operators prints
# from the op tables, so the list of supported operators stays current.
# After changing onnx/onnx_ops.def or ir/ops.def:
#   build/bin/gen_operators > docs/operators.md
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"

if ! "$BIN/gen_operators" | diff -u "$SRC/docs/operators.md" -; then
    echo "FAIL docs/operators.md is stale: regenerate it with $BIN/gen_operators > docs/operators.md" >&2
    exit 1
fi
echo "ok docs/operators.md matches the op tables"
