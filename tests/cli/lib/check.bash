# check.bash — assertions for the CLI test scripts (source it; not a test
# itself: CTest runs only tests/cli/*.sh).  Every failure case must exit with
# the status asked, print exactly one line on stderr that contains every
# pattern (besides the note of a C compile that took over a second, which
# may come first), and no sanitizer report.  Needs $TMP (a scratch folder).

passed=0
failed=0

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() {
    echo "FAIL $1: $2"
    [ -s "$TMP/err" ] && sed 's/^/    stderr: /' "$TMP/err"
    failed=$((failed + 1))
}

sanitizer_report() { grep -qE 'Sanitizer|runtime error' "$TMP/out" "$TMP/err"; }

# expect_fail NAME CODE 'pattern1;pattern2' CMD ARGS...
expect_fail() {
    local name=$1 want=$2 patterns=$3
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local code=$? lines pat missing=""
    # the note of a compile that took over a second is not part of the error
    lines=$(grep -cvE '^ebmc?: compiled .* in [0-9.]+ s(;|$)' "$TMP/err")
    if sanitizer_report; then
        fail "$name" "sanitizer report"
    elif [ "$code" -ne "$want" ]; then
        fail "$name" "exit status $code, expected $want"
    elif [ "$lines" -ne 1 ]; then
        fail "$name" "$lines lines on stderr, expected exactly 1"
    else
        IFS=';' read -r -a pats <<<"$patterns"
        for pat in "${pats[@]}"; do
            grep -qF -- "$pat" "$TMP/err" || missing="$missing '$pat'"
        done
        if [ -n "$missing" ]; then fail "$name" "stderr does not mention$missing"; else pass "$name"; fi
    fi
}

# expect_ok NAME CMD ARGS...: exit 0 and no sanitizer report (stdout in $TMP/out).
expect_ok() {
    local name=$1
    shift
    "$@" >"$TMP/out" 2>"$TMP/err"
    local code=$?
    if sanitizer_report; then
        fail "$name" "sanitizer report"
    elif [ "$code" -ne 0 ]; then
        fail "$name" "exit status $code, expected 0"
    else
        pass "$name"
    fi
}

# check NAME CONDITION...: a plain assertion.
check() {
    local name=$1
    shift
    : >"$TMP/err"
    if "$@"; then pass "$name"; else fail "$name" "check failed: $*"; fi
}

# near A B TOL: |A - B| <= TOL * max(1, |B|)
near() {
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {
        d = a - b; if (d < 0) d = -d; s = b < 0 ? -b : b; if (s < 1) s = 1;
        exit !(a != "" && d <= t * s) }'
}

# all_near FILE VALUE TOL: every line of FILE is within TOL of VALUE (and there is one)
all_near() {
    [ -s "$1" ] && awk -v b="$2" -v t="$3" '{
        d = $1 - b; if (d < 0) d = -d; s = b < 0 ? -b : b; if (s < 1) s = 1;
        if (d > t * s) bad = 1 } END { exit bad }' "$1"
}

# payload FILE: the data of an .npy (after its header) as one hex word per line
payload() {
    local hlen
    hlen=$(od -An -t u2 -j 8 -N 2 "$1" | tr -d ' ')
    od -An -v -t x4 -j $((10 + hlen)) "$1" | tr -s ' \n' '\n\n' | sed '/^$/d'
}

# npy_header SHAPE: the header of a float32 C-order .npy of shape SHAPE (a
# Python tuple, e.g. "(3, 2, 2)"), padded to 64 bytes; the data follows it
npy_header() {
    local dict="{'descr': '<f4', 'fortran_order': False, 'shape': $1, }"
    local total=$(( (10 + ${#dict} + 1 + 63) / 64 * 64 ))
    local hlen=$((total - 10))
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((hlen % 256)))\\x$(printf %02x $((hlen / 256)))"
    printf '%s' "$dict"
    printf '%*s' $((hlen - ${#dict} - 1)) ''
    printf '\n'
}

# make_npy FILE SHAPE COUNT HEXWORD: a float32 .npy of shape SHAPE holding
# COUNT copies of the float with bits HEXWORD
make_npy() {
    local file=$1 shape=$2 count=$3 word=$4
    {
        npy_header "$shape"
        local b0=${word:6:2} b1=${word:4:2} b2=${word:2:2} b3=${word:0:2} i
        for ((i = 0; i < count; i++)); do printf "\\x$b0\\x$b1\\x$b2\\x$b3"; done
    } >"$file"
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
