#!/bin/bash
# run_fuzz.sh — builds the libFuzzer targets with clang (ASan + UBSan) in their
# own build folder and fuzzes each for FUZZ_SECONDS:
#   fuzz_import      the ONNX importer, seeded with every model.onnx of the
#                    conformance data and of tests/fixtures;
#   fuzz_checkpoint  training checkpoints (ebm_trainer_load), seeded with the
#                    valid checkpoints the target writes itself.
# Fails on any crash, leak, sanitizer report or timeout; the input that caused
# it is kept and named.  Prints libFuzzer's final statistics per target.
#
#   FUZZ_SECONDS    how long to fuzz each target (default 60)
#   FUZZ_TARGETS    which targets (default: "fuzz_import fuzz_checkpoint")
#   FUZZ_BUILD_DIR  build folder (default build-fuzz at the repository root)
#   EBMC_SHARED_DIR folder holding conformance/ (default ../shared)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-fuzz_import fuzz_checkpoint}
shared=${EBMC_SHARED_DIR:-$root/../shared}
jobs=$(nproc 2>/dev/null || echo 2)

# The fuzz targets get -fsanitize=fuzzer,... from tests/CMakeLists.txt; the
# libraries they link must carry the same instrumentation (coverage feedback
# and ASan/UBSan inside the importer), hence the flags for everything here.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

echo "run_fuzz: configuring $build (clang, EBMC_FUZZ=ON)"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEBMC_FUZZ=ON -DEBMC_WERROR=ON -DCMAKE_C_FLAGS="$flags" -DEBMC_SHARED_DIR="$shared" >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }
# shellcheck disable=SC2086  # $targets is a list
cmake --build "$build" -j"$jobs" --target $targets ebm_fake_models

work=$(mktemp -d "${TMPDIR:-/tmp}/ebmc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# seeds_NAME DIR: copies the target's seeds into DIR (libFuzzer adds its finds
# to the corpus folder, never to the repo); prints how many.
seeds_fuzz_import() {
    local i=0 model
    while IFS= read -r -d '' model; do
        cp "$model" "$1/seed-$i.onnx"
        i=$((i + 1))
    done < <(find "$shared/conformance" "$root/tests/fixtures" -name model.onnx -print0 2>/dev/null)
    echo "$i"
}

# fuzz_checkpoint writes its own seeds in LLVMFuzzerInitialize.
seeds_fuzz_checkpoint() {
    EBMC_FUZZ_SEED_DIR="$1" "$build/bin/fuzz_checkpoint" -runs=0 "$1" >"$work/seeds.log" 2>&1 \
        || { cat "$work/seeds.log" >&2; echo 0; return; }
    find "$1" -name 'seed-ckpt-*' | wc -l
}

status=0
for target in $targets; do
    dir=$work/$target
    mkdir -p "$dir/corpus" "$dir/artifacts"
    n=$("seeds_$target" "$dir/corpus")
    echo "run_fuzz: $target: $n seeds; fuzzing for ${seconds}s"
    if [ "$n" -eq 0 ]; then
        echo "run_fuzz: $target: no seed (fuzz_import looks in $shared/conformance and tests/fixtures)" >&2
        status=1
        continue
    fi
    rc=0
    "$build/bin/$target" "$dir/corpus" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=1000000 -timeout=60 \
        -artifact_prefix="$dir/artifacts/" -print_final_stats=1 >"$dir/fuzz.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$dir/artifacts")" ]; then
        # the report starts at the sanitizer's or libFuzzer's first error line
        sed -n "/ERROR\|runtime error\|$target:\|Test unit written/,\$p" "$dir/fuzz.log" | head -n 200
        keep="$build/fuzz-artifacts/$target"
        mkdir -p "$keep"
        cp "$dir/fuzz.log" "$keep/" 2>/dev/null || true
        cp "$dir"/artifacts/* "$keep/" 2>/dev/null || true
        echo "run_fuzz: $target FAILED (exit status $rc); log and reproducers kept in $keep" >&2
        echo "run_fuzz: reproduce with: $build/bin/$target $keep/<crash-file>" >&2
        status=1
        continue
    fi
    # runs, coverage (cov: edges, ft: features) and corpus size at the end
    grep -E '^#[0-9]+.*DONE' "$dir/fuzz.log" | tail -n 1 | sed "s/^/run_fuzz: $target: /"
    grep '^stat::' "$dir/fuzz.log" | sed "s/^/run_fuzz: $target: /"
    echo "run_fuzz: $target: no crash, leak or timeout in ${seconds}s"
done
exit "$status"
