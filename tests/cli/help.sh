#!/usr/bin/env bash
# help.sh — every way of asking for help exits 0, prints to stdout only, and
# mentions each of the command's flags.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
EBM="$BIN/ebm"
EBMC="$BIN/ebmc"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0

# expect_help NAME 'word1;word2' CMD ARGS...
expect_help() {
    local name=$1 words=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    local code=$? why="" w
    IFS=';' read -r -a list <<<"$words"
    if [ "$code" -ne 0 ]; then
        why="exit status $code"
    elif [ -s "$TMP/err" ]; then
        why="wrote to stderr: $(head -n 1 "$TMP/err")"
    else
        for w in "${list[@]}"; do
            grep -qF -- "$w" "$TMP/out" || why="$why '$w' not mentioned;"
        done
    fi
    if [ -z "$why" ]; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: $why"
        failed=$((failed + 1))
    fi
}

EBMC_FLAGS="usage: ebmc;--emit;ir|dot;--energy-head;-o;--output;--no-fold;--verify;--version;--help"
INFO_FLAGS="usage: ebm info;MODEL;--help"
EVAL_FLAGS="usage: ebm eval;MODEL;--input;--energy;--energy-head;--f64;--help"
TOP="usage: ebm;info;eval;--help;--version;ebm help"

expect_help "ebmc --help" "$EBMC_FLAGS" "$EBMC" --help
expect_help "ebmc -h" "$EBMC_FLAGS" "$EBMC" -h
expect_help "ebmc MODEL --help" "$EBMC_FLAGS" "$EBMC" model.onnx --help
expect_help "ebmc --version" "ebmc " "$EBMC" --version
expect_help "ebm --help" "$TOP" "$EBM" --help
expect_help "ebm -h" "$TOP" "$EBM" -h
expect_help "ebm help" "$TOP" "$EBM" help
expect_help "ebm --version" "ebm " "$EBM" --version
expect_help "ebm help info" "$INFO_FLAGS" "$EBM" help info
expect_help "ebm info --help" "$INFO_FLAGS" "$EBM" info --help
expect_help "ebm info -h" "$INFO_FLAGS" "$EBM" info -h
expect_help "ebm help eval" "$EVAL_FLAGS" "$EBM" help eval
expect_help "ebm eval --help" "$EVAL_FLAGS" "$EBM" eval --help
expect_help "ebm eval MODEL --input x --help" "$EVAL_FLAGS" "$EBM" eval m.onnx --input x.npy --help

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
