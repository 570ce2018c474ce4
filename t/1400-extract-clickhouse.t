#!/bin/sh
# rx-extract --clickhouse: a real clickhouse-server (t/lib-clickhouse.sh)
# read over its HTTP interface.  Every type the server has, exact; a result
# of many blocks; the end record only for a whole result; an SQL error, an
# exception after HTTP 200, a wrong password, a kill, a crash: one line,
# a non-zero exit, no end record; secrets never printed.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-clickhouse.sh"

ch_start

cat >types.sql <<'SQL'
CREATE TABLE types (
  k UInt8, u16 UInt16, u32 UInt32, u64 UInt64, i8 Int8, i16 Int16, i32 Int32, i64 Int64,
  f32 Float32, f64 Float64, d32 Decimal32(2), d64 Decimal64(4), d128 Decimal128(10),
  s String, fs FixedString(4), d Date, dt DateTime, dtu DateTime('UTC'), u UUID,
  e8 Enum8('a' = 1, 'b q' = 2), ns Nullable(String), nu Nullable(UInt64),
  au Array(UInt64), ans Array(Nullable(String)), aa Array(Array(UInt8)),
  tup Tuple(UInt8, String), lc LowCardinality(String),
  ad Array(Date), adt Array(DateTime), n Nested(a UInt8, b String)
) ENGINE = MergeTree ORDER BY k
SQL
cat >rows.sql <<'SQL'
INSERT INTO types VALUES
(1, 65535, 4294967295, 18446744073709551615, -128, -32768, -2147483648, -9223372036854775808,
 0.1, 0.1, 12.34, -9.0001, 1234567890123456789.0123456789,
 'quote" back\\ tab\t nl\n cr\r ctl\x01 é ✓ 😀', 'ab', '2024-02-29', '2024-02-29 23:59:59',
 '1970-01-01 00:00:01', '00000000-0000-0000-0000-000000000001', 'b q', NULL, NULL,
 [0, 9007199254740992, 9007199254740993], ['a\'b', NULL, ''],
 [[1, 2], [], [3]], (7, 'x,y'), 'low', ['2024-01-01', '1970-01-01'],
 ['2024-01-01 10:00:00'], [1, 2], ['x', 'y']),
(2, 0, 0, 9007199254740992, 0, 0, 0, 9007199254740993,
 -3.4028235e38, 1e-7, 0, 0, 0.0000000001,
 '', '', '1970-01-01', '1970-01-01 00:00:00', '2038-01-19 03:14:07',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'a', 'text', 42, [], [], [], (0, ''), '', [], [], [], [])
SQL
cat >types.expect <<'EOF'
{"k":1,"u16":65535,"u32":4294967295,"u64":"18446744073709551615","i8":-128,"i16":-32768,"i32":-2147483648,"i64":"-9223372036854775808","f32":0.1,"f64":0.1,"d32":12.34,"d64":-9.0001,"d128":"1234567890123456789.0123456789","s":"quote\" back\\ tab\t nl\n cr\r ctl\u0001 é ✓ 😀","fs":"ab\u0000\u0000","d":"2024-02-29","dt":"2024-02-29T23:59:59Z","dtu":"1970-01-01T00:00:01Z","u":"00000000-0000-0000-0000-000000000001","e8":"b q","ns":null,"nu":null,"au":[0,9007199254740992,"9007199254740993"],"ans":["a'b",null,""],"aa":[[1,2],[],[3]],"tup":[7,"x,y"],"lc":"low","ad":["2024-01-01","1970-01-01"],"adt":["2024-01-01T10:00:00Z"],"n.a":[1,2],"n.b":["x","y"]}
{"k":2,"u16":0,"u32":0,"u64":9007199254740992,"i8":0,"i16":0,"i32":0,"i64":"9007199254740993","f32":-3.4028235e38,"f64":1e-7,"d32":0.00,"d64":0.0000,"d128":0.0000000001,"s":"","fs":"\u0000\u0000\u0000\u0000","d":"1970-01-01","dt":"1970-01-01T00:00:00Z","dtu":"2038-01-19T03:14:07Z","u":"ffffffff-ffff-ffff-ffff-ffffffffffff","e8":"a","ns":"text","nu":42,"au":[],"ans":[],"aa":[],"tup":[0,""],"lc":"","ad":[],"adt":[],"n.a":[],"n.b":[]}
{"k":3,"u16":0,"u32":0,"u64":0,"i8":0,"i16":0,"i32":0,"i64":0,"f32":"NaN","f64":"Infinity","d32":0.00,"d64":0.0000,"d128":0.0000000000,"s":"","fs":"\u0000\u0000\u0000\u0000","d":"1970-01-01","dt":"1970-01-01T00:00:00Z","dtu":"1970-01-01T00:00:00Z","u":"00000000-0000-0000-0000-000000000000","e8":"a","ns":null,"nu":null,"au":[],"ans":[],"aa":[],"tup":[0,""],"lc":"","ad":[],"adt":[],"n.a":[],"n.b":[]}
{"k":4,"u16":0,"u32":0,"u64":0,"i8":0,"i16":0,"i32":0,"i64":0,"f32":"-Infinity","f64":-0,"d32":0.00,"d64":0.0000,"d128":0.0000000000,"s":"","fs":"\u0000\u0000\u0000\u0000","d":"1970-01-01","dt":"1970-01-01T00:00:00Z","dtu":"1970-01-01T00:00:00Z","u":"00000000-0000-0000-0000-000000000000","e8":"a","ns":null,"nu":null,"au":[],"ans":[],"aa":[],"tup":[0,""],"lc":"","ad":[],"adt":[],"n.a":[],"n.b":[]}
{"$rx":"end","rows":4}
EOF
cat >exprs.sql <<'SQL'
SELECT [('p', 1.5), ('q', -0.25)] AS ats, ((1, 'a'), [NULL]) AS nt,
       [[NULL, 'x']] AS deep, ['\\', '\'', '\t', '[,]', 'NULL'] AS esc,
       toUInt64(18446744073709551615) * 0 + 1 AS one, 1 / 3 AS third;
SQL
cat >names.expect <<'EOF'
{"a \"b\"":1,"é":2}
{"$rx":"end","rows":1}
EOF
cat >exprs.expect <<'EOF'
{"ats":[["p",1.5],["q",-0.25]],"nt":[[1,"a"],[null]],"deep":[[null,"x"]],"esc":["\\","'","\t","[,]","NULL"],"one":1,"third":0.3333333333333333}
{"$rx":"end","rows":1}
EOF

test_expect_success 'setup: a table of every type, edge values in each' '
	ch_sql "$(cat types.sql)" "allow_experimental_low_cardinality_type=1" &&
	ch_sql "$(cat rows.sql)" &&
	ch_sql "INSERT INTO types (k, f32, f64) VALUES (3, nan, inf), (4, -inf, -0.0)"
'

test_expect_success 'every type is exact: big integers and decimals as strings, ISO dates, nested values as JSON' '
	rx-extract --clickhouse "$CH_URL" --query "select * from types order by k" >actual &&
	test_cmp types.expect actual
'

test_expect_success 'expressions: arrays of tuples, nested nulls, escapes inside literals, a trailing ;' '
	rx-extract --clickhouse "$CH_URL" --query-file exprs.sql >actual &&
	test_cmp exprs.expect actual
'

test_expect_success 'the member names are the columns, escaped' '
	rx-extract --clickhouse "$CH_URL" --query "select 1 as \`a \"b\"\`, 2 as \`é\`" >actual &&
	test_cmp names.expect actual
'

test_expect_success 'a result of many blocks streams whole, in order' '
	rx-extract --clickhouse "$CH_URL?max_block_size=1000" \
		--query "select number as n, concat($(printf "\\047")v$(printf "\\047"), toString(number * 3)) as s from system.numbers limit 200000" >actual &&
	awk "BEGIN { for (i = 0; i < 200000; i++) printf \"{\\\"n\\\":%d,\\\"s\\\":\\\"v%d\\\"}\\n\", i, i * 3;
		print \"{\\\"\$rx\\\":\\\"end\\\",\\\"rows\\\":200000}\" }" >expect &&
	test_cmp expect actual
'

test_expect_success 'an empty result: the end record alone' '
	rx-extract --clickhouse "$CH_URL" --query "select number from system.numbers limit 0" >actual &&
	echo "{\"\$rx\":\"end\",\"rows\":0}" >expect &&
	test_cmp expect actual
'

test_expect_success '--table, db.table, and the database from CLICKHOUSE_DATABASE or the URL' '
	ch_sql "CREATE DATABASE other" &&
	ch_sql "CREATE TABLE other.\`odd name\` (id UInt32, v String) ENGINE = Memory" &&
	ch_sql "INSERT INTO other.\`odd name\` VALUES (1, $(printf "\\047")one$(printf "\\047"))" &&
	printf "%s\n" "{\"id\":1,\"v\":\"one\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	rx-extract --clickhouse "$CH_URL" --table "other.odd name" >a1 &&
	test_cmp expect a1 &&
	CLICKHOUSE_DATABASE=other rx-extract --clickhouse "$CH_URL" --table "odd name" >a2 &&
	test_cmp expect a2 &&
	rx-extract --clickhouse "$CH_URL/?database=other" --query "select * from \`odd name\`" >a3 &&
	test_cmp expect a3
'

test_expect_success 'a table name is quoted, never spliced into SQL' '
	test_expect_code 1 rx-extract --clickhouse "$CH_URL" --table "types; DROP TABLE types" 2>err &&
	test_grep "doesn.t exist" err &&
	rx-extract --clickhouse "$CH_URL" --table types >out &&
	test_end 4 out
'

test_expect_success 'an SQL error: exit 1, the server message on one line, nothing written' '
	test_expect_code 1 rx-extract --clickhouse "$CH_URL" --query "select * from no_such_table" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: ClickHouse: query failed: Code: 60.*no_such_table doesn.t exist" err
'

test_expect_success 'an exception after HTTP 200 (throwIf at row 150000): exit 1, no end record' '
	test_expect_code 1 rx-extract --clickhouse "$CH_URL?max_block_size=1000" \
		--query "select number, throwIf(number = 150000) as x from system.numbers limit 200000" >out 2>err &&
	test_lines 1 err &&
	test_grep "^rx-extract: ClickHouse: query failed after [0-9]* rows (the output is incomplete): Code: 395.*throwIf" err &&
	! grep -q "\\\$rx" out &&
	rows=$(wc -l <out) &&
	test "$rows" -gt 0 && test "$rows" -le 150000 &&
	test "$(tail -n 1 out)" = "{\"number\":$((rows - 1)),\"x\":0}"
'

test_expect_success 'a String that is not UTF-8: exit 65 naming the row and the column' '
	test_expect_code 65 rx-extract --clickhouse "$CH_URL" \
		--query "select number, if(number = 2, unhex($(printf "\\047")41FF42$(printf "\\047")), $(printf "\\047")ok$(printf "\\047")) as payload from system.numbers limit 5" >out 2>err &&
	test_grep "^rx-extract: ClickHouse: row 3, column .payload. (String): not valid UTF-8.*base64Encode(payload)" err &&
	test_lines 2 out &&
	! grep -q "\\\$rx" out
'

test_expect_success 'a column named $rx is refused before any row' '
	test_expect_code 65 rx-extract --clickhouse "$CH_URL" --query "select 1 as \`\$rx\`" >out 2>err &&
	test_must_be_empty out &&
	test_grep "named .\\\$rx." err
'

test_expect_success 'a DateTime shown in another zone is refused on a server without ISO output; toTimeZone fixes it' '
	q="toDateTime($(printf "\\047")2024-01-01 09:00:00$(printf "\\047"), $(printf "\\047")Asia/Tokyo$(printf "\\047"))" &&
	if ch_query "select name from system.settings where name = $(printf "\\047")date_time_output_format$(printf "\\047")" | grep -q date_time; then
		rx-extract --clickhouse "$CH_URL" --query "select $q as t" >out
	else
		test_expect_code 1 rx-extract --clickhouse "$CH_URL" --query "select $q as t" 2>err &&
		test_grep "column .t. is DateTime(.Asia/Tokyo.).*toTimeZone(t, .UTC.)" err &&
		rx-extract --clickhouse "$CH_URL" --query "select toTimeZone($q, $(printf "\\047")UTC$(printf "\\047")) as t" >out
	fi &&
	printf "%s\n" "{\"t\":\"2024-01-01T00:00:00Z\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect out
'

test_expect_success 'a password from CLICKHOUSE_PASSWORD or CLICKHOUSE_PASSWORD_FILE' '
	printf "%s\n" "{\"ok\":1}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	CLICKHOUSE_USER=alice CLICKHOUSE_PASSWORD=$CH_ALICE_PASSWORD rx-extract --clickhouse "$CH_URL" --query "select 1 as ok" >a1 &&
	test_cmp expect a1 &&
	echo "$CH_ALICE_PASSWORD" >pw && chmod 600 pw &&
	CLICKHOUSE_USER=alice CLICKHOUSE_PASSWORD_FILE=pw rx-extract --clickhouse "$CH_URL" --query "select 1 as ok" >a2 &&
	test_cmp expect a2
'

test_expect_success 'a wrong password: exit 1, one line, the password never printed' '
	test_expect_code 1 env CLICKHOUSE_USER=alice CLICKHOUSE_PASSWORD=wrong-secret-9 \
		rx-extract --clickhouse "$CH_URL" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: cannot connect to ClickHouse at http://127.0.0.1:$CH_PORT: authentication failed: .*alice" err &&
	! grep -q wrong-secret-9 err
'

test_expect_success 'an unknown user: exit 1' '
	test_expect_code 1 env CLICKHOUSE_USER=nobody_here rx-extract --clickhouse "$CH_URL" --query "select 1" 2>err &&
	test_grep "authentication failed: .*nobody_here" err
'

test_expect_success 'a password in the URL is refused and not echoed' '
	test_expect_code 2 rx-extract --clickhouse "http://alice:hunter2x@127.0.0.1:$CH_PORT" --query "select 1" 2>e1 &&
	test_grep "CLICKHOUSE_PASSWORD" e1 &&
	test_expect_code 2 rx-extract --clickhouse "$CH_URL/?user=alice&password=hunter2x" --query "select 1" 2>e2 &&
	test_grep "password= parameter" e2 &&
	! grep -q hunter2x e1 e2
'

test_expect_success 'a user in the URL is used; its password comes from the environment' '
	CLICKHOUSE_PASSWORD=$CH_ALICE_PASSWORD rx-extract --clickhouse "http://alice@127.0.0.1:$CH_PORT" --query "select 1 as ok" >out &&
	test_end 1 out &&
	test_expect_code 1 rx-extract --clickhouse "http://alice@127.0.0.1:$CH_PORT" --query "select 1" 2>err &&
	test_grep "authentication failed" err
'

test_expect_success 'a profile that would cut the result short (result_overflow_mode=break) fails instead' '
	test_expect_code 1 rx-extract --clickhouse "$CH_URL/?max_result_rows=5&result_overflow_mode=break" \
		--query "select number from system.numbers limit 100" >out 2>err &&
	test_grep "Code: 396" err &&
	! grep -q "\\\$rx" out
'

test_expect_success 'a readonly=1 user: works when its settings are the defaults' '
	CLICKHOUSE_USER=reader rx-extract --clickhouse "$CH_URL" --query "select number from system.numbers limit 3" >out &&
	test_end 3 out
'

test_expect_success 'a readonly=1 user whose profile cuts results: refused, naming the setting' '
	test_expect_code 1 env CLICKHOUSE_USER=truncated rx-extract --clickhouse "$CH_URL" --query "select number from system.numbers limit 100" >out 2>err &&
	test_must_be_empty out &&
	test_grep "setting result_overflow_mode is .break. and it cannot change it (readonly=1)" err
'

test_expect_success 'no server there: exit 1, one line' '
	port=$(ch_random_port) &&
	test_expect_code 1 rx-extract --clickhouse "http://127.0.0.1:$port" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: cannot connect to ClickHouse at http://127.0.0.1:$port: " err
'

test_expect_success 'not a URL, or not HTTP: exit 2' '
	test_expect_code 2 rx-extract --clickhouse "ftp://127.0.0.1/" --query "select 1" 2>err &&
	test_grep "http:// or https://" err &&
	test_expect_code 2 rx-extract --clickhouse "$CH_URL" 2>err &&
	test_grep "give one of --query or --table" err
'

test_expect_success 'killed mid-stream (RX_KILL_AT=rx-extract:row:5000): no end record' '
	test_expect_code 137 env RX_KILL_AT=rx-extract:row:5000 rx-extract --clickhouse "$CH_URL" \
		--query "select number from system.numbers limit 100000" >out 2>err &&
	test_grep "killed at row:5000" err &&
	! grep -q "\\\$rx" out &&
	test "$(wc -l <out)" -le 5000
'

test_expect_success 'a | head -1 reader stops it quietly' '
	rx-extract --clickhouse "$CH_URL" --query "select number as n from system.numbers limit 1000000" 2>err | head -1 >actual &&
	echo "{\"n\":0}" >expect &&
	test_cmp expect actual &&
	test_must_be_empty err
'

test_expect_success 'a full disk: exit 74' '
	test_expect_code 74 rx-extract --clickhouse "$CH_URL" --query "select number from system.numbers limit 100000" >/dev/full 2>err &&
	test_grep "cannot write output" err
'

test_expect_success '--unbuffered writes each row as it comes' '
	rx-extract --clickhouse "$CH_URL" --unbuffered --query "select 1 as a" >out &&
	test_end 1 out
'

# wait_for_rows FILE: until FILE has a line (at most ~20 s).
wait_for_rows () {
	n=0
	while [ $n -lt 200 ]; do
		[ -s "$1" ] && return 0
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

test_expect_success 'the server killed mid-stream: exit 1, no end record' '
	{ rx-extract --clickhouse "$CH_URL" \
		--query "select number, toFixedString($(printf "\\047")x$(printf "\\047"), 1000) as pad, sleep(0.05) as z from system.numbers limit 100000 settings max_block_size = 500" \
		>crash.out 2>crash.err; echo $? >status; } &
	wait_for_rows crash.out &&
	ch_stop &&
	wait &&
	echo 1 >expect &&
	test_cmp expect status &&
	test_lines 1 crash.err &&
	test_grep "^rx-extract: ClickHouse: query failed after [0-9]* rows (the output is incomplete): " crash.err &&
	! grep -q "\\\$rx" crash.out
'

test_done
