#!/bin/sh
# The postgres driver's bulk path: a batch of bulk_min_records or more
# is COPYed into a temporary table and merged with one statement (the
# server's statement log proves which path a batch took); values land
# exactly as the per-record path writes them; a batch the merge refuses
# (a constraint, a bad value, a key twice) falls back to the per-record
# path, which dead-letters only the records at fault.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"

cat >setup.sql <<'SQL'
create table app (id int primary key, email text unique, ltv numeric, big int8,
  active bool, tags text[], doc jsonb, raw json, photo bytea, seen timestamptz, code varchar(5),
  note text not null default '', check (ltv is null or ltv >= 0));
create table slow (like app including all);
create table direct (like app including all);
create function crash() returns trigger language plpgsql as $$
begin
  if new.id = 666 then perform pg_terminate_backend(pg_backend_pid()); end if;
  return new;
end $$;
create table fragile (id int primary key, v text);
create trigger crash before insert on fragile for each row execute function crash();
alter system set log_statement = 'all';
select pg_reload_conf();
SQL

pg_start

# one profile per path: the default threshold, and one that never bulks
cat >slow.json <<'EOF'
{"driver": "postgres", "max_records": 500, "bulk_min_records": 1000000000}
EOF

# changes OP N [ROW-JQ]: N changes of op OP, keys 1..N, rows from the jq
# program (given .n)
changes () {
	seq 1 "$2" | jq -c --arg op "$1" "{op: \$op, key: ., hash: \"h\", row: (. as \$n | {n: .} | ${3:-{id: .n\}})}"
}

batch () {
	rx-batch --size 500 "$@"
}

# log_since MARK: the server's statement log after the line MARK
mark () {
	wc -l <"$PG_LOG" | tr -d " "
}
log_since () {
	sed -n "$(($1 + 1)),\$p" "$PG_LOG"
}

test_expect_success 'setup: the tables, every statement logged' '
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -f setup.sql >/dev/null &&
	sleep 0.2
'

# numbers beyond a double, written by awk (jq 1.6 would round them)
cat >exact.awk <<'AWK'
{ printf "{\"op\":\"upsert\",\"key\":%d,\"hash\":\"h\",\"row\":{\"id\":%d,\"ltv\":12345678901234567890.123456789,\"big\":\"-9223372036854775808\",\"raw\":{\"b\":1,\"a\":12345678901234567890}}}\n", $1, $1 }
AWK

ROW='{id: .n, email: "u\(.n)@x.com", ltv: (.n * 1.25), big: "9223372036854775\(100 + .n % 700)",
  active: (.n % 2 == 0), tags: ["a\tb", "c\\d", null], doc: {plan: "pro", n: [.n, 1.5]}, raw: "just text",
  photo: "AP8Q", seen: "2024-01-31T10:30:00+00:00", code: "ab", note: "line\none \\N caf\u00e9"}'

test_expect_success 'a big batch takes the bulk path: one COPY and one merge, no per-record statement' '
	changes upsert 300 "$ROW" >big.ndjson &&
	m=$(mark) &&
	batch <big.ndjson | rx-push --profile postgres --url "" --table app --key id >acks 2>err &&
	test_lines 300 acks &&
	test_must_be_empty err &&
	sleep 0.3 &&
	log_since "$m" >log &&
	test "$(grep -c "COPY pg_temp.rx_bulk_[0-9]* (\"id\", \"email\"" log)" = 1 &&
	test "$(grep -c "INSERT INTO app (.*) SELECT .* FROM pg_temp.rx_bulk_[0-9]* ON CONFLICT (\"id\") DO UPDATE SET" log)" = 1 &&
	! grep -q "SAVEPOINT rx_record" log &&
	test "$(pg_query "select count(*) from app")" = 300
'

test_expect_success 'a small batch keeps the per-record path' '
	changes upsert 20 "{id: (.n + 1000)}" >small.ndjson &&
	m=$(mark) &&
	batch <small.ndjson | rx-push --profile postgres --url "" --table app --key id >acks &&
	test_lines 20 acks &&
	sleep 0.3 &&
	log_since "$m" >log &&
	! grep -q "COPY " log &&
	test "$(grep -c "SAVEPOINT rx_record" log)" -ge 20
'

dump () {
	pg_query "select id, email, ltv, big, active, tags, doc, raw, encode(photo, 'base64'), seen, code, note from $1 where id <= 300 order by id"
}

test_expect_success 'values land exactly as the per-record path writes them' '
	batch <big.ndjson | rx-push --profile ./slow.json --url "" --table slow --key id >acks &&
	test_lines 300 acks &&
	dump app >bulk.rows && dump slow >slow.rows &&
	test "$(pg_query "select count(*) from slow")" = 300 &&
	test_cmp slow.rows bulk.rows &&
	pg_query "select id, ltv, big, tags, doc, raw, encode(photo, '"'"'base64'"'"'), note from app where id = 7" >one &&
	cat >expect <<-\EOF &&
	7|8.75|9223372036854775107|{"a	b","c\\d",NULL}|{"n": [7, 1.5], "plan": "pro"}|"just text"|AP8Q|line
	one \N café
	EOF
	test_cmp expect one
'

test_expect_success 'big numbers and JSON text round trip exactly' '
	seq 2001 2150 | awk -f exact.awk >exact.ndjson &&
	batch <exact.ndjson | rx-push --profile postgres --url "" --table app --key id >acks &&
	test_lines 150 acks &&
	pg_query "select distinct ltv, big, raw::text from app where id > 2000" >got &&
	echo "12345678901234567890.123456789|-9223372036854775808|{\"b\":1,\"a\":12345678901234567890}" >expect &&
	test_cmp expect got
'

test_expect_success 'a constraint violation in a bulk batch dead-letters only its record' '
	changes upsert 200 "{id: (.n + 3000), email: (if .n == 57 then \"u1@x.com\" else \"v\(.n)@x.com\" end), ltv: (if .n == 120 then -1 else 1 end)}" >bad.ndjson &&
	m=$(mark) &&
	test_expect_code 3 sh -c "rx-batch --size 500 <bad.ndjson | rx-push --profile postgres --url \"\" --table app --key id" >acks 2>err &&
	test_lines 198 acks &&
	grep "^{" err | jq -r ".key" >dead &&
	printf "57\n120\n" >expect && test_cmp expect dead &&
	test_grep "duplicate key value violates unique constraint \\\\\"app_email_key\\\\\"" err &&
	test_grep "violates check constraint \\\\\"app_ltv_check\\\\\"" err &&
	test "$(pg_query "select count(*) from app where id > 3000 and id < 4000")" = 198 &&
	sleep 0.3 &&
	log_since "$m" >log &&
	test_grep "ROLLBACK TO SAVEPOINT rx_bulk" log &&
	test_grep "SAVEPOINT rx_record" log
'

test_expect_success 'a value its column refuses (COPY fails): only that record' '
	changes upsert 120 "{id: (.n + 4000), code: (if .n == 9 then \"toolong\" else \"ok\" end), active: (if .n == 10 then \"maybe\" else true end)}" >val.ndjson &&
	test_expect_code 3 sh -c "rx-batch --size 500 <val.ndjson | rx-push --profile postgres --url \"\" --table app --key id" >acks 2>err &&
	test_lines 118 acks &&
	grep "^{" err | jq -r ".key" >dead &&
	printf "9\n10\n" >expect && test_cmp expect dead &&
	test_grep "value too long for type character varying(5)" err &&
	test_grep "invalid input syntax for type boolean" err
'

test_expect_success 'bulk update: a key found nowhere rejects its record; the rest updated' '
	changes update 150 "{id: (if .n == 150 then 99999 else .n end), note: \"updated\"}" >upd.ndjson &&
	m=$(mark) &&
	test_expect_code 3 sh -c "rx-batch --size 500 <upd.ndjson | rx-push --profile postgres --url \"\" --table app --key id" >acks 2>err &&
	test_lines 149 acks &&
	test_grep "no row with this key in app" err &&
	test "$(pg_query "select count(*) from app where note = '"'"'updated'"'"'")" = 149 &&
	sleep 0.3 && log_since "$m" >log &&
	test_grep "UPDATE app AS t SET .* FROM pg_temp.rx_bulk_.* RETURNING" log
'

test_expect_success 'bulk update with a key twice: per record, the last one wins' '
	changes update 120 "{id: (if .n == 120 then 1 else .n end), note: \"u\(.n)\"}" >twice.ndjson &&
	sh -c "rx-batch --size 500 <twice.ndjson | rx-push --profile postgres --url \"\" --table app --key id" >acks 2>err &&
	test_lines 120 acks &&
	test "$(pg_query "select note from app where id = 1")" = u120
'

test_expect_success 'bulk insert: a key already there falls back and rejects only it' '
	changes insert 110 "{id: (if .n == 5 then 1 else .n + 5000 end)}" >ins.ndjson &&
	test_expect_code 3 sh -c "rx-batch --size 500 <ins.ndjson | rx-push --profile postgres --url \"\" --table app --key id" >acks 2>err &&
	test_lines 109 acks &&
	test_grep "Key (id)=(1) already exists" err
'

test_expect_success 'bulk delete: by the key, a row already gone is done' '
	changes delete 160 "{id: (.n + 5000), email: \"ignored\"}" >del.ndjson &&
	m=$(mark) &&
	batch <del.ndjson | rx-push --profile postgres --url "" --table app --key id >acks &&
	test_lines 160 acks &&
	test "$(pg_query "select count(*) from app where id > 5000 and id < 6000")" = 0 &&
	sleep 0.3 && log_since "$m" >log &&
	test_grep "DELETE FROM app AS t USING pg_temp.rx_bulk_" log
'

test_expect_success 'a batch of two member lists: the larger part bulk, the rest per record' '
	{ changes upsert 130 "{id: (.n + 6000), email: \"w\(.n)@x.com\"}"; changes upsert 3 "{id: (.n + 6200), ltv: 5}"; } >mixed.ndjson &&
	batch <mixed.ndjson | rx-push --profile postgres --url "" --table app --key id >acks &&
	test_lines 133 acks &&
	test "$(pg_query "select count(*) from app where id > 6000 and id < 7000")" = 133
'

DIRECT='{id: .n, email: "d\(.n)@x.com", ltv: (.n * 1.25), big: "9223372036854775\(100 + .n % 700)",
  active: (.n % 2 == 0), tags: ["a\tb", null], doc: {n: [.n, 1.5]}, raw: "t", seen: "2024-01-31T10:30:00+00:00",
  code: "ab", note: "line\none \\N"}'

test_expect_success 'insert or upsert of keys new to the table: COPY straight into it, no merge' '
	changes upsert 300 "$DIRECT" >direct.ndjson &&
	m=$(mark) &&
	batch <direct.ndjson | rx-push --profile postgres --url "" --table direct --key id >acks 2>err &&
	test_lines 300 acks &&
	test_must_be_empty err &&
	sleep 0.3 && log_since "$m" >log &&
	test "$(grep -c "SAVEPOINT rx_bulk; COPY direct (\"id\", \"email\"" log)" = 1 &&
	! grep -q "COPY pg_temp.rx_bulk" log &&
	! grep -q "SAVEPOINT rx_record" log &&
	batch <direct.ndjson | rx-push --profile ./slow.json --url "" --table slow --key id >/dev/null &&
	pg_query "select id, email, ltv, big, active, tags, doc, raw, seen, code, note from direct order by id" >direct.rows &&
	pg_query "select id, email, ltv, big, active, tags, doc, raw, seen, code, note from slow where email like '"'"'d%'"'"' order by id" >slow.rows &&
	test "$(pg_query "select count(*) from direct")" = 300 &&
	test_cmp slow.rows direct.rows
'

test_expect_success 'a key already in the table: the batch falls back to the merge, every record upserted' '
	changes upsert 300 "{id: (.n + 1000), note: \"new\", email: (if .n == 290 then \"d1@x.com\" else null end)}" >again.ndjson &&
	pg_sql "insert into direct (id, note) values (1007, '"'"'old'"'"'), (1157, '"'"'old'"'"')" &&
	m=$(mark) &&
	test_expect_code 3 sh -c "rx-batch --size 150 <again.ndjson | rx-push --profile postgres --url \"\" --table direct --key id" >acks 2>err &&
	test_lines 299 acks &&
	grep "^{" err | jq -r ".key" >dead &&
	echo 290 >expect && test_cmp expect dead &&
	test_grep "direct_email_key" err &&
	test "$(pg_query "select count(*) from direct where id > 1000 and note = '"'"'new'"'"'")" = 299 &&
	test "$(pg_query "select count(*) from direct where note = '"'"'old'"'"'")" = 0 &&
	sleep 0.3 && log_since "$m" >log &&
	test "$(grep -c "statement: .*SAVEPOINT rx_bulk; COPY direct " log)" = 1 &&
	test "$(grep -c "statement: .*COPY pg_temp.rx_bulk_[0-9]* " log)" = 2 &&
	test_grep "ROLLBACK TO SAVEPOINT rx_bulk" log
'

test_expect_success 'the connection lost during the merge: the batch fails whole, nothing committed' '
	changes upsert 150 "{id: (if .n == 77 then 666 else .n end), v: \"x\"}" >frag.ndjson &&
	test_expect_code 75 sh -c "rx-batch --size 500 <frag.ndjson | rx-push --profile postgres --url \"\" --table fragile --key id --max-attempts 1" >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "150 records left unacked" err &&
	test "$(pg_query "select count(*) from fragile")" = 0
'

test_done
