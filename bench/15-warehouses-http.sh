#!/bin/sh
# bench/15-warehouses-http.sh - rx-extract --snowflake, --bigquery and
# --databricks on BENCH_ROWS rows x 12 columns served by the fakes of the
# tests (t/fake/*.py) on loopback: time, rows/s and peak RSS, and at 10,000
# rows to show that memory is flat.  No real warehouse is reachable here,
# so the figures measure rx-extract's side only; to say how much of each
# run is the fake's, the same pages (already generated and cached by the
# fake) are fetched by curl to /dev/null: that time is the fake's serving
# and the loopback transfer, a floor under any client.
. "$(dirname "$0")/lib.sh"

uuid () { cat /proc/sys/kernel/random/uuid; }

# "sh 15-warehouses-http.sh curl ENGINE URL PAGES": fetch every page of one
# run of "select * from big" with curl, as rx-extract would, to /dev/null
if [ "${1:-}" = curl ]; then
	engine=$2 url=$3 npages=$4 cfg=$BENCH_DIR/$2.cfg
	: >"$cfg"
	case $engine in
	sf)
		curl -sS -X POST -H "Authorization: Bearer bench-token" -H "Content-Type: application/json" \
			-H "Accept: application/json" --compressed "$url/api/v2/statements?requestId=$(uuid)" \
			-d '{"statement":"select * from big"}' -o "$BENCH_DIR/sf.first" || exit 1
		handle=$(grep -o '"statementHandle":"[^"]*"' "$BENCH_DIR/sf.first" | head -1 | cut -d'"' -f4)
		p=1 && while [ $p -lt "$npages" ]; do
			printf 'url = "%s/api/v2/statements/%s?partition=%d"\noutput = "/dev/null"\n' "$url" "$handle" $p >>"$cfg"
			p=$((p + 1))
		done
		[ -s "$cfg" ] && curl -sS --compressed -H "Authorization: Bearer bench-token" -H "Accept: application/json" -K "$cfg"
		;;
	bq)
		curl -sS -X POST -H "Authorization: Bearer bench-token" -H "Content-Type: application/json" \
			"$url/bigquery/v2/projects/p/queries" -o "$BENCH_DIR/bq.first" \
			-d '{"query":"select * from big","useLegacySql":false,"formatOptions":{"useInt64Timestamp":true},"requestId":"r"}' || exit 1
		job=$(grep -o '"jobId":"[^"]*"' "$BENCH_DIR/bq.first" | head -1 | cut -d'"' -f4)
		short=$(printf %s "$job" | cut -c1-8)
		p=1 && while [ $p -lt "$npages" ]; do
			printf 'url = "%s/bigquery/v2/projects/p/queries/%s?formatOptions.useInt64Timestamp=true&pageToken=page-%d-%s"\noutput = "/dev/null"\n' \
				"$url" "$job" $p "$short" >>"$cfg"
			p=$((p + 1))
		done
		[ -s "$cfg" ] && curl -sS -H "Authorization: Bearer bench-token" -K "$cfg"
		;;
	db)
		curl -sS -X POST -H "Authorization: Bearer bench-token" -H "Content-Type: application/json" \
			"$url/api/2.0/sql/statements" -o "$BENCH_DIR/db.first" \
			-d '{"statement":"select * from big","warehouse_id":"wh123","wait_timeout":"10s","disposition":"EXTERNAL_LINKS","format":"JSON_ARRAY"}' || exit 1
		id=$(grep -o '"statement_id": *"[^"]*"' "$BENCH_DIR/db.first" | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
		p=0 && while [ $p -lt "$npages" ]; do
			printf 'url = "%s/_links/%s/%d?X-Sig=bench"\noutput = "/dev/null"\n' "$url" "$id" $p >>"$cfg"
			p=$((p + 1))
		done
		curl -sS -H "x-ms-blob-type: BlockBlob" -K "$cfg"
		;;
	esac
	exit 0
fi

rows=$BENCH_ROWS
fakes=$(cd "$(dirname "$0")/../t/fake" && pwd)
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done' EXIT

# start NAME SCRIPT ARGS...: a fake on loopback; sets $url
start () {
	name=$1 script=$2
	shift 2
	rm -f "$BENCH_DIR/$name.port"
	python3 "$fakes/$script" --port-file "$BENCH_DIR/$name.port" "$@" >"$BENCH_DIR/$name.log" 2>&1 &
	pids="$pids $!"
	n=0
	while [ ! -s "$BENCH_DIR/$name.port" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
	url=http://127.0.0.1:$(cat "$BENCH_DIR/$name.port")
}

# report NAME ROWS RX_SECS RX_RSS FAKE_SECS
report () {
	echo "  $1: $(echo "$2 $3" | awk '{ if ($2 > 0) printf "%d", $1 / $2; else print "n/a" }') rows/s," \
		"$(( $4 / 1024 )) MB peak; the fake alone (curl) $5 s = $(ratio "$5" "$3") of rx-extract's time"
}

pages_per=50000
npages=$(( (rows + pages_per - 1) / pages_per ))

echo "generating $rows rows x 12 columns in each fake ($pages_per rows a page)"

# ---- Snowflake: partition 0 in the statement's reply, then ?partition=N (gzip)
start sf snowflake.py --token bench-token --rows "$rows" --partition-rows $pages_per
sf=$url
start sf_small snowflake.py --token bench-token --rows 10000 --partition-rows $pages_per
sf_small=$url
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
sh "$self" curl sf "$sf" $npages >/dev/null # warm the fake's cache
measure "curl, the same pages (the fake's share)" sh "$self" curl sf "$sf" $npages
fake_secs=$secs
SNOWFLAKE_TOKEN=bench-token measure "rx-extract --snowflake ($rows rows)" \
	rx-extract --snowflake bench --base-url "$sf" --query "select * from big"
rx_secs=$secs rx_rss=$rss_kb
SNOWFLAKE_TOKEN=bench-token measure "rx-extract --snowflake (10000 rows)" \
	rx-extract --snowflake bench --base-url "$sf_small" --query "select * from big"
small_rss=$rss_kb
report Snowflake "$rows" "$rx_secs" "$rx_rss" "$fake_secs"
echo "  Snowflake peak RSS: $((small_rss / 1024)) MB at 10k rows, $((rx_rss / 1024)) MB at $rows rows"

# ---- BigQuery: jobs.query (page 1), then getQueryResults?pageToken
start bq bigquery.py --static-token bench-token --rows "$rows" --page-rows $pages_per
bq=$url
start bq_small bigquery.py --static-token bench-token --rows 10000 --page-rows $pages_per
bq_small=$url
sh "$self" curl bq "$bq" $npages >/dev/null
measure "curl, the same pages (the fake's share)" sh "$self" curl bq "$bq" $npages
fake_secs=$secs
GOOGLE_OAUTH_ACCESS_TOKEN=bench-token measure "rx-extract --bigquery ($rows rows)" \
	rx-extract --bigquery p --base-url "$bq/bigquery/v2" --query "select * from big"
rx_secs=$secs rx_rss=$rss_kb
GOOGLE_OAUTH_ACCESS_TOKEN=bench-token measure "rx-extract --bigquery (10000 rows)" \
	rx-extract --bigquery p --base-url "$bq_small/bigquery/v2" --query "select * from big"
small_rss=$rss_kb
report BigQuery "$rows" "$rx_secs" "$rx_rss" "$fake_secs"
echo "  BigQuery peak RSS: $((small_rss / 1024)) MB at 10k rows, $((rx_rss / 1024)) MB at $rows rows"

# ---- Databricks: the statement, then each chunk behind a presigned link
start db databricks.py --token bench-token --rows "$rows" --chunk-rows $pages_per
db=$url
start db_small databricks.py --token bench-token --rows 10000 --chunk-rows $pages_per
db_small=$url
sh "$self" curl db "$db" $npages >/dev/null
measure "curl, the same pages (the fake's share)" sh "$self" curl db "$db" $npages
fake_secs=$secs
DATABRICKS_TOKEN=bench-token measure "rx-extract --databricks ($rows rows)" \
	rx-extract --databricks bench --warehouse wh123 --base-url "$db" --query "select * from big"
rx_secs=$secs rx_rss=$rss_kb
DATABRICKS_TOKEN=bench-token measure "rx-extract --databricks (10000 rows)" \
	rx-extract --databricks bench --warehouse wh123 --base-url "$db_small" --query "select * from big"
small_rss=$rss_kb
report Databricks "$rows" "$rx_secs" "$rx_rss" "$fake_secs"
echo "  Databricks peak RSS: $((small_rss / 1024)) MB at 10k rows, $((rx_rss / 1024)) MB at $rows rows"
