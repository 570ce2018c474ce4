#!/bin/sh
# rx-extract --slot: a table's committed changes from a logical
# replication slot (pgoutput) of a real server with wal_level=logical,
# each row byte for byte as --table writes it, deletes as control
# records, a source position after each transaction, and the slot's
# confirmed position never past the one the state stored (issue 17).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"
pg_start logical

# rows FILE: the rows of a feed (no control records)
rows () { grep -v '^{"\$rx":' "$1" || :; }
# wait_rows N FILE: until FILE holds N rows or deletes (10 s at most)
wait_rows () {
	i=0
	while n=$(grep -vc '^{"\$rx":"commit"' "$2" 2>/dev/null); [ "${n:-0}" -lt "$1" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}
# feed_start FILE [OPTION...]: the feed in the background, into FILE
feed_start () {
	out=$1
	shift
	rx-extract --postgres "" --table acct --slot rx_acct --publication rx_pub --state s.db "$@" >"$out" 2>"$out.err" &
	feed_pid=$!
	i=0
	while [ "$(pg_query "select count(*) from pg_replication_slots where active")" != 1 ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}
feed_stop () {
	kill -TERM $feed_pid && wait $feed_pid
}
batch_row () { rx-extract --postgres "" --query "select * from acct where id = $1"; }

test_expect_success 'setup: a table with TOASTed, exact and typed columns, a publication, a slot' '
	pg_sql "create table acct (id int primary key, email text, ltv numeric, at timestamptz, tags text[],
		doc jsonb, pic bytea, note text)" &&
	pg_sql "create table other (id int primary key)" &&
	pg_sql "create publication rx_pub for table acct, other" &&
	pg_sql "select pg_create_logical_replication_slot('"'"'rx_acct'"'"', '"'"'pgoutput'"'"')" &&
	echo "{\"id\":0}" | rx-diff --state s.db --key id >/dev/null
'

test_expect_success 'an insert is the row --table writes, and a position follows its transaction' '
	feed_start f1 &&
	pg_sql "insert into acct values (1, '"'"'a@x.com'"'"', 12345678901234567890.5, '"'"'2024-01-31 12:00+02'"'"',
		'"'"'{a,b}'"'"', '"'"'{\"k\": [1, 2]}'"'"', '"'"'\\x00ff'"'"', repeat('"'"'n'"'"', 30000))" &&
	pg_sql "insert into other values (1)" &&
	wait_rows 1 f1 &&
	feed_stop &&
	batch_row 1 | rows - >expect &&
	rows f1 >actual &&
	test_cmp expect actual &&
	test_grep "\"ltv\":\"12345678901234567890.5\"" actual &&
	test_grep "\"at\":\"2024-01-31T10:00:00+00:00\"" actual &&
	tail -n 1 f1 | grep -q "^{\"\$rx\":\"commit\",\"lsn\":\"[0-9A-F]*/[0-9A-F]*\"}$" &&
	test_must_be_empty f1.err
'

test_expect_success 'an update that leaves a TOASTed column unsent is read again: the same row' '
	feed_start f2 &&
	pg_sql "update acct set email = '"'"'b@x.com'"'"' where id = 1" &&
	wait_rows 2 f2 &&
	feed_stop &&
	batch_row 1 | rows - >expect &&
	rows f2 | tail -n 1 >actual &&
	test_cmp expect actual
'

test_expect_success 'without a stored position the slot replays: at least once' '
	rows f2 | head -n 1 >replayed &&
	rows f1 >first &&
	test_cmp first replayed
'

test_expect_success 'a stored position is confirmed to the slot, and not replayed' '
	pos=$(grep "^{\"\$rx\":\"commit\"" f2 | tail -n 1) &&
	sqlite3 s.db "insert or replace into meta(name, value) values (\"source_position\", '"'"'$pos'"'"')" &&
	feed_start f3 &&
	pg_sql "insert into acct(id, email) values (2, '"'"'c@x.com'"'"')" &&
	wait_rows 1 f3 &&
	feed_stop &&
	rows f3 >actual &&
	test_lines 1 actual &&
	test_grep "\"id\":2," actual &&
	lsn=$(echo "$pos" | jq -r .lsn) &&
	test "$(pg_query "select confirmed_flush_lsn >= '"'"'$lsn'"'"' from pg_replication_slots")" = t
'

test_expect_success 'the slot is confirmed no further than the state: what was not stored comes again' '
	feed_start f4 &&
	wait_rows 1 f4 &&
	feed_stop &&
	rows f4 >actual &&
	test_grep "\"id\":2," actual
'

test_expect_success 'a key change is a delete of the old key, then the new row; a delete sends the key' '
	pos=$(grep "^{\"\$rx\":\"commit\"" f4 | tail -n 1) &&
	sqlite3 s.db "insert or replace into meta(name, value) values (\"source_position\", '"'"'$pos'"'"')" &&
	feed_start f5 &&
	pg_sql "update acct set id = 3 where id = 2" &&
	pg_sql "delete from acct where id = 3" &&
	wait_rows 3 f5 &&
	feed_stop &&
	grep -v "^{\"\$rx\":\"commit\"" f5 | jq -c "if .[\"\$rx\"] then . else {id, email} end" >actual &&
	cat >expect <<-\EOF &&
	{"$rx":"delete","row":{"id":2}}
	{"id":3,"email":"c@x.com"}
	{"$rx":"delete","row":{"id":3}}
	EOF
	test_cmp expect actual &&
	test "$(grep -c "^{\"\$rx\":\"commit\"" f5)" -ge 1
'

test_expect_success 'REPLICA IDENTITY FULL: the unsent TOASTed value comes from the old row; a delete sends all' '
	pos=$(grep "^{\"\$rx\":\"commit\"" f5 | tail -n 1) &&
	sqlite3 s.db "insert or replace into meta(name, value) values (\"source_position\", '"'"'$pos'"'"')" &&
	pg_sql "alter table acct replica identity full" &&
	feed_start f6 &&
	pg_sql "update acct set ltv = 2 where id = 1" &&
	wait_rows 1 f6 &&
	batch_row 1 | rows - >expect &&
	pg_sql "delete from acct where id = 1" &&
	wait_rows 2 f6 &&
	feed_stop &&
	rows f6 | head -n 1 >actual &&
	test_cmp expect actual &&
	grep "^{\"\$rx\":\"delete\"" f6 | jq -c ".row" >deleted &&
	jq -c . expect >was &&
	test_cmp was deleted
'

test_expect_success 'a truncate is a truncate record' '
	pos=$(grep "^{\"\$rx\":\"commit\"" f6 | tail -n 1) &&
	sqlite3 s.db "insert or replace into meta(name, value) values (\"source_position\", '"'"'$pos'"'"')" &&
	feed_start f7 &&
	pg_sql "truncate acct" &&
	wait_rows 1 f7 &&
	feed_stop &&
	grep -v "^{\"\$rx\":\"commit\"" f7 >actual &&
	echo "{\"\$rx\":\"truncate\",\"table\":\"public.acct\"}" >expect &&
	test_cmp expect actual
'

test_expect_success 'a slot in use by another feed: exit 75' '
	feed_start f8 &&
	test_expect_code 75 rx-extract --postgres "" --table acct --slot rx_acct --publication rx_pub --state s.db \
		>/dev/null 2>err &&
	feed_stop &&
	test_grep "is in use" err
'

test_expect_success 'a slot that does not exist is named with the SQL that makes it' '
	test_expect_code 1 rx-extract --postgres "" --table acct --slot nosuch --publication rx_pub --state s.db \
		>out 2>err &&
	test_grep "pg_create_logical_replication_slot('"'"'nosuch'"'"', '"'"'pgoutput'"'"')" err &&
	test_must_be_empty out
'

test_expect_success 'a table outside the publication, or a publication that does not exist, is refused' '
	pg_sql "create table lone (id int primary key)" &&
	test_expect_code 1 rx-extract --postgres "" --table lone --slot rx_acct --publication rx_pub --state s.db \
		2>err &&
	test_grep "is not in publication" err &&
	test_expect_code 1 rx-extract --postgres "" --table acct --slot rx_acct --publication nosuch --state s.db \
		2>err &&
	test_grep "is not in publication" err
'

test_expect_success 'usage: --slot needs --postgres, --table, --publication and --state' '
	test_expect_code 2 rx-extract --postgres "" --table acct --slot rx_acct --state s.db 2>err &&
	test_grep "publication" err &&
	test_expect_code 2 rx-extract --postgres "" --table acct --slot rx_acct --publication rx_pub 2>err &&
	test_grep "state" err &&
	test_expect_code 2 rx-extract --postgres "" --query "select 1" --slot rx_acct --publication rx_pub --state s.db &&
	test_expect_code 2 rx-extract --sqlite x.db --table t --slot rx_acct --publication rx_pub --state s.db
'

test_expect_success 'the slot is dropped (a forgotten slot keeps WAL for ever)' '
	pg_sql "select pg_drop_replication_slot('"'"'rx_acct'"'"')" &&
	test "$(pg_query "select count(*) from pg_replication_slots")" = 0
'

test_done
