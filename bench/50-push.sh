#!/bin/sh
# bench/50-push.sh - rx-push against the fake destination on loopback.
#
#  (a) pacing: with a limit of R requests/s enforced by the fake, the rate
#      rx-push --rate R/1s achieves over a sustained run, as a share of R
#      (target >= 95%), and the 429s it drew (target 0);
#  (b) records/s at batch sizes 1, 100 and 1000, beside `xargs -P 8 curl`
#      posting the same records one by one;
#  (c) peak RSS for N and 10N records: flat in the record count.
#
# The fake is a Python http.server: at batch size 1 it, not rx-push, is
# the bottleneck (rx-push's own CPU time is printed beside the wall time).
set -u
: "${BENCH_DIR:=$(mktemp -d)}" "${BENCH_ROWS:=1000000}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH=$TOP/bin:$PATH
cd "$BENCH_DIR" || exit 1
RX_SHARE=${RX_SHARE:-$TOP/share/rx}
export RX_SHARE

min () { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
BIG=$(min "$BENCH_ROWS" 200000)
SMALL=$(min "$BENCH_ROWS" 5000)
CURLN=$(min "$BENCH_ROWS" 2000)

start_fake () {
	rm -f fake.port
	python3 "$TOP/t/fake/fake-dest.py" --port-file fake.port "$@" >fake.out 2>&1 &
	FAKE_PID=$!
	i=0
	while [ ! -s fake.port ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { cat fake.out; exit 1; }
		sleep 0.05
	done
	URL=http://127.0.0.1:$(cat fake.port)
}
stop_fake () { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
trap 'stop_fake' EXIT

awk -v n="$BIG" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"op\":\"upsert\",\"key\":\"K%d\",\"hash\":\"h%d\",\"row\":{\"id\":\"K%d\",\"email\":\"u%d@example.com\",\"ltv\":%d.5,\"plan\":\"pro\"}}\n", i, i, i, i, i }' >changes.ndjson
head -n "$SMALL" changes.ndjson >small.ndjson

stat_of () { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "(a) pacing against a destination limited to R requests/s (429 over it)"
R=100
SECS=12
start_fake --rate $R/1
head -n $((R * SECS)) changes.ndjson >paced.ndjson
rx-push --profile webhook --url "$URL" --max-records 1 --concurrency 8 --rate $R/1s --stats paced.json <paced.ndjson >/dev/null
req=$(stat_of paced.json requests)
secs=$(stat_of paced.json seconds)
thr=$(curl -s "$URL/_state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["throttled"])')
awk -v r=$R -v n="$req" -v s="$secs" -v t="$thr" 'BEGIN {
	printf "  R = %d/s: %d requests in %.2f s = %.1f/s, %.1f%% of R; 429s: %d\n", r, n, s, n / s, 100 * n / s / r, t }'
stop_fake

echo "(b) records/s, no limit, concurrency 8"
start_fake
run () { # batch-size input
	/usr/bin/time -f "%e %U %S %M" -o t.out rx-push --profile webhook --url "$URL" --max-records "$1" <"$2" >acks 2>err
	n=$(wc -l <acks)
	set -- $(cat t.out) "$1" "$n"
	awk -v e="$1" -v u="$2" -v s="$3" -v m="$4" -v b="$5" -v n="$6" 'BEGIN {
		printf "  rx-push, batch %4d: %7d records in %6.2f s = %8.0f records/s (rx-push CPU %.2f s, peak RSS %d KB)\n", b, n, e, n / e, u + s, m }'
	RATE=$(awk -v e="$1" -v n="$6" 'BEGIN { printf "%.0f", n / e }')
}
run 1 small.ndjson; R1=$RATE
run 100 changes.ndjson; R100=$RATE
run 1000 changes.ndjson; R1000=$RATE
head -n "$CURLN" changes.ndjson | sed 's/^/{"op":"upsert","records":[/; s/$/]}/' >curl.ndjson
t0=$(date +%s.%N)
xargs -d '\n' -P 8 -n 1 curl -s -o /dev/null -H 'Content-Type: application/json' "$URL" -d <curl.ndjson
t1=$(date +%s.%N)
CURLR=$(awk -v a="$t0" -v b="$t1" -v n="$CURLN" 'BEGIN { printf "%.0f", n / (b - a) }')
echo "  xargs -P 8 curl, one by one: $CURLN records = $CURLR records/s"
awk -v c="$CURLR" -v a="$R1" -v b="$R100" -v d="$R1000" 'BEGIN {
	printf "  ratio to xargs curl: batch 1 %.1fx, batch 100 %.0fx, batch 1000 %.0fx\n", a / c, b / c, d / c }'

echo "(c) peak RSS, batch 100: flat in the number of records"
head -n $((BIG / 10)) changes.ndjson >tenth.ndjson
for f in tenth.ndjson changes.ndjson; do
	/usr/bin/time -f %M -o m.out rx-push --profile webhook --url "$URL" --max-records 100 <$f >/dev/null
	echo "  $(wc -l <$f) records: peak RSS $(cat m.out) KB"
done
stop_fake
