#!/bin/sh
# bench/75-load.sh - a first sync of BENCH_ROWS rows x 12 columns into an
# application database, beside the fastest way to load the same rows by
# hand, as ratios in one run; peak RSS at 1/10 and all the rows (flat):
#
#  (a) PostgreSQL: rx-push in the profile's batches (rx-batch --profile
#      postgres: 5000 records) and in batches of 500 (the bulk path: a
#      first sync's batches COPYed straight into the table, a batch with a
#      key already there through a temporary table and one INSERT ... ON
#      CONFLICT; per-record results kept either way; the next batch
#      checked and its COPY data written while the server runs one)
#      beside psql's \copy of the same rows as CSV into the same table
#      (a primary key on both); a CHECKPOINT before each load, so that
#      none pays for the one before;
#  (b) Redis: rx-push (hashes, one transaction per batch: MULTI, a script
#      reading the types and deleting old hashes, the HSETs, EXEC; up to
#      three batches in flight)
#      beside redis-cli --pipe of HSETs of the same records;
#  (c) the shared rate budget (--budget redis://...): four shards against
#      a fake limited to 100 requests/s: the share of the limit used, and
#      the 429s drawn.
# Goal: rx <= 1.5x the hand load's time, memory flat.  Nothing asserted.
# rx-push overlaps its own work with the server's, so its time is near
# max(client, server) only when both have a core: on a machine busy with
# other work the ratios come out higher (compare the CPU times of
# rx-push and of the server, /usr/bin/time and /proc/PID/stat).
. "$(dirname "$0")/lib.sh"
TOP=$(cd "$(dirname "$0")/.." && pwd)
rows=$BENCH_ROWS
tenth=$((rows / 10))

TRASH=$BENCH_DIR/load
mkdir -p "$TRASH" && chmod 755 "$BENCH_DIR"
cleanups=
test_cleanup () { cleanups="$1; $cleanups"; }
test_skip_all () { echo "  skipped: $1"; exit 0; }
trap 'eval "$cleanups" >/dev/null 2>&1' EXIT
. "$TOP/t/lib-pg.sh"
. "$TOP/t/lib-redis.sh"
cd "$TRASH" || exit 1
# smeasure SERVER NAME COMMAND...: measure, then the CPU seconds of the
# command (client) and of the server (pg: the postmaster and its
# processes; redis: redis-server) during it
server_cpu () {
	if [ "$1" = pg ]; then
		_pm=$(head -n 1 "$PG_DATA/postmaster.pid")
		proc_cpu "$_pm" $(pgrep -P "$_pm")
	else
		proc_cpu "$(cat "$TRASH/redis.redis-pid")"
	fi
}
smeasure () {
	_srv=$1
	shift
	# the dirty pages of the load before are written now, not during this one
	[ "$_srv" = pg ] && pg_sql "checkpoint"
	_s0=$(server_cpu "$_srv")
	measure "$@"
	sleep 1 # a backend's time counts once the postmaster has reaped it
	_s1=$(server_cpu "$_srv")
	scpu=$(echo "$_s0 $_s1" | awk '{ printf "%.2f", $2 - $1 }')
	echo "      CPU: client $cpu s, server $scpu s"
}

echo "generating $rows rows x 12 columns, their changes and batches"
gen_warehouse w.db "$rows"
rx-extract --sqlite w.db --query 'select * from t order by id' >rows.ndjson
rx-diff --state s.db --key id <rows.ndjson >changes.ndjson 2>/dev/null
head -n "$tenth" changes.ndjson >tenth.ndjson
rx-batch --size 500 <changes.ndjson >batches.ndjson
rx-batch --size 500 <tenth.ndjson >tenth.batches
rx-batch --profile postgres <changes.ndjson >batches5k.ndjson
rx-batch --profile postgres <tenth.ndjson >tenth5k.batches
sqlite3 -csv w.db 'select * from t order by id' >rows.csv
echo "  $(wc -c <batches.ndjson | awk '{ printf "%.0f", $1 / 1048576 }') MB of batches"
cat >big-redis.json <<'EOF'
{"driver": "redis", "max_records": 5000}
EOF

echo "(a) PostgreSQL"
# autovacuum off: the vacuum and analyze that a million rows loaded by one
# run start would fall into the next run's time and server CPU (and take
# a core from it): each load is measured alone
PG_SERVER_OPTIONS="-c shared_buffers=256MB -c temp_buffers=64MB -c autovacuum=off" pg_start
table () {
	pg_sql "drop table if exists $1; create table $1 (id bigint primary key, email text, first_name text,
	  last_name text, plan text, ltv double precision, orders int, churn_risk double precision, country text,
	  created_at timestamptz, active int, note text)"
}
table t_copy
smeasure pg "psql \\copy t FROM rows.csv (CSV)" "$PSQL" -X -q -c "\\copy t_copy from 'rows.csv' csv"
copy=$secs
table t_rx
smeasure pg "rx-push --profile postgres (batches of 5000)" rx-push --profile postgres --url "" --table t_rx --key id <batches5k.ndjson
rx5k=$secs rx_rss=$rss_kb
printf "%s\n" "    rows: $(pg_query "select count(*) from t_rx") (\\copy: $(pg_query "select count(*) from t_copy"))"
table t_rx
smeasure pg "rx-push, batches of 500" rx-push --profile postgres --url "" --table t_rx --key id <batches.ndjson
rx=$secs
pg_sql "checkpoint"
measure "rx-push, the same again (keys exist: the merge)" rx-push --profile postgres --url "" --table t_rx --key id <batches.ndjson
pagain=$secs
table t_rx
pg_sql "checkpoint"
measure "rx-push, per-record path (no bulk), of 500" sh -c 'echo "{\"driver\":\"postgres\",\"bulk_min_records\":1000000000}" >slow.json &&
	rx-push --profile ./slow.json --url "" --table t_rx --key id <batches.ndjson'
slow=$secs
table t_rx
measure "rx-push, $tenth rows (batches of 5000)" rx-push --profile postgres --url "" --table t_rx --key id <tenth5k.batches
small_rss=$rss_kb
printf "%s\n" "  ratio rx-push (5000) / \\copy:  $(ratio "$rx5k" "$copy")x (goal <= 1.5)"
printf "%s\n" "  ratio rx-push (500) / \\copy:   $(ratio "$rx" "$copy")x"
echo "  ratio per-record / bulk:       $(ratio "$slow" "$rx")x"
echo "  ratio rewrite / first write:   $(ratio "$pagain" "$rx")x"
echo "  peak RSS: $((small_rss / 1024)) MB at $tenth rows, $((rx_rss / 1024)) MB at $rows rows (flat)"
pg_stop

echo "(b) Redis"
redis_start
python3 - <<'PY' >hset.resp
import json, sys
out = sys.stdout.buffer
def arg(s):
    b = s.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)
for line in open("rows.ndjson"):
    r = json.loads(line)
    if "$rx" in r:
        continue
    fields = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in r.items() if v is not None]
    cmd = [b"HSET", ("c:%s" % r["id"]).encode()]
    out.write(b"*%d\r\n" % (2 + 2 * len(fields)) + arg("HSET") + arg("c:%s" % r["id"]))
    for k, v in fields:
        out.write(arg(k) + arg(v))
PY
smeasure redis "redis-cli --pipe (HSET per record)" sh -c "redis-cli -s '$REDIS_SOCK' --pipe <hset.resp"
pipe=$secs
echo "    keys: $(rcli DBSIZE)"
rcli FLUSHALL >/dev/null
smeasure redis "rx-push --profile redis (batches of 500)" rx-push --profile redis --url "$REDIS_SOCK" --table 'c:{key}' <batches.ndjson
rrx=$secs rrx_rss=$rss_kb
echo "    keys: $(rcli DBSIZE)"
measure "rx-push, the same again (keys exist: DEL+HSET)" rx-push --profile redis --url "$REDIS_SOCK" --table 'c:{key}' <batches.ndjson
again=$secs
rcli FLUSHALL >/dev/null
smeasure redis "rx-push, batches of 5000" rx-push --profile ./big-redis.json --url "$REDIS_SOCK" --table 'c:{key}' <batches5k.ndjson
rrx5k=$secs
rcli FLUSHALL >/dev/null
measure "rx-push, $tenth rows" rx-push --profile redis --url "$REDIS_SOCK" --table 'c:{key}' <tenth.batches
rsmall_rss=$rss_kb
echo "  ratio rx-push (500) / redis-cli --pipe:   $(ratio "$rrx" "$pipe")x (goal <= 1.5)"
echo "  ratio rx-push (5000) / redis-cli --pipe:  $(ratio "$rrx5k" "$pipe")x"
echo "  ratio rewrite / first write:              $(ratio "$again" "$rrx")x"
echo "  peak RSS: $((rsmall_rss / 1024)) MB at $tenth rows, $((rrx_rss / 1024)) MB at $rows rows (flat)"

echo "(c) a shared rate budget: 4 shards, one fake limited to 100 requests/s"
redis_start budget tcp
bport=$(cat budget.redis-port)
rm -f fake.port
python3 "$TOP/t/fake/fake-dest.py" --port-file fake.port --rate 100/1 >fake.out 2>&1 &
fake=$!
test_cleanup "kill $fake"
i=0
while [ ! -s fake.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
url=http://127.0.0.1:$(cat fake.port)
for s in 1 2 3 4; do
	awk -v s=$s 'BEGIN { for (i = 1; i <= 300; i++) printf "{\"op\":\"upsert\",\"key\":\"S%d-%d\",\"hash\":\"h\",\"row\":{}}\n", s, i }' >shard$s.ndjson
done
start=$(date +%s.%N)
pids=
for s in 1 2 3 4; do
	rx-push --profile webhook --url "$url" --max-records 1 --concurrency 4 --rate 98/1s \
		--budget "redis://127.0.0.1:$bport/bench" <shard$s.ndjson >/dev/null 2>&1 &
	pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
end=$(date +%s.%N)
curl -sS "$url/_state" | python3 -c '
import json, sys
d = json.load(sys.stdin)
span = d["last_admitted"] - d["first_admitted"]
print("  %d requests in %.1f s: %.1f%% of the limit used (rx --rate 98/1s: at most 96%%), %d answered 429"
      % (d["accepted"], span, 100 * (d["accepted"] - 1) / (span * 100), d["throttled"]))'
echo "  wall time, starts included: $(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }') s"
