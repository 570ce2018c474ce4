#!/bin/sh
# bench/run.sh - make bench: runs every bench/NN-*.sh in order.  Each prints
# its figures and ratios; none asserts a time.  BENCH_ROWS scales them
# (default 1000000); BENCH_DIFF_LARGE sets the rows of rx-diff's memory
# check (default 5000000, 0 skips it); BENCH_KEEP keeps BENCH_DIR.
set -u
cd "$(dirname "$0")/.."
PATH=$(pwd)/bin:$PATH
export PATH
BENCH_DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/rx-bench.XXXXXX")}
BENCH_ROWS=${BENCH_ROWS:-1000000}
export BENCH_DIR BENCH_ROWS
status=0
for b in bench/[0-9]*.sh; do
	[ -f "$b" ] || continue
	echo "== $b"
	sh "$b" || { echo "bench: $b failed"; status=1; }
done
[ -n "${BENCH_KEEP:-}" ] || rm -rf "$BENCH_DIR"
exit $status
