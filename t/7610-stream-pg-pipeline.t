#!/bin/sh
# A streaming sync from a real PostgreSQL (wal_level=logical) into a fake
# webhook destination: full sync, then the stream; SIGTERM to rx-extract
# drains the pipeline and every stage exits 0; the slot is confirmed at
# the state's position; and a kill -9 of each stage in turn, the pipeline
# restarted each time as a service manager would, loses nothing: the
# destination equals the table at the end (issue 17).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"
. "$RX_TESTS/lib-fake.sh"
pg_start logical
fake_start -- --family webhook
export FAKE_URL

# the table as the destination should hold it: "ID<TAB>row" sorted
table_rows () {
	rx-extract --postgres "" --table t | grep -v '^{"\$rx"' | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("%s\t%s" % (r["id"], json.dumps(r, sort_keys=True, separators=(",", ":"))))
' | sort
}
# until the destination holds the table (30 s at most)
wait_synced () {
	i=0
	while [ $i -lt 300 ]; do
		table_rows >want && fake_records | sort >got && cmp -s want got && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diff want got | head -n 10 >&2
	return 1
}
# stage NAME CMD...: run CMD in the background as stage NAME: its pid in
# NAME.pid (the program itself, for kill), its exit status in NAME.rc
stage () {
	name=$1
	shift
	rm -f "$name.rc" "$name.pid"
	{ sh -c 'echo $$ >"$0.pid" && exec "$@"' "$name" "$@"; echo $? >"$name.rc"; } &
}
# one pipeline, each stage its own process between FIFOs
pipeline () {
	rm -f p1 p2 p3 p4
	mkfifo p1 p2 p3 p4
	stage extract sh -c 'exec rx-extract --postgres "" --table t --slot rx_t --publication rx_pub --state s.db >p1 2>>extract.err'
	stage diff sh -c 'exec rx-diff --state s.db --key id --mode mirror --stream --max-delete-ratio 1 <p1 >p2 2>>diff.err'
	stage batch sh -c 'exec rx-batch --linger 0 <p2 >p3 2>>batch.err'
	stage push sh -c 'exec rx-push --profile webhook --url "$FAKE_URL" --retry-base 10 <p3 >p4 2>>dead.ndjson'
	stage commit sh -c 'exec rx-diff --state s.db --commit <p4 2>>commit.err'
	for s in extract diff batch push commit; do
		while [ ! -s $s.pid ]; do sleep 0.01; done
	done
}
# the stages' exit statuses, once they have all ended (30 s at most)
stage_rcs () {
	for s in extract diff batch push commit; do
		i=0
		while [ ! -s $s.rc ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		printf "%s " "$(cat $s.rc 2>/dev/null)"
	done
}
# the pipeline again and again until the file "stop" exists
supervise () {
	while [ ! -f stop ]; do
		pipeline
		stage_rcs >>rcs
		echo >>rcs
		sleep 0.1
	done
}
# kill -9 the live process of stage NAME (the pipeline may be restarting)
kill_stage () {
	i=0
	while [ $i -lt 100 ]; do
		pid=$(cat "$1.pid" 2>/dev/null) &&
			[ ! -s "$1.rc" ] && kill -KILL "$pid" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}
test_cleanup 'touch "$TRASH/stop"; for s in extract diff batch push commit; do kill -KILL $(cat "$TRASH/$s.pid"); done'
writer () {
	i=$1
	while [ $i -lt $2 ]; do
		echo "insert into t values ($i, 'n$i', $i);"
		echo "update t set v = v + 1 where id = $((i - 3));"
		[ $((i % 7)) = 0 ] && echo "delete from t where id = $((i - 5));"
		i=$((i + 1))
		sleep 0.01
	done | "$PSQL" -X -q -v ON_ERROR_STOP=1 >/dev/null
}

test_expect_success 'setup: a table, its publication and slot, and a full sync' '
	pg_sql "create table t (id int primary key, name text, v int)" &&
	pg_sql "insert into t select g, '"'"'n'"'"' || g, g from generate_series(1, 50) g" &&
	pg_sql "create publication rx_pub for table t" &&
	pg_sql "select pg_create_logical_replication_slot('"'"'rx_t'"'"', '"'"'pgoutput'"'"')" &&
	rx-extract --postgres "" --table t | rx-diff --state s.db --key id --mode mirror |
		rx-batch | rx-push --profile webhook --url "$FAKE_URL" | rx-diff --state s.db --commit &&
	wait_synced
'

test_expect_success 'the stream: inserts, updates and deletes reach the destination' '
	pipeline &&
	pg_sql "update t set name = '"'"'changed'"'"' where id = 1" &&
	pg_sql "delete from t where id = 2" &&
	pg_sql "insert into t values (51, '"'"'new'"'"', 51)" &&
	wait_synced
'

test_expect_success 'SIGTERM to rx-extract drains the pipeline: every stage exits 0' '
	kill -TERM "$(cat extract.pid)" &&
	test "$(stage_rcs)" = "0 0 0 0 0 " &&
	test_must_be_empty dead.ndjson &&
	pos=$(sqlite3 s.db "select value from meta where name = \"source_position\"" | jq -r .lsn) &&
	test -n "$pos" &&
	test "$(pg_query "select confirmed_flush_lsn = '"'"'$pos'"'"' from pg_replication_slots")" = t &&
	test "$(sqlite3 s.db "select status from runs order by id desc limit 1")" = committed
'

test_expect_success 'a restarted stream replays nothing: the destination gets no request' '
	before=$(fake_count fake requests) &&
	pipeline &&
	sleep 1 &&
	kill -TERM "$(cat extract.pid)" &&
	test "$(stage_rcs)" = "0 0 0 0 0 " &&
	test "$(fake_count fake requests)" = "$before"
'

test_expect_success 'kill -9 of each stage in turn, restarted each time: the destination equals the table' '
	rm -f stop rcs &&
	{ supervise & } &&
	{ writer 100 400 & writer_pid=$!; } &&
	for s in extract diff batch push commit; do
		sleep 0.6 &&
		kill_stage $s || return 1
	done &&
	wait $writer_pid &&
	wait_synced &&
	touch stop &&
	kill -TERM "$(cat extract.pid)" &&
	i=0 && while [ "$(wc -l <rcs)" -lt 6 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done &&
	tail -n 1 rcs >last &&
	echo "0 0 0 0 0 " >expect &&
	test_cmp expect last &&
	test "$(sqlite3 s.db "select count(*) from snapshot")" = "$(pg_query "select count(*) from t")"
'

test_expect_success 'the slot is dropped' '
	pg_sql "select pg_drop_replication_slot('"'"'rx_t'"'"')"
'

test_done
