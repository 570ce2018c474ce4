# t/lib.sh - the test library, sourced by every t/NNNN-*.t script.
#
# Modelled on git's t/test-lib.sh: each script runs in a fresh temporary
# directory with bin/ first on PATH, declares tests with
# test_expect_success, and ends with test_done, which prints the TAP plan.
# A test body is shell, chained with &&; its output is shown (as TAP
# comments) only when it fails, or always with TEST_VERBOSE=1.
#
#   test_expect_success 'what it checks' '
#       rx-extract --csv in.csv >actual &&
#       test_cmp expect actual
#   '
#   test_expect_code 65 rx-extract --ndjson bad.ndjson   (inside a body)
#   test_cleanup 'kill $pid'                             (run at exit)
#   test_skip_all 'reason'                               (instead of tests)

set -u
RX_TOP=$(cd "$(dirname "$0")/.." && pwd)
RX_TESTS=$RX_TOP/t
PATH="${RX_BIN:-$RX_TOP/bin}:$RX_TOP/t/bin:$PATH"
RX_SHARE=$RX_TOP/share/rx
export PATH RX_SHARE RX_TOP RX_TESTS
unset RX_PROFILE_PATH
LC_ALL=C.UTF-8
export LC_ALL

test_name=$(basename "$0" .t)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/rx-$test_name.XXXXXX")
cd "$TRASH" || exit 1

test_count=0
test_failed=0
test_cleanups=

test_cleanup () {
	test_cleanups="$1
$test_cleanups"
}

test_run_cleanups () {
	if [ -n "$test_cleanups" ]; then
		eval "$test_cleanups" >/dev/null 2>&1
	fi
	cd / && rm -rf "$TRASH"
}
trap test_run_cleanups EXIT
trap 'exit 130' INT TERM

test_expect_success () {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.test-output" 2>&1 </dev/null; then
		echo "ok $test_count - $1"
		[ "${TEST_VERBOSE:-0}" = 1 ] && sed 's/^/# /' "$TRASH/.test-output"
	else
		echo "not ok $test_count - $1"
		sed 's/^/# /' "$TRASH/.test-output" | head -n 60
		test_failed=$((test_failed + 1))
	fi
	return 0
}

# test_expect_code CODE COMMAND...: run it, fail unless it exits CODE.
test_expect_code () {
	want=$1
	shift
	"$@"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "test_expect_code: '$*' exited $got, expected $want" >&2
		return 1
	fi
	return 0
}

# test_cmp EXPECTED ACTUAL: the files are the same (a diff if not).
test_cmp () {
	diff -u "$1" "$2"
}

# test_must_be_empty FILE
test_must_be_empty () {
	if [ -s "$1" ]; then
		echo "'$1' is not empty:" >&2
		head -n 20 "$1" >&2
		return 1
	fi
}

# test_grep PATTERN FILE: like grep -q, but show the file when it fails.
test_grep () {
	if ! grep -q -e "$1" "$2"; then
		echo "no line matches '$1' in $2:" >&2
		head -n 20 "$2" >&2
		return 1
	fi
}

# test_lines N FILE: FILE has exactly N lines.
test_lines () {
	got=$(wc -l <"$2" | tr -d ' ')
	if [ "$got" != "$1" ]; then
		echo "$2 has $got lines, expected $1" >&2
		return 1
	fi
}

# bodies: stdin a dry run's output; the request bodies, one a line, as
# JSON with numbers exact (jq would round them) and unicode as characters
bodies () {
	python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get(\"\$rx\") == \"request\":
        print(json.dumps(r[\"body\"], ensure_ascii=False, separators=(\",\", \":\")))"
}

# rows_of FILE: its lines without control records ({"$rx":...}, such as
# the end record rx-extract and rx-map write last).
rows_of () {
	grep -v '^{"\$rx":' "$1"
}

# norun [FILE]: changes without their "run" member (it names the state and
# the run, which differ from one state file to the next).
norun () {
	sed 's/,"run":"[0-9a-f]\{16\}\.[0-9]*"//' "$@"
}

# test_end N FILE: the last line of FILE is the end record of N rows.
test_end () {
	want="{\"\$rx\":\"end\",\"rows\":$1}"
	got=$(tail -n 1 "$2")
	if [ "$got" != "$want" ]; then
		echo "the last line of $2 is '$got', expected '$want'" >&2
		return 1
	fi
}

test_skip_all () {
	echo "1..0 # SKIP $1"
	trap - EXIT
	test_run_cleanups
	exit 0
}

test_done () {
	echo "1..$test_count"
	[ "$test_failed" -eq 0 ]
	exit $?
}
