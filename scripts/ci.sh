#!/bin/bash
# shellcheck disable=SC2317  # functions called through run_stage look unreachable
# ci.sh — the whole test pipeline, as CI runs it (and as anyone can, locally):
#   1. install missing Debian packages (scripts/install-deps.sh)
#   2. build/       RelWithDebInfo with the LLVM JIT (-DEBMC_JIT=ON), then ctest
#   3. build-asan/  -DEBMC_SANITIZE=ON (ASan + UBSan, leaks checked) without the JIT
#                   (-DEBMC_JIT=OFF: the build and tests without LLVM; test_jit and
#                   cli_jit skip, saying why), then ctest
#   4. fuzz the ONNX importer, checkpoint loading and compiled-model loading
#      for $FUZZ_SECONDS each (default 30 here: the whole pipeline must stay
#      under 30 minutes; run_fuzz.sh alone defaults to 60) with libFuzzer
# Every stage runs even if an earlier test stage failed (a build failure stops
# that stage's tests); the exit status is non-zero if any stage failed.
# Nothing here needs the network once the packages are installed, nor PyTorch.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
# The conformance runner treats missing ONNX test data as a failure under CI.
export CI=${CI:-true}
export EBMC_SHARED_DIR=${EBMC_SHARED_DIR:-$root/../shared}

names=()
secs=()
results=()
failed=0

# run_stage NAME COMMAND...: runs one stage, records its time and result.
run_stage() {
    local name=$1
    shift
    echo
    echo "==================== stage: $name ===================="
    local start=$SECONDS status=0
    "$@" || status=$?
    local took=$((SECONDS - start))
    names+=("$name")
    secs+=("$took")
    if [ "$status" -eq 0 ]; then
        results+=("ok")
    else
        results+=("FAILED (status $status)")
        failed=1
    fi
    echo "==================== $name: ${results[-1]}, ${took}s ===================="
}

# build_and_test DIR CMAKE_ARGS...: configure, build, ctest.
build_and_test() {
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBMC_WERROR=ON \
          -DEBMC_SHARED_DIR="$EBMC_SHARED_DIR" "$@" || return 1
    cmake --build "$dir" -j"$jobs" || return 1
    local status=0
    (cd "$dir" && ctest --output-on-failure -j"$jobs") || status=$?
    # the conformance counts, which ctest shows only when the test fails
    grep -h '^conformance: ' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null | tail -n 1
    return "$status"
}

# The sanitizer build: leaks are errors, UBSan reports carry a stack.
asan_build_and_test() (
    export ASAN_OPTIONS=detect_leaks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    build_and_test build-asan -DEBMC_SANITIZE=ON -DEBMC_JIT=OFF
)

run_stage "install dependencies" bash scripts/install-deps.sh
run_stage "build + ctest (build/, RelWithDebInfo, JIT)" build_and_test build -DEBMC_JIT=ON
run_stage "build + ctest (build-asan/, ASan+UBSan, no JIT)" asan_build_and_test
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}
run_stage "fuzz: importer, checkpoints, model loading (${FUZZ_SECONDS}s each)" bash tests/fuzz/run_fuzz.sh

echo
echo "==================== summary ===================="
total=0
for i in "${!names[@]}"; do
    printf '%-48s %6ss  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
    total=$((total + secs[i]))
done
printf '%-48s %6ss\n' "total" "$total"
exit "$failed"
