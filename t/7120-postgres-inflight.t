#!/bin/sh
# The postgres driver with batches in flight: while the server runs one
# bulk batch, rx-push checks the next and writes its COPY data; each batch
# is still its own transaction, run in order, acked only after its COMMIT.
# A batch falling back to the per-record path, a lost connection and its
# retry, with the next batch already written, keep exact per-record
# results.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"

cat >setup.sql <<'SQL'
create table app (id int primary key, email text unique, v text);
create sequence once;
create function crash() returns trigger language plpgsql as $$
begin
  if new.id = 666 and nextval('once') = 1 then perform pg_terminate_backend(pg_backend_pid()); end if;
  return new;
end $$;
create table fragile (id int primary key, v text);
create trigger crash before insert on fragile for each row execute function crash();
create table always (id int primary key, v text);
create table tricky (id int primary key, v text, n numeric, j jsonb, b bool);
create table tricky2 (like tricky including all);
create trigger crash before insert on always for each row
  execute function crash();
SQL

pg_start

# changes N FROM [ROW-JQ]: N upserts, keys FROM+1..FROM+N
changes () {
	seq $(($2 + 1)) $(($2 + $1)) |
	jq -c "{op: \"upsert\", key: ., hash: \"h\", row: (. as \$n | {n: .} | ${3:-{id: .n, v: \"x\"\}})}"
}

test_expect_success 'setup' '
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -f setup.sql >/dev/null
'

test_expect_success 'eight bulk batches: every record acked once, in the table' '
	changes 1200 0 >c1 &&
	rx-batch --size 150 <c1 | rx-push --profile postgres --url "" --table app --key id >acks 2>err &&
	test_must_be_empty err &&
	test_lines 1200 acks &&
	jq -r .key acks | sort -n | uniq | wc -l | tr -d " " >n && echo 1200 >expect && test_cmp expect n &&
	test "$(pg_query "select count(*) from app")" = 1200
'

test_expect_success 'a batch falling back to the per-record path between bulk ones: only its bad record' '
	pg_sql "insert into app values (5000, '"'"'taken@x.com'"'"', '"'"'x'"'"')" &&
	changes 900 2000 "{id: .n, email: (if .n == 2400 then \"taken@x.com\" else \"u\(.n)@x.com\" end)}" >c2 &&
	test_expect_code 3 sh -c "rx-batch --size 150 <c2 | rx-push --profile postgres --url \"\" --table app --key id" >acks 2>err &&
	test_lines 899 acks &&
	grep "^{" err | jq -r .key >dead && echo 2400 >expect && test_cmp expect dead &&
	test "$(pg_query "select count(*) from app where id > 2000 and id <= 2900")" = 899
'

test_expect_success 'the connection lost in one batch of several: retried after the later ones, all land once' '
	changes 600 0 "{id: (if .n == 300 then 666 else .n end), v: \"y\"}" >c3 &&
	rx-batch --size 150 <c3 | rx-push --profile postgres --url "" --table fragile --key id --retry-base 10 >acks 2>err &&
	test_lines 600 acks &&
	test "$(pg_query "select last_value from once")" = 2 &&
	jq -r .key acks | sort -n | uniq | wc -l | tr -d " " >n && echo 600 >expect && test_cmp expect n &&
	test "$(pg_query "select count(*) from fragile")" = 600
'

test_expect_success 'a batch failing for good: its records unacked and not in the table; acked ones are' '
	pg_sql "select setval('"'"'once'"'"', 1, false)" &&
	changes 600 0 "{id: (if .n == 300 then 666 else .n end), v: \"z\"}" >c4 &&
	test_expect_code 75 sh -c "rx-batch --size 150 <c4 | rx-push --profile postgres --url \"\" --table always --key id --max-attempts 1" >acks 2>err &&
	test_grep "records left unacked" err &&
	pg_query "select id from always order by id" >table &&
	jq -r .key acks | sort -n >acked &&
	test_cmp acked table &&
	! grep -qx 666 table &&
	! grep -qx 226 table
'

test_expect_success 'rows of one shape, then one naming another column, a null key, members reordered' '
	cat >odd.ndjson <<-\EOF &&
	{"op":"upsert","key":7001,"hash":"h","row":{"id":7001,"v":"a"}}
	{"op":"upsert","key":7002,"hash":"h","row":{"id":7002,"w":"b"}}
	{"op":"upsert","key":7003,"hash":"h","row":{"id":7003,"v":"c"}}
	{"op":"upsert","key":7004,"hash":"h","row":{"id":null,"v":"d"}}
	{"op":"upsert","key":7005,"hash":"h","row":{"v":"e","id":7005}}
	{"op":"upsert","key":7006,"hash":"h","row":{"id":7006,"v":"f"}}
	{"op":"delete","key":7001,"hash":"h","row":{"id":7001,"v":"a"}}
	EOF
	test_expect_code 3 sh -c "rx-batch --size 150 <odd.ndjson | rx-push --profile postgres --url \"\" --table app --key id" >acks 2>err &&
	jq -r .key acks | sort >acked && printf "7001\n7001\n7003\n7005\n7006\n" >expect && test_cmp expect acked &&
	grep "^{" err | jq -r "(.key|tostring) + \" \" + .error.message" | sort >dead &&
	test_grep "^7002 no column \"w\" in table app" dead &&
	test_grep "^7004 the row.s key column \"id\" is missing or null" dead &&
	pg_query "select id || v from app where id > 7000 order by id" >rows &&
	printf "7003c\n7005e\n7006f\n" >expect && test_cmp expect rows'

# rows of one shape but for a few: escapes, a quote, a brace and a comma
# inside strings, white space, a nested value, a member more or less, the
# members in another order; each must land as the per-record path writes it
cat >tricky.awk <<'AWK'
{
	n = $1; k = n % 9
	if (k == 0) row = sprintf("{\"id\":%d,\"v\":\"a\\\"b,\\\"id\\\":1}\",\"n\":1.5,\"j\":null,\"b\":true}", n)
	else if (k == 1) row = sprintf("{\"id\":%d,\"v\":\"tab\\there\\\\\",\"n\":-2e3,\"j\":{\"x\":[1,\"}\"]},\"b\":false}", n)
	else if (k == 2) row = sprintf("{\"id\": %d, \"v\": \"spaced\", \"n\": 3, \"j\": [1, 2], \"b\": null}", n)
	else if (k == 3) row = sprintf("{\"id\":%d,\"v\":\"short\"}", n)
	else if (k == 4) row = sprintf("{\"v\":\"first\",\"id\":%d,\"n\":4,\"j\":\"s\",\"b\":true}", n)
	else if (k == 5) row = sprintf("{\"id\":%d,\"v\":\"caf\\u00e9 \\u2028\",\"n\":12345678901234567890.5,\"j\":{},\"b\":true}", n)
	else row = sprintf("{\"id\":%d,\"v\":\"plain %d\",\"n\":%d,\"j\":null,\"b\":false}", n, n, n)
	printf "{\"op\":\"upsert\",\"key\":%d,\"hash\":\"h\",\"row\":%s}\n", n, row
}
AWK

test_expect_success 'rows that break the shape of the row before: as the per-record path writes them' '
	seq 1 400 | awk -f tricky.awk >tricky.ndjson &&
	jq -c .row tricky.ndjson >/dev/null &&
	rx-batch --size 200 <tricky.ndjson | rx-push --profile postgres --url "" --table tricky --key id >acks &&
	test_lines 400 acks &&
	echo "{\"driver\":\"postgres\",\"bulk_min_records\":1000000000}" >slow.json &&
	rx-batch --size 200 <tricky.ndjson | rx-push --profile ./slow.json --url "" --table tricky2 --key id >acks2 &&
	test_lines 400 acks2 &&
	pg_query "select * from tricky order by id" >bulk.rows &&
	pg_query "select * from tricky2 order by id" >slow.rows &&
	test_lines 400 bulk.rows &&
	test_cmp slow.rows bulk.rows &&
	grep -q "a\"b,\"id\":1}" bulk.rows
'

test_done
