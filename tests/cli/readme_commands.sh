#!/usr/bin/env bash
# readme_commands.sh — every ```sh block of README.md runs as written, in
# order, from the root of a fresh copy of the repository.
#
# The copy holds exactly the files git tracks, as they are in the work tree
# (what a clone of the next commit gives, without untracked files such as a
# stray model.onnx in the root).  Its build/ holds links to this build's bin/
# (and cmake_install.cmake, for `cmake --install build`), so the blocks use
# the binaries under test instead of building again.  Each block runs in its
# own `bash -e -o pipefail` from the copy's root; a failure names the block
# and the README line of the command that failed, with its output.
#
# A block can be marked, on the lines right above its fence, with HTML
# comments the README does not show:
#   <!-- readme-test: skip WHY -->                 not run; WHY is printed
#   <!-- readme-test: needs PATH -->               skipped (saying so) when PATH is absent
#   <!-- readme-test: long WHY -->                 run only with EBMC_README_LONG=1 (minutes)
#   <!-- readme-test: not-sanitized WHY -->        skipped in a sanitizer build (EBMC_SANITIZE)
#   <!-- readme-test: replace |OLD|NEW| WHY -->    the test runs the block with OLD replaced by NEW
#                                                  (a short form of a long run; OLD must occur)
# After the blocks: nothing was written outside build/, and the README cites
# the design notes as docs/DESIGN.md, which exists.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
BUILD="$(cd "$BIN/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"

for tool in git tar awk; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed (the test copies the files git tracks)"
        exit 77   # CTest's SKIP_RETURN_CODE
    fi
done
if ! git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "SKIP: $SRC is not a git work tree: the test copies the files git tracks"
    exit 77
fi

sanitized=0
grep -q '^EBMC_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null && sanitized=1
# Under the sanitizers the README's commands are the CLI paths cli_config, cli_layout,
# cli_buffer, cli_sampler and cli_train already run there, at 4x the time; CI's
# normal build runs this test (EBMC_README_SANITIZED=1 runs it here anyway).
if [ "$sanitized" = 1 ] && [ "${EBMC_README_SANITIZED:-0}" != 1 ]; then
    echo "SKIP: a sanitizer build: the README's commands run in the normal build (CI's first stage);" \
         "their CLI paths are covered here by cli_config, cli_layout, cli_buffer, cli_sampler and cli_train"
    exit 77
fi

# ---- the copy -------------------------------------------------------------------------
COPY="$TMP/repo"
mkdir -p "$COPY/build"
git -C "$SRC" ls-files -z | tar -C "$SRC" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$COPY" -xf -
check "the copy has README.md" test -f "$COPY/README.md"
ln -s "$BUILD/bin" "$COPY/build/bin"
ln -s "$BUILD/cmake_install.cmake" "$COPY/build/cmake_install.cmake"
(cd "$COPY" && find . -path ./build -prune -o -type f -print | sort) >"$TMP/files.before"

# ---- the blocks -----------------------------------------------------------------------
# For block k: $TMP/block.k (its lines), $TMP/meta.k ("LINE SECTION": the README
# line of its first command, the heading above it), $TMP/dir.k (its markers).
n_blocks=$(awk -v dir="$TMP" '
    /^#+ / && !in_block { section = $0; sub(/^#+ /, "", section) }
    /^<!-- readme-test: .* -->$/ && !in_block { marks = marks $0 "\n"; next }
    /^```sh$/ && !in_block {
        in_block = 1; k++
        printf "%d %s\n", NR + 1, section > (dir "/meta." k)
        printf "%s", marks > (dir "/dir." k)
        printf "" > (dir "/block." k)
        marks = ""; next }
    /^```/ && in_block { in_block = 0; next }
    in_block { print > (dir "/block." k); next }
    NF { marks = "" }
    END { print k + 0 }' "$COPY/README.md")
check "README.md has sh blocks" test "$n_blocks" -gt 0

ran=0
skipped=0
summary=()
for ((k = 1; k <= n_blocks; k++)); do
    read -r line section <"$TMP/meta.$k"
    name="block $k (README line $line, \"$section\")"
    why=""
    edits=()
    script="$(cat "$TMP/block.$k")"
    while IFS= read -r mark; do
        mark="${mark#<!-- readme-test: }"
        mark="${mark% -->}"
        verb="${mark%% *}"
        rest="${mark#* }"
        case "$verb" in
        skip) why="skipped: $rest" ;;
        needs) [ -e "$rest" ] || why="skipped: needs $rest, absent here" ;;
        long) [ "${EBMC_README_LONG:-0}" = 1 ] || why="skipped: long ($rest); EBMC_README_LONG=1 runs it" ;;
        not-sanitized) [ "$sanitized" = 0 ] || why="skipped: a sanitizer build ($rest)" ;;
        replace)
            IFS='|' read -r _ old new reason <<<"$rest"
            if [[ "$script" != *"$old"* ]]; then
                fail "$name" "its replace marker's text '$old' is not in the block"
                continue
            fi
            script="${script//"$old"/"$new"}"
            edits+=("'$old' -> '$new' (${reason# })")
            ;;
        *) fail "$name" "unknown marker '$verb'" ;;
        esac
    done <"$TMP/dir.$k"
    if [ -n "$why" ]; then
        echo "SKIP $name: ${why#skipped: }"
        summary+=("$name: $why")
        skipped=$((skipped + 1))
        continue
    fi
    for e in "${edits[@]}"; do echo "EDIT $name: $e"; done
    # The prelude is 2 lines: the ERR trap maps a line of the script to the README.
    {
        printf 'trap '\''echo "$LINENO" >"%s"'\'' ERR\n' "$TMP/failed_line"
        printf 'set -o pipefail\n'
        printf '%s\n' "$script"
    } >"$TMP/run.sh"
    rm -f "$TMP/failed_line"
    start=$(date +%s)
    (cd "$COPY" && bash -e "$TMP/run.sh") >"$TMP/out" 2>"$TMP/err"
    code=$?
    secs=$(($(date +%s) - start))
    if [ "$code" -ne 0 ]; then
        at=""
        if [ -s "$TMP/failed_line" ]; then
            rl=$((line + $(cat "$TMP/failed_line") - 3))
            at=" at README line $rl: $(sed -n "${rl}p" "$COPY/README.md")"
        fi
        fail "$name" "exit status $code$at"
        tail -n 20 "$TMP/out" | sed 's/^/    stdout: /'
        summary+=("$name: FAILED (exit $code$at)")
    elif sanitizer_report; then
        fail "$name" "sanitizer report"
        summary+=("$name: FAILED (sanitizer report)")
    else
        pass "$name ran in ${secs} s"
        summary+=("$name: ran in ${secs} s${edits[*]:+ (${#edits[@]} replace marker(s) applied)}")
        ran=$((ran + 1))
    fi
done

# ---- after the blocks -----------------------------------------------------------------
(cd "$COPY" && find . -path ./build -prune -o -type f -print | sort) >"$TMP/files.after"
comm -13 "$TMP/files.before" "$TMP/files.after" >"$TMP/files.new"
check "the commands wrote nothing outside build/" test ! -s "$TMP/files.new"
sed 's/^/    written: /' "$TMP/files.new"
check "docs/DESIGN.md is in the repository" test -f "$COPY/docs/DESIGN.md"
check "README cites the design notes as docs/DESIGN.md" \
    test -z "$(grep -o '[^][ (`]*DESIGN\.md' "$COPY/README.md" | grep -v '^docs/DESIGN\.md$')"

echo "README blocks: $n_blocks, ran $ran, skipped $skipped"
for s in "${summary[@]}"; do echo "  $s"; done
finish
