#!/bin/sh
# bench/80-latency.sh - a streaming sync's latency (docs/streaming.md).
#
# A writer (bench/latency-writer.py into psql, synchronous_commit on)
# commits changes into a PostgreSQL table (wal_level=logical, a throwaway
# server from t/lib-pg.sh) at 100, 1,000 and 10,000 rows/s for
# BENCH_LATENCY_SECONDS (default 30): four inserts to one update, one
# transaction a millisecond.  Two ways to carry them to a loopback HTTP
# destination (bench/latency-dest.py, which logs when each record came):
#
#   rx   rx-extract --slot | rx-diff --stream | rx-batch --linger 0
#        | rx-push --profile webhook | rx-diff --commit
#   poll the loop a user would otherwise write: every 200 ms psql selects
#        the rows past the last id (as JSON) and curl POSTs them (it sees
#        inserts only: an id cursor misses updates)
#
# Latency is the destination's receipt minus the row's "ts", the
# clock_timestamp() the writer put in it just before its commit (one
# host, one clock).  Printed per rate: the writer's achieved rate, p50,
# p99 and max of each, and whether each kept up (every change delivered,
# and how long after the writer stopped the last one came).  Then a crash
# run at 1,000 rows/s with deletes: kill -9 of each stage once, the
# pipeline restarted each time as a service manager would, and the
# destination compared with the table at the end.  Nothing is asserted;
# the machine's load average is printed beside the figures.
. "$(dirname "$0")/lib.sh"
SECS=${BENCH_LATENCY_SECONDS:-30}
RATES=${BENCH_LATENCY_RATES:-"100 1000 10000"}
BENCH=$(cd "$(dirname "$0")" && pwd)

TRASH=$BENCH_DIR/latency
mkdir -p "$TRASH" && chmod 755 "$BENCH_DIR" "$TRASH" && cd "$TRASH" || exit 1
pg_cleanups=
test_cleanup () { pg_cleanups="$1; $pg_cleanups"; }
test_skip_all () { echo "  skipped: $1"; exit 0; }
trap 'touch "$TRASH/stop"; for s in extract diff batch push commit; do kill -KILL "$(cat "$TRASH/$s.pid" 2>/dev/null)" 2>/dev/null; done; kill "$dest" 2>/dev/null; eval "$pg_cleanups" >/dev/null 2>&1' EXIT
. "$BENCH/../t/lib-pg.sh"
pg_start logical

python3 "$BENCH/latency-dest.py" --port-file dest.port --log dest.log &
dest=$!
i=0
while [ ! -s dest.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
URL=http://127.0.0.1:$(cat dest.port)
export URL

pg_sql "create table ev (id bigint primary key, v int not null, note text, ts float8 not null)" &&
pg_sql "create publication rx_pub for table ev" || exit 1

# fresh: an empty table, a new slot, a new state
reset () {
	pg_sql "truncate ev"
	pg_sql "select pg_drop_replication_slot('rx_ev') from pg_replication_slots where slot_name = 'rx_ev'"
	pg_sql "select pg_create_logical_replication_slot('rx_ev', 'pgoutput')"
	rm -f s.db s.db-wal s.db-shm stop
	: >dest.log.mark
}

# stage NAME CMD: CMD in the background, its pid in NAME.pid, its exit
# status in NAME.rc
stage () {
	name=$1
	shift
	rm -f "$name.rc" "$name.pid"
	{ sh -c 'echo $$ >"$0.pid" && exec sh -c "$1"' "$name" "$1"; echo $? >"$name.rc"; } &
}
pipeline () {
	rm -f p1 p2 p3 p4
	mkfifo p1 p2 p3 p4
	stage extract 'exec rx-extract --postgres "" --table ev --slot rx_ev --publication rx_pub --state s.db >p1 2>>rx.err'
	stage diff 'exec rx-diff --state s.db --key id --mode mirror --stream --max-delete-ratio 1 <p1 >p2 2>>rx.err'
	stage batch 'exec rx-batch --linger 0 <p2 >p3 2>>rx.err'
	stage push 'exec rx-push --profile webhook --url "$URL$RXPATH" <p3 >p4 2>>rx.dead'
	stage commit 'exec rx-diff --state s.db --commit <p4 2>>rx.err'
	for s in extract diff batch push commit; do
		while [ ! -s $s.pid ]; do sleep 0.01; done
	done
	i=0
	while [ "$(pg_query "select count(*) from pg_replication_slots where active")" != 1 ] && [ ! -s extract.rc ] &&
		[ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}
pipeline_wait () {
	for s in extract diff batch push commit; do
		i=0
		while [ ! -s $s.rc ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
		[ -s $s.rc ] || kill -KILL "$(cat $s.pid)" 2>/dev/null
	done
}
supervise () {
	while [ ! -f stop ]; do
		pipeline
		pipeline_wait
		echo restart >>restarts
		sleep 0.2
	done
}
# peak RSS (kB) of each stage, read before it ends
peaks () {
	for s in extract diff batch push commit; do
		printf '%s %s  ' $s "$(awk '/VmHWM/ { print $2 }' /proc/"$(cat $s.pid)"/status 2>/dev/null)"
	done
}

# the loop a user would write: the rows past the last id, as one JSON
# array (the largest id on the line before it), POSTed when not empty
poll_loop () {
	last=0
	while [ ! -f stop ]; do
		"$PSQL" -X -A -t -c "select coalesce(max(id), $last) || chr(10) || coalesce(json_agg(t)::text, '[]')
			from (select * from ev where id > $last order by id) t" >poll.out
		last=$(head -n 1 poll.out)
		if [ "$(sed -n 2p poll.out)" != "[]" ]; then
			tail -n +2 poll.out | curl -s -X POST -H 'Content-Type: application/json' --data-binary @- \
				"$URL$POLLPATH" >/dev/null
		fi
		sleep 0.2
	done
}

# write RATE [--deletes]: the writer for SECS; its changes in writer.out
write () {
	rate=$1
	shift
	{ echo "set synchronous_commit = on;"; python3 "$BENCH/latency-writer.py" "$rate" "$SECS" "$@"; } |
		"$PSQL" -X -q -v ON_ERROR_STOP=1 >writer.out 2>writer.err
	date +%s.%N >writer.end
}

# stats PATH WANT: p50, p99, max (ms) of PATH's records logged since the
# mark, and whether WANT changes came
stats () {
	python3 - "$1" "$2" "$(cat writer.end)" "$(cat writer.start)" <<'PY'
import sys
path, want, end, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
seen = {}
for line in open("dest.log"):
    p, key, ts, arrival = line.split()
    if p != path or float(ts) < start:
        continue
    k = (key, ts)
    if k not in seen:
        seen[k] = (float(arrival) - float(ts), float(arrival))
lat = sorted(v[0] for v in seen.values())
n = len(lat)
if n == 0:
    print("      -        -        -   0 delivered")
    sys.exit()
last = max(v[1] for v in seen.values())
q = lambda f: lat[min(n - 1, int(n * f))] * 1000
kept = "kept up" if n >= want and last - end < 5 else "BEHIND"
print("%7.1f  %7.1f  %7.1f   %d/%d delivered, the last %.2f s after the writer stopped: %s" % (
    q(0.5), q(0.99), lat[-1] * 1000, n, want, last - end, kept))
PY
}

# the changes a writer made, and how many were inserts
changes () { sed -n 's/^writer-done \([0-9]*\) .*/\1/p' writer.out; }
inserts () { pg_query "select count(*) from ev"; }

echo "  streaming latency, $SECS s a rate, source commit to destination receipt (ms); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %-8s %-9s %-4s %7s  %7s  %7s\n' rate achieved how p50 p99 max
summary=
for rate in $RATES; do
	reset
	RXPATH=/rx-$rate
	export RXPATH
	pipeline
	date +%s.%N >writer.start
	write "$rate"
	n=$(changes)
	achieved=$(echo "$n / $SECS" | bc)
	i=0
	while [ $i -lt 100 ]; do
		got=$(awk -v p="$RXPATH" '$1 == p' dest.log | sort -u -k2,3 | wc -l)
		[ "$got" -ge "$n" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	mem=$(peaks)
	wal=$(stat -c %s s.db-wal 2>/dev/null || echo 0)
	kill -TERM "$(cat extract.pid)"
	pipeline_wait
	line=$(stats "$RXPATH" "$n")
	printf '  %-8s %-9s %-4s %s\n' "$rate/s" "$achieved/s" rx "$line"
	rx_p99=$(echo "$line" | awk '{ print $2 }')
	echo "           peak RSS kB: $mem state WAL: $((wal / 1024)) kB"

	pg_sql "truncate ev"
	rm -f stop
	POLLPATH=/poll-$rate
	poll_loop &
	poller=$!
	date +%s.%N >writer.start
	write "$rate"
	n=$(inserts)
	i=0
	while [ $i -lt 100 ]; do
		got=$(awk -v p="$POLLPATH" '$1 == p' dest.log | sort -u -k2,3 | wc -l)
		[ "$got" -ge "$n" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	touch stop
	wait $poller
	line=$(stats "$POLLPATH" "$n")
	printf '  %-8s %-9s %-4s %s\n' "" "" poll "$line"
	poll_p99=$(echo "$line" | awk '{ print $2 }')
	summary="$summary  $rate/s: rx p99 / poll p99 = $(ratio "$rx_p99" "$poll_p99") (goal <= 0.5)
"
done
printf '%s' "$summary"
echo "  goal: rx p99 under 100 ms at 1000/s, <= 0.5x the polling loop's p99 at every rate, keeping up at 10000/s"

# the crash run: each stage killed once while the writer runs, the
# pipeline restarted each time
reset
RXPATH=/rx-crash
export RXPATH
rm -f restarts
supervise &
supervisor=$!
date +%s.%N >writer.start
{ write 1000 --deletes & } 
writer=$!
step=$(echo "$SECS / 6" | bc -l)
for s in extract diff batch push commit; do
	sleep "$step"
	i=0
	while [ $i -lt 100 ]; do
		[ ! -s $s.rc ] && kill -KILL "$(cat $s.pid 2>/dev/null)" 2>/dev/null && break
		sleep 0.05
		i=$((i + 1))
	done
done
wait $writer
# the destination against the table, until they agree (30 s at most)
table () {
	rx-extract --postgres "" --table ev | grep -v '^{"\$rx"' | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l); print("%s %s" % (r["id"], json.dumps(r, sort_keys=True)))' | sort
}
dest_rows () {
	curl -s "$URL/_rows?path=$RXPATH" | python3 -c '
import json, sys
for k, r in json.load(sys.stdin).items(): print("%s %s" % (k, json.dumps(r, sort_keys=True)))' | sort
}
i=0
while [ $i -lt 60 ]; do
	table >want && dest_rows >got && cmp -s want got && break
	sleep 0.5
	i=$((i + 1))
done
touch stop
kill -TERM "$(cat extract.pid)" 2>/dev/null
wait $supervisor
if cmp -s want got; then verdict="equal to the table ($(wc -l <want) rows)"; else
	verdict="NOT equal: $(diff want got | grep -c '^[<>]') rows differ"; fi
echo "  crash run: 1000/s for $SECS s, kill -9 of each stage once, $(wc -l <restarts) pipelines; the destination is $verdict"
echo "             latency over the run (restarts included): $(stats "$RXPATH" "$(changes)" | awk '{ printf "p50 %s ms, p99 %s ms, max %s ms", $1, $2, $3 }')"
