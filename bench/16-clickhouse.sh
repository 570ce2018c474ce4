#!/bin/sh
# bench/16-clickhouse.sh - rx-extract --clickhouse beside clickhouse-client
# --format JSONEachRow on the same BENCH_ROWS rows x 12 columns, from a
# throwaway server (t/lib-clickhouse.sh); time, peak RSS at 10k and at
# BENCH_ROWS rows, and the ratio.  Target: rx at least as fast as the CLI
# (ratio >= 1.0), memory flat.  curl fetching the same result as TSV is the
# floor: the server's share of the time.
. "$(dirname "$0")/lib.sh"
rows=$BENCH_ROWS

# t/lib-clickhouse.sh expects t/lib.sh's hooks: provide them here
TRASH=$BENCH_DIR/ch
mkdir -p "$TRASH" && chmod 755 "$BENCH_DIR"
ch_cleanups=
test_cleanup () { ch_cleanups="$1; $ch_cleanups"; }
test_skip_all () { echo "  skipped: $1"; exit 0; }
trap 'eval "$ch_cleanups" >/dev/null 2>&1' EXIT
. "$(dirname "$0")/../t/lib-clickhouse.sh"
command -v clickhouse-client >/dev/null || test_skip_all "no clickhouse-client (tools/deps install bench)"
ch_start

echo "generating $rows rows x 12 columns in ClickHouse"
ch_sql "CREATE TABLE t (id UInt64, email String, first_name String, last_name String, plan String,
  ltv Float64, orders UInt32, churn_risk Float64, country String, created_at DateTime, active UInt8,
  note String) ENGINE = MergeTree ORDER BY id" &&
ch_sql "INSERT INTO t SELECT number + 1, concat('user', toString(number + 1), '@example.com'),
  concat('First', toString(number % 1000)), concat('Last', toString(number % 997)),
  ['free', 'pro', 'enterprise'][number % 3 + 1], round((number % 10000) * 1.25, 2), number % 50,
  (number % 100) / 100, ['DE', 'US', 'JP', 'BR'][number % 4 + 1],
  toDateTime('2024-01-01 00:00:00') + number, number % 2, concat('note ', toString(number + 1))
  FROM system.numbers LIMIT $rows" &&
ch_sql "CREATE TABLE small ENGINE = MergeTree ORDER BY id AS SELECT * FROM t LIMIT 10000" || exit 1

# best3 NAME COMMAND...: run it three times and keep the fastest (the
# server and the client share the cores with whatever else runs); print
# its time, the client's CPU time (user + system: steadier than the time
# on a busy machine) and peak RSS; set $secs, $cpu and $rss_kb.
best3 () {
	name=$1
	shift
	secs= cpu= rss_kb=
	for run in 1 2 3; do
		/usr/bin/time -f "%e %U %S %M" -o "$BENCH_DIR/.time" "$@" >/dev/null 2>"$BENCH_DIR/.err" ||
			echo "  $name: exit $?: $(head -c 200 "$BENCH_DIR/.err")"
		read -r t u s m <"$BENCH_DIR/.time"
		if [ -z "$secs" ] || [ "$(echo "$t < $secs" | bc)" = 1 ]; then
			secs=$t cpu=$(echo "$u + $s" | bc) rss_kb=$m
		fi
	done
	printf '  %-44s %8.2f s  %6.2f s CPU  %8.1f MB peak\n' "$name" "$secs" "$cpu" "$(echo "$rss_kb / 1024" | bc -l)"
}

# a warm-up read, so that neither side pays for the first one
curl -sS "$CH_URL/" --data-binary "SELECT * FROM t FORMAT TSV" >/dev/null

best3 "rx-extract --clickhouse ($rows rows)" rx-extract --clickhouse "$CH_URL" --table t
rx=$secs rx_cpu=$cpu rx_rss=$rss_kb
best3 "clickhouse-client --format JSONEachRow" clickhouse-client --host 127.0.0.1 --port "$CH_TCP_PORT" \
	--query "SELECT * FROM t" --format JSONEachRow
cli=$secs cli_cpu=$cpu cli_rss=$rss_kb
best3 "curl, the same result as TSV (the server)" curl -sS "$CH_URL/" --data-binary "SELECT * FROM t FORMAT TSV"
floor=$secs
best3 "rx-extract --clickhouse --shard 1/4 --key id" rx-extract --clickhouse "$CH_URL" --table t --shard 1/4 --key id
best3 "rx-extract --clickhouse (10k rows)" rx-extract --clickhouse "$CH_URL" --table small
small_rss=$rss_kb
echo "  ratio clickhouse-client / rx-extract: $(ratio "$cli" "$rx")x as fast (target >= 1.0);" \
	"client CPU $(ratio "$cli_cpu" "$rx_cpu")x less"
echo "  the server's share (curl TSV / rx):   $(ratio "$floor" "$rx")"
echo "  peak RSS: $((small_rss / 1024)) MB at 10k rows, $((rx_rss / 1024)) MB at $rows rows (flat);" \
	"clickhouse-client $((cli_rss / 1024)) MB"
