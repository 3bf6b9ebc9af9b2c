#!/bin/bash
# run_fuzz.sh — builds the libFuzzer targets with clang (ASan + UBSan) in their
# own build folder and fuzzes the ONNX importer, seeded with every model.onnx
# of the conformance data and of tests/fixtures.  Fails on any crash, leak,
# sanitizer report or timeout; the input that caused it is kept and named.
#
#   FUZZ_SECONDS    how long to fuzz (default 60)
#   FUZZ_BUILD_DIR  build folder (default build-fuzz at the repository root)
#   EBMC_SHARED_DIR folder holding conformance/ (default ../shared)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
shared=${EBMC_SHARED_DIR:-$root/../shared}
jobs=$(nproc 2>/dev/null || echo 2)

# The fuzz targets get -fsanitize=fuzzer,... from tests/CMakeLists.txt; the
# libraries they link must carry the same instrumentation (coverage feedback
# and ASan/UBSan inside the importer), hence the flags for everything here.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

echo "run_fuzz: configuring $build (clang, EBMC_FUZZ=ON)"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEBMC_FUZZ=ON -DCMAKE_C_FLAGS="$flags" -DEBMC_SHARED_DIR="$shared" >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j"$jobs" --target fuzz_import

work=$(mktemp -d "${TMPDIR:-/tmp}/ebmc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"

# Seeds: copied (libFuzzer adds its finds to the corpus folder, never to the repo).
i=0
while IFS= read -r -d '' model; do
    cp "$model" "$work/corpus/seed-$i.onnx"
    i=$((i + 1))
done < <(find "$shared/conformance" "$root/tests/fixtures" -name model.onnx -print0 2>/dev/null)
echo "run_fuzz: $i seed models; fuzzing for ${seconds}s"
if [ "$i" -eq 0 ]; then
    echo "run_fuzz: no seed model found (looked in $shared/conformance and tests/fixtures)" >&2
    exit 1
fi

status=0
"$build/bin/fuzz_import" "$work/corpus" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=1000000 -timeout=60 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/fuzz.log" 2>&1 || status=$?

if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    # the report starts at the sanitizer's or libFuzzer's first error line
    sed -n '/ERROR\|runtime error\|fuzz_import:\|Test unit written/,$p' "$work/fuzz.log" | head -n 200
    keep="$build/fuzz-artifacts"
    mkdir -p "$keep"
    cp "$work/fuzz.log" "$keep/" 2>/dev/null || true
    cp "$work"/artifacts/* "$keep/" 2>/dev/null || true
    echo "run_fuzz: FAILED (exit status $status); log and reproducers kept in $keep" >&2
    echo "run_fuzz: reproduce with: $build/bin/fuzz_import $keep/<crash-file>" >&2
    exit 1
fi
grep '^stat::' "$work/fuzz.log" || tail -n 5 "$work/fuzz.log"
echo "run_fuzz: no crash, leak or timeout in ${seconds}s"
