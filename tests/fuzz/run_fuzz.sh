#!/bin/bash
# run_fuzz.sh — builds the libFuzzer targets with clang (ASan + UBSan) in their
# own build folder and fuzzes each for $FUZZ_SECONDS:
#   import  the ONNX importer, seeded with every model.onnx of the conformance
#           data and of tests/fixtures;
#   model   compiled-model loading (runtime/model_file.c, runtime/model.c),
#           seeded with the fake models of tests/data/runtime and fixtures
#           compiled by this build's ebmc;
#   checkpoint  training checkpoints (ebm_trainer_load), seeded with the
#           valid checkpoints the target writes itself.
# Fails on any crash, leak, sanitizer report or timeout; the input that caused
# it is kept and named.
#
#   run_fuzz.sh [TARGET...]   the targets to fuzz (default: all of the above)
#   FUZZ_SECONDS    how long to fuzz each target (default 60)
#   FUZZ_BUILD_DIR  build folder (default build-fuzz at the repository root)
#   EBMC_SHARED_DIR folder holding conformance/ (default ../shared)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
shared=${EBMC_SHARED_DIR:-$root/../shared}
jobs=$(nproc 2>/dev/null || echo 2)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(import model checkpoint)

# The fuzz targets get -fsanitize=fuzzer,... from tests/CMakeLists.txt; the
# libraries they link must carry the same instrumentation (coverage feedback
# and ASan/UBSan inside the importer), hence the flags for everything here.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

echo "run_fuzz: configuring $build (clang, EBMC_FUZZ=ON)"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEBMC_FUZZ=ON -DEBMC_WERROR=ON -DCMAKE_C_FLAGS="$flags" -DEBMC_SHARED_DIR="$shared" >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ebmc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# seeds_TARGET CORPUS: builds the target, fills CORPUS with seeds (copies:
# libFuzzer adds its finds to the corpus folder, never to the repo) and
# prints their count on stdout (everything else goes to stderr).

# the ONNX models
seeds_import() {
    cmake --build "$build" -j"$jobs" --target fuzz_import >&2 || return 1
    local i=0 model
    while IFS= read -r -d '' model; do
        cp "$model" "$1/seed-$i.onnx"
        i=$((i + 1))
    done < <(find "$shared/conformance" "$root/tests/fixtures" -name model.onnx -print0 2>/dev/null)
    echo "$i"
}

# the sealed fake models and three fixtures compiled by ebmc, each twice:
# mode byte 0 (checked as is) and 1 (re-sealed first)
# fuzz_checkpoint writes its own seeds in LLVMFuzzerInitialize
seeds_checkpoint() {
    cmake --build "$build" -j"$jobs" --target fuzz_checkpoint ebm_fake_models >&2 || return 1
    EBMC_FUZZ_SEED_DIR="$1" "$build/bin/fuzz_checkpoint" -runs=0 "$1" >"$work/seeds-checkpoint.log" 2>&1 \
        || { cat "$work/seeds-checkpoint.log" >&2; echo 0; return; }
    find "$1" -name 'seed-ckpt-*' | wc -l
}

seeds_model() {
    cmake --build "$build" -j"$jobs" --target fuzz_model ebm_fake_models ebmc >&2 || return 1
    local i=0 so fx
    mkdir -p "$work/so"
    for fx in mlp_silu batchnorm_pool tabular2d; do
        ASAN_OPTIONS=detect_leaks=0 "$build/bin/ebmc" "$root/tests/fixtures/$fx/model.onnx" -O1 \
            -o "$work/so/$fx.so" >/dev/null 2>&1 || echo "run_fuzz: could not compile $fx (seed skipped)" >&2
    done
    for so in "$build"/testdata/runtime/*.so "$work"/so/*.so; do
        [ -f "$so" ] || continue
        { printf '\0'; cat "$so"; } >"$1/seed-$i-checked"
        { printf '\1'; cat "$so"; } >"$1/seed-$i-resealed"
        i=$((i + 1))
    done
    echo $((2 * i))
}

status=0
for target in "${targets[@]}"; do
    case $target in
    import) max_len=1000000 ;;
    model) max_len=4000000 ;;
    checkpoint) max_len=1000000 ;;
    *) echo "run_fuzz: unknown target '$target' (expected import, model or checkpoint)" >&2; exit 2 ;;
    esac
    corpus="$work/corpus-$target" artifacts="$work/artifacts-$target/" log="$work/fuzz-$target.log"
    mkdir -p "$corpus" "$artifacts"
    n=$("seeds_$target" "$corpus")
    echo "run_fuzz: fuzz_$target: $n seeds; fuzzing for ${seconds}s"
    if [ "$n" -eq 0 ]; then
        echo "run_fuzz: fuzz_$target: no seed found" >&2
        status=1
        continue
    fi
    rc=0
    "$build/bin/fuzz_$target" "$corpus" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$max_len" -timeout=60 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
        # the report starts at the sanitizer's or libFuzzer's first error line
        sed -n '/ERROR\|runtime error\|fuzz_[a-z]*:\|Test unit written/,$p' "$log" | head -n 200
        keep="$build/fuzz-artifacts"
        mkdir -p "$keep"
        cp "$log" "$keep/" 2>/dev/null || true
        cp "$artifacts"* "$keep/" 2>/dev/null || true
        echo "run_fuzz: fuzz_$target FAILED (exit status $rc); log and reproducers kept in $keep" >&2
        echo "run_fuzz: reproduce with: $build/bin/fuzz_$target $keep/<crash-file>" >&2
        status=1
        continue
    fi
    grep '^stat::' "$log" || tail -n 5 "$log"
    grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -n 1 || true
    echo "run_fuzz: fuzz_$target: no crash, leak or timeout in ${seconds}s"
done
exit "$status"
