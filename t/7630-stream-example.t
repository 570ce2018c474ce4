#!/bin/sh
# examples/stream-pg.sh runs as written against a real PostgreSQL with
# wal_level=logical: it makes its publication and slot, syncs the table in
# full, streams its changes, and stops on SIGTERM with exit 0; started
# again it resumes without a full sync; FOLLOW= polls instead (issue 17).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"
. "$RX_TESTS/lib-fake.sh"
pg_start logical
fake_start -- --family webhook
cp -R "$RX_TOP/examples" ex && rm -rf ex/state || exit 1

table_rows () {
	rx-extract --postgres "" --table "$1" | grep -v '^{"\$rx"' | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("%s\t%s" % (r["id"], json.dumps(r, sort_keys=True, separators=(",", ":"))))
' | sort
}
wait_synced () {
	i=0
	while [ $i -lt 200 ]; do
		table_rows "$1" >want && fake_records | sort >got && cmp -s want got && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diff want got | head -n 10 >&2
	return 1
}
run_example () {
	PG= TABLE=$1 WEBHOOK_URL=$FAKE_URL STATE_DIR=$TRASH/state FOLLOW=${2:-} ex/stream-pg.sh >example.out 2>example.err &
	example=$!
	echo $example >example.pid
}
test_cleanup 'kill "$(cat "$TRASH/example.pid")"'

test_expect_success 'setup: a table' '
	pg_sql "create table customers (id int primary key, email text, updated_at timestamptz default now())" &&
	pg_sql "insert into customers(id, email) select g, '"'"'u'"'"' || g || '"'"'@x.com'"'"' from generate_series(1, 20) g"
'

test_expect_success 'the first start: publication, slot, full sync, then the stream' '
	run_example customers &&
	wait_synced customers &&
	test "$(pg_query "select count(*) from pg_replication_slots where slot_name = '"'"'rx_customers'"'"'")" = 1 &&
	pg_sql "update customers set email = '"'"'new@x.com'"'"' where id = 1" &&
	pg_sql "delete from customers where id = 2" &&
	pg_sql "insert into customers(id, email) values (21, '"'"'v@x.com'"'"')" &&
	wait_synced customers &&
	kill -TERM $example &&
	wait $example &&
	test_must_be_empty state/stream-customers.dead-letters.ndjson
'

test_expect_success 'started again: no full sync, the stream resumes where it stopped' '
	pg_sql "update customers set email = '"'"'while@x.com'"'"' where id = 3" &&
	before=$(fake_count fake requests) &&
	run_example customers &&
	wait_synced customers &&
	kill -TERM $example &&
	wait $example &&
	test "$(fake_count fake requests)" = $((before + 1))
'

test_expect_success 'FOLLOW=updated_at: the same table by polling' '
	pg_sql "create table leads (id int primary key, name text, updated_at timestamptz not null default now())" &&
	pg_sql "insert into leads(id, name) values (100, '"'"'a'"'"')" &&
	run_example leads updated_at &&
	i=0 && while ! fake_records | grep -q "^100	" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done &&
	pg_sql "insert into leads(id, name) values (101, '"'"'b'"'"')" &&
	i=0 && while ! fake_records | grep -q "^101	" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done &&
	kill -TERM $example &&
	wait $example &&
	fake_records >rows &&
	test_grep "^101	{\"id\":101,\"name\":\"b\"," rows || { cat example.err; false; }
'

test_expect_success 'the slot is dropped' '
	pg_sql "select pg_drop_replication_slot('"'"'rx_customers'"'"')"
'

test_done
