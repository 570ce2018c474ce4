#!/bin/sh
# rx-extract --clickhouse against a fake of a current ClickHouse server
# (t/fake/fake-clickhouse.py): the types and settings Debian's 18.16 does not
# have (Bool, Int128/256, Decimal256, DateTime64, ISO dates, Map, named
# tuples, IPv6, JSON, Variant), the settings rx sends, and the ways a
# current server fails (the 25.11 exception frame, HTTP 401 with Code 516,
# throttling).
. "$(dirname "$0")/lib.sh"

# A TabSeparatedWithNamesAndTypes body as a current server writes it
# (escapes as in the header: \' inside type names), two rows.
printf '%s\n' \
	'b	i128	u256	d256	dt64	dtz	d32	m	nt	ip4	ip6	lcn	js	nst	var	m2' \
	"Bool	Int128	UInt256	Decimal(76, 10)	DateTime64(3, \\'UTC\\')	DateTime(\\'Asia/Tokyo\\')	Date32	Map(String, UInt64)	Tuple(a UInt8, b String)	IPv4	IPv6	LowCardinality(Nullable(String))	JSON	Nested(x UInt8, y String)	Variant(String, UInt64)	Map(UInt8, Array(Nullable(Float64)))" \
	"true	-170141183460469231731687303715884105728	115792089237316195423570985008687907853269984665640564039457584007913129639935	1.5000000000	2024-01-31T12:00:00.123Z	2024-01-31T03:00:00Z	1900-01-01	{'a':1,'b\\'q':18446744073709551615}	(7,'x\\ty')	1.2.3.4	::1	\\N	{\"a\":1,\"s\":\"t\\\\tab\"}	[(1,'p'),(2,'q')]	hello	{1:[1.5,NULL,nan]}" \
	"false	0	0	0.0000000000	1970-01-01T00:00:00.000Z	1970-01-01T00:00:00Z	1970-01-01	{}	(0,'')	0.0.0.0	::	x	{}	[]	42	{}" >body.tsv
cat >expect <<'EOF'
{"b":true,"i128":"-170141183460469231731687303715884105728","u256":"115792089237316195423570985008687907853269984665640564039457584007913129639935","d256":1.5000000000,"dt64":"2024-01-31T12:00:00.123Z","dtz":"2024-01-31T03:00:00Z","d32":"1900-01-01","m":{"a":1,"b'q":"18446744073709551615"},"nt":{"a":7,"b":"x\ty"},"ip4":"1.2.3.4","ip6":"::1","lcn":null,"js":{"a":1,"s":"t\tab"},"nst":[{"x":1,"y":"p"},{"x":2,"y":"q"}],"var":"hello","m2":{"1":[1.5,null,"NaN"]}}
{"b":false,"i128":0,"u256":0,"d256":0.0000000000,"dt64":"1970-01-01T00:00:00.000Z","dtz":"1970-01-01T00:00:00Z","d32":"1970-01-01","m":{},"nt":{"a":0,"b":""},"ip4":"0.0.0.0","ip6":"::","lcn":"x","js":{},"nst":[],"var":"42","m2":{}}
{"$rx":"end","rows":2}
EOF

# fake_ch NAME SWITCHES...: start a fake; its URL in NAME.url.
fake_ch () {
	name=$1
	shift
	python3 "$RX_TESTS/fake/fake-clickhouse.py" --port-file "$name.port" --log "$name.log" "$@" \
		>"$name.out" 2>&1 &
	echo $! >"$name.pid"
	n=0
	while [ ! -s "$name.port" ] && [ $n -lt 100 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	[ -s "$name.port" ] || { cat "$name.out"; return 1; }
	echo "http://127.0.0.1:$(cat "$name.port")" >"$name.url"
}
test_cleanup 'for f in "$TRASH"/*.pid; do kill "$(cat "$f")"; done'

test_expect_success 'the types of current servers, exact' '
	fake_ch types --body body.tsv &&
	rx-extract --clickhouse "$(cat types.url)" --query "select * from t" >actual &&
	test_cmp expect actual
'

test_expect_success 'the settings that differ are sent (ISO dates, the client-close cancel), the others not' '
	test_lines 2 types.log &&
	tail -n 1 types.log >main &&
	test_grep "date_time_output_format=iso" main &&
	test_grep "cancel_http_readonly_queries_on_client_close=1" main &&
	! grep -q "overflow_mode" main &&
	! grep -q "null_representation" main
'

test_expect_success 'a readonly=1 user whose DateTime format is simple: read as such, still UTC' '
	{ printf "readonly\t1\ndate_time_output_format\tsimple\n"; } >ro.settings &&
	printf "%s\n" "t	n" "DateTime	UInt8" "2024-01-31 12:00:00	1" >ro.tsv &&
	fake_ch ro --body ro.tsv --settings ro.settings &&
	rx-extract --clickhouse "$(cat ro.url)" --query "select * from t" >out &&
	printf "%s\n" "{\"t\":\"2024-01-31T12:00:00Z\",\"n\":1}" "{\"\$rx\":\"end\",\"rows\":1}" >ro.expect &&
	test_cmp ro.expect out &&
	! grep -q "date_time_output_format=" ro.log
'

test_expect_success 'system.settings denied: every setting is sent, those the server does not know dropped' '
	fake_ch denied --body ro.tsv --deny-settings --unknown date_time_output_format,limit &&
	rx-extract --clickhouse "$(cat denied.url)" --query "select * from t" >out &&
	test_cmp ro.expect out &&
	tail -n 1 denied.log >main &&
	test_grep "result_overflow_mode=throw" main &&
	test_grep "offset=0" main &&
	! grep -q "limit=" main &&
	! grep -q "date_time_output_format=" main &&
	test_lines 4 denied.log
'

test_expect_success 'an exception after the rows, framed as 25.11 does: exit 1 with its message, no end record' '
	fake_ch tagged --body body.tsv --tag Q7F3K2X9P1LM0ZAB \
		--exception "Code: 241. DB::Exception: Memory limit (total) exceeded: would use 9.31 GiB. (MEMORY_LIMIT_EXCEEDED) (version 25.11.1.1)" &&
	test_expect_code 1 rx-extract --clickhouse "$(cat tagged.url)" --query "select * from t" >out 2>err &&
	test_lines 1 err &&
	test_grep "^rx-extract: ClickHouse: query failed after 2 rows (the output is incomplete): Code: 241. DB::Exception: Memory limit (total) exceeded: would use 9.31 GiB. (MEMORY_LIMIT_EXCEEDED) (version 25.11.1.1)$" err &&
	test_lines 2 out
'

test_expect_success 'an exception after the rows, as text: exit 1 with its message' '
	fake_ch plain --body body.tsv --exception "Code: 395. DB::Exception: Value passed to '"'"'throwIf'"'"' function is non-zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)" &&
	test_expect_code 1 rx-extract --clickhouse "$(cat plain.url)" --query "select * from t" >out 2>err &&
	test_grep "after 2 rows (the output is incomplete): Code: 395. DB::Exception: Value passed to .throwIf. function is non-zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)$" err &&
	! grep -q "\\\$rx" out
'

test_expect_success 'a wrong key (HTTP 401, Code 516): exit 1, authentication failed, the key never printed' '
	fake_ch auth --body body.tsv --key right-key-1 &&
	test_expect_code 1 env CLICKHOUSE_USER=alice CLICKHOUSE_PASSWORD=wrong-key-2 \
		rx-extract --clickhouse "$(cat auth.url)" --query "select * from t" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: cannot connect to ClickHouse at http://127.0.0.1:[0-9]*: authentication failed: Code: 516" err &&
	! grep -q wrong-key-2 err auth.log &&
	CLICKHOUSE_USER=alice CLICKHOUSE_PASSWORD=right-key-1 rx-extract --clickhouse "$(cat auth.url)" --query "select * from t" >out &&
	test_cmp expect out &&
	test_grep "user=alice key=present" auth.log &&
	! grep -q right-key-1 auth.log
'

test_expect_success 'too many queries (Code 202) or HTTP 503: exit 75, try again later' '
	fake_ch busy --body body.tsv --status 500 \
		--error "Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100. (TOO_MANY_SIMULTANEOUS_QUERIES)" &&
	test_expect_code 75 rx-extract --clickhouse "$(cat busy.url)" --query "select * from t" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: ClickHouse: query failed: Code: 202" err &&
	fake_ch gone --body body.tsv --status 503 --error "Service Unavailable" &&
	test_expect_code 75 rx-extract --clickhouse "$(cat gone.url)" --query "select * from t" 2>err &&
	test_grep "Service Unavailable" err
'

test_expect_success '--shard on current types (Int128, Bool, IPv6) agrees with rx_shard_of' '
	for k in i128 b ip6 b,ip6; do
		rx-extract --clickhouse "$(cat types.url)" --query "select * from t" --shard 1/2 --key $k >s1 &&
		rx-extract --ndjson expect --shard 1/2 --key $k >c1 &&
		test_cmp c1 s1 || return 1
	done &&
	test_grep "MD5(toString(.i128.))" types.log &&
	test_grep "MD5(concat(.\[., concat(.\"., toString(.b.), .\".), .,., concat(.\"., replaceAll(replaceAll(toString(.ip6.)" types.log
'

test_done
