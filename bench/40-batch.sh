#!/bin/sh
# bench/40-batch.sh - rx-batch --size 100 beside jq chunking the same
# BENCH_ROWS changes.  The jq a user would write to stream: foreach over
# inputs, emitting every 100 (memory stays flat).  The shorter slurping
# form ([inputs] | _nwise(100)) is shown on 100k changes only: jq 1.6's
# _nwise copies the rest of the array at every step (quadratic), and it
# holds the whole input in memory.
. "$(dirname "$0")/lib.sh"
rows=$BENCH_ROWS
in=$BENCH_DIR/batch-changes.ndjson
small=$BENCH_DIR/batch-small.ndjson
gen () {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "{\"op\":\"upsert\",\"key\":\"C%d\",\"hash\":\"%08x%08x%08x%08x\",\"row\":{\"id\":%d,\"email\":\"user%d@example.com\",\"plan\":\"pro\",\"ltv\":%d.5,\"country\":\"US\"}}\n",
				i, i, i * 7, i * 13, i * 31, i, i, i % 10000
	}' >"$2"
}
echo "generating $rows changes"
gen "$rows" "$in"
gen 10000 "$small"
echo "  input: $(($(wc -c <"$in") / 1048576)) MB"

FOREACH='foreach (inputs, null) as $c ({b: []};
	if $c == null then {out: .b}
	elif (.b | length) == 100 then {b: [$c], out: .b}
	else {b: (.b + [$c])} end;
	select(.out != null and (.out | length) > 0) | {op: "upsert", records: .out})'

measure "rx-batch --size 100" rx-batch --size 100 "$in"
rx=$secs rx_rss=$rss_kb
measure "jq -c -n 'foreach ... (streaming)'" jq -c -n "$FOREACH" "$in"
jq_stream=$secs
head -n 100000 "$in" >"$BENCH_DIR/batch-100k.ndjson"
measure "jq -c -n '[inputs] | _nwise(100)' (100k)" jq -c -n '[inputs] | _nwise(100) | {op: "upsert", records: .}' "$BENCH_DIR/batch-100k.ndjson"
jq_slurp=$secs
measure "rx-batch --size 100 (100k)" rx-batch --size 100 "$BENCH_DIR/batch-100k.ndjson"
rx_100k=$secs
measure "rx-batch --size 100 --max-bytes 64K" rx-batch --size 100 --max-bytes 64K "$in"
measure "rx-batch --size 100 (10k changes)" rx-batch --size 100 "$small"
small_rss=$rss_kb
rx-batch --size 100 "$small" >"$BENCH_DIR/.rx" &&
	jq -c -n "$FOREACH" "$small" | cmp -s - "$BENCH_DIR/.rx" &&
	echo "  rx-batch and the jq foreach give the same bytes (10k changes)" ||
	echo "  WARNING: rx-batch and jq differ"
echo "  ratio jq foreach / rx-batch:  $(ratio "$jq_stream" "$rx")x (target >= 5)"
echo "  ratio jq _nwise / rx-batch (100k): $(ratio "$jq_slurp" "$rx_100k")x"
echo "  peak RSS rx-batch: $((small_rss / 1024)) MB at 10k changes, $((rx_rss / 1024)) MB at $rows (flat)"
rm -f "$in" "$small" "$BENCH_DIR/.rx" "$BENCH_DIR/batch-100k.ndjson"
