#!/bin/sh
# rx-extract --databricks against t/fake/databricks.py, a fake of the SQL
# Statement Execution API 2.0 with presigned "cloud storage" links that
# refuse our token.  Every type, INLINE and EXTERNAL_LINKS chunks, an
# expired link, PENDING and RUNNING polls, FAILED as HTTP 200,
# truncated results refused, throttling, auth failures that print no
# secret, an error and a kill midway (no end record), a signal that
# cancels the statement, --shard pushed into the SQL.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

FAKE_SCRIPT=$RX_TESTS/fake/databricks.py
unset DATABRICKS_TOKEN DATABRICKS_CLIENT_ID DATABRICKS_CLIENT_SECRET DATABRICKS_HOST

fake_start db -- --token dapi-s3cret --warehouse wh123 --rows 12000 --chunk-rows 5000 --log db.log || exit 1

# dbx [FAKE] ARGS...: rx-extract against a fake (default "db"), with the token
dbx () {
	fake=db
	case ${1:-} in -*) ;; *) fake=$1; shift ;; esac
	DATABRICKS_TOKEN=dapi-s3cret rx-extract --databricks dbc-1234.cloud.databricks.com --warehouse wh123 \
		--base-url "$(fake_url "$fake")" "$@"
}

last_statement () {
	fake_state "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["last_statement"])'
}

cat >types.expect <<-\EOF
{"id":"9007199254740993","small":-32768,"tiny":127,"i":2147483647,"dec":"12345678901234567890.0123456789","f":1.5,"d":0.1,"b":true,"s":"\u00e9 \"q\"","c":"abc","dt":"2024-02-29","ts":"2024-02-29T12:34:56.789Z","bin":"48656C6C6F","arr":[1,2,"12345678901234567890"],"m":{"a":1},"st":{"x":1,"y":"z"},"iv":"1 02:03:04.000000000"}
{"id":"-9223372036854775808","small":0,"tiny":-1,"i":0,"dec":-0.0000000001,"f":"NaN","d":"-Infinity","b":false,"s":"","c":"  x","dt":"1970-01-01","ts":"1970-01-01T00:00:00Z","bin":"","arr":[],"m":{},"st":"{x:1}","iv":"0 00:00:00.000000000"}
{"id":null,"small":null,"tiny":null,"i":null,"dec":null,"f":null,"d":null,"b":null,"s":null,"c":null,"dt":null,"ts":null,"bin":null,"arr":null,"m":null,"st":null,"iv":null}
{"$rx":"end","rows":3}
EOF

test_expect_success 'every type, mapped exactly (external links)' '
	dbx --query "select * from types" >actual &&
	test_cmp types.expect actual &&
	dbx --disposition inline --query "select * from types" >actual &&
	test_cmp types.expect actual
'

test_expect_success 'the request: wait_timeout 0s, JSON_ARRAY, external links, catalog and schema' '
	dbx --catalog main --schema sales --query "select * from empty" >actual &&
	echo "{\"\$rx\":\"end\",\"rows\":0}" >expect &&
	test_cmp expect actual &&
	fake_state db | python3 -c "
import json, sys
r = json.load(sys.stdin)[\"last_request\"]
assert r == {\"statement\": \"select * from empty\", \"warehouse_id\": \"wh123\", \"catalog\": \"main\", \"schema\": \"sales\",
             \"wait_timeout\": \"0s\", \"disposition\": \"EXTERNAL_LINKS\", \"format\": \"JSON_ARRAY\"}, r
"
'

test_expect_success 'three chunks behind presigned links, fetched without the token, in order' '
	links=$(fake_count db links) &&
	dbx --query "select * from big" >actual &&
	test_lines 12001 actual &&
	test_end 12000 actual &&
	rows_of actual | sed "s/^{\"id\":\([0-9]*\),.*/\1/" >ids &&
	seq 0 11999 >expect &&
	test_cmp expect ids &&
	test_grep "^{\"id\":11,\"name\":\"Customer 11\",\"email\":\"c11@example.com\",\"plan\":\"enterprise\",\"ltv\":77.11,\"score\":1.5714,\"active\":true,\"signup\":\"2024-12-12\",\"seen\":\"2024-01-01T00:00:11.011Z\",\"updated\":\"2024-06-01T12:00:00Z\",\"org\":11,\"note\":\"note \\\\\"11\\\\\"\"}$" actual &&
	test $(( $(fake_count db links) - links )) = 3 &&
	test "$(fake_count db violations)" = 0
'

test_expect_success 'three INLINE chunks, following next_chunk_internal_link' '
	chunks=$(fake_count db chunks) &&
	dbx --disposition inline --query "select * from big" >actual &&
	test_end 12000 actual &&
	rows_of actual | sed "s/^{\"id\":\([0-9]*\),.*/\1/" >ids &&
	test_cmp expect ids &&
	test $(( $(fake_count db chunks) - chunks )) = 2
'

test_expect_success '--table quotes each part with backticks' '
	dbx --table big >actual &&
	test_end 12000 actual &&
	echo "SELECT * FROM \`big\`" >expect &&
	last_statement db >sql &&
	test_cmp expect sql
'

test_expect_success 'a slow statement: PENDING, RUNNING, polled until SUCCEEDED' '
	polls=$(fake_count db polls) &&
	dbx --query "select * from slow" >actual &&
	test_end 12000 actual &&
	test $(( $(fake_count db polls) - polls )) -ge 2
'

test_expect_success 'a failed statement (HTTP 200, FAILED): exit 1, the engine'\''s message' '
	test_expect_code 1 dbx --query "select * from nosuch" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Databricks: query failed: \[TABLE_OR_VIEW_NOT_FOUND\] The table or view .nosuch. cannot be found. SQLSTATE: 42P01 (error_code BAD_REQUEST, SQL state 42P01)$" err
'

test_expect_success 'duplicate column names: exit 65 before any row' '
	test_expect_code 65 dbx --query "select * from dup" >out 2>err &&
	test_must_be_empty out &&
	test_grep "columns 1 and 2 are both named .id." err
'

fake_start small -- --token dapi-s3cret --warehouse wh123 --rows 12000 --chunk-rows 5000 --inline-limit 100000 || exit 1

test_expect_success 'an INLINE result over the limit fails loudly and says what to use' '
	test_expect_code 1 dbx small --disposition inline --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: Databricks: query failed: Inline byte limit exceeded. .*Please use disposition=EXTERNAL_LINKS" err
'

fake_start truncated -- --token dapi-s3cret --warehouse wh123 --truncate --rows 30 --chunk-rows 10 || exit 1

test_expect_success 'a truncated result is refused before any row: exit 1, no end record' '
	test_expect_code 1 dbx truncated --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Databricks: the result was truncated (manifest.truncated: a row or byte limit cut it): refusing a partial model" err
'

fake_start expiry -- --token dapi-s3cret --warehouse wh123 --expire-link 1 --throttle-first 2 --rows 30 \
	--chunk-rows 10 || exit 1

test_expect_success 'throttled (429) and an expired link: retried, asked again, every row' '
	dbx expiry --query "select * from big" >actual &&
	test_end 30 actual &&
	test "$(fake_count expiry throttled)" = 2 &&
	test "$(fake_count expiry expired)" = 1 &&
	test "$(fake_count expiry executions)" = 1 &&
	test "$(fake_count expiry violations)" = 0
'

fake_start busy -- --token dapi-s3cret --warehouse wh123 --throttle-first 1000 || exit 1

test_expect_success 'throttled beyond the retries: exit 75' '
	test_expect_code 75 dbx busy --retries 2 --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: Databricks: query failed: throttled, HTTP 429 (after 3 attempts): Too many requests. Please wait a moment and try again. (error_code TOO_MANY_REQUESTS)$" err
'

fake_start broken -- --token dapi-s3cret --warehouse wh123 --fail-chunk 1 --rows 12000 --chunk-rows 5000 || exit 1

test_expect_success 'a chunk that fails midway: exit 1, no end record' '
	test_expect_code 1 dbx broken --query "select * from big" >out 2>err &&
	test_lines 5000 out &&
	! grep -q "\"\$rx\"" out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Databricks: chunk 2 of 3, after 5000 rows (the output is incomplete): HTTP 500: <Error><Code>InternalError</Code>" err &&
	test_expect_code 1 dbx broken --disposition inline --query "select * from big" >out 2>err &&
	test_lines 5000 out &&
	test_grep "^rx-extract: Databricks: the next chunk, after 5000 rows (the output is incomplete): HTTP 500: Failed to fetch the chunk (error_code INTERNAL_ERROR)$" err
'

fake_start short -- --token dapi-s3cret --warehouse wh123 --short-chunk 2 --rows 30 --chunk-rows 10 || exit 1

test_expect_success 'a chunk one row short of the manifest: exit 1, no end record' '
	test_expect_code 1 dbx short --query "select * from big" >out 2>err &&
	! grep -q "\"\$rx\"" out &&
	test_grep "^rx-extract: Databricks: chunk 3 has 9 rows, the manifest said 10 (the output is incomplete)$" err
'

test_expect_success 'a refused token: exit 1, never printed; no token at all' '
	test_expect_code 1 env DATABRICKS_TOKEN=dapi-stale-31337 rx-extract --databricks x --warehouse wh123 \
		--base-url "$(fake_url db)" --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Databricks: query failed: the token in DATABRICKS_TOKEN was refused (HTTP 401): Invalid access token. (error_code UNAUTHENTICATED)$" err &&
	! grep -q dapi-stale-31337 err &&
	test_expect_code 1 rx-extract --databricks x --warehouse wh123 --base-url "$(fake_url db)" --query "select 1" 2>err &&
	test_grep "^rx-extract: Databricks: no credentials: set DATABRICKS_TOKEN" err
'

test_expect_success 'a service principal (OAuth M2M); a wrong secret is not printed' '
	DATABRICKS_CLIENT_ID=rx-sp DATABRICKS_CLIENT_SECRET=sp-secret rx-extract --databricks x --warehouse wh123 \
		--base-url "$(fake_url db)" --query "select * from types" >actual &&
	test_cmp types.expect actual &&
	test "$(fake_count db tokens_issued)" = 1 &&
	test_expect_code 1 env DATABRICKS_CLIENT_ID=rx-sp DATABRICKS_CLIENT_SECRET=not-the-secret-5 rx-extract --databricks x \
		--warehouse wh123 --base-url "$(fake_url db)" --query "select * from types" 2>err &&
	test_grep "^rx-extract: Databricks: getting an OAuth token for the service principal rx-sp: HTTP 401" err &&
	! grep -q not-the-secret-5 err
'

test_expect_success 'killed mid-stream (RX_KILL_AT): no end record' '
	{ RX_KILL_AT=rx-extract:row:7000 && export RX_KILL_AT && dbx --query "select * from big" >out 2>err; echo $? >status; } &&
	echo 137 >expect &&
	test_cmp expect status &&
	! grep -q "\"\$rx\"" out
'

test_expect_success 'SIGTERM while the statement runs: it is cancelled, exit 75, nothing written' '
	cancels=$(fake_count db cancels) &&
	polls=$(fake_count db polls) &&
	{ DATABRICKS_TOKEN=dapi-s3cret rx-extract --databricks x --warehouse wh123 --base-url "$(fake_url db)" \
		--query "select * from forever" >out 2>err & } &&
	pid=$! &&
	n=0 && while [ $(fake_count db polls) = "$polls" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done &&
	kill -TERM $pid &&
	{ wait $pid; echo $? >status; } &&
	echo 75 >expect &&
	test_cmp expect status &&
	test_must_be_empty out &&
	test "$(fake_count db cancels)" = $((cancels + 1)) &&
	test_grep "^rx-extract: Databricks: query failed: interrupted by a signal$" err &&
	test_grep "^rx-extract: Databricks: the statement .* was cancelled$" err
'

test_expect_success '--shard is pushed into the statement, the same shards as rx_shard_of' '
	dbx --query "select * from big" >all &&
	: >union &&
	for i in 1 2 3; do
		dbx --query "select * from big" --shard $i/3 --key id >shard$i || return 1
		rows_of shard$i >>union
		rx-extract --ndjson all --shard $i/3 --key id >expect$i || return 1
		test_cmp expect$i shard$i || return 1
	done &&
	last_statement db >sql &&
	printf "%s\n" "SELECT * FROM (" "select * from big" ") AS rx_q WHERE pmod(CAST(conv(substr(md5(CAST(rx_q.\`id\` AS STRING)), 1, 8), 16, 10) AS BIGINT), 3) + 1 = 3" >expect &&
	test_cmp expect sql &&
	sort union >union.sorted && rows_of all | sort >all.sorted &&
	test_cmp all.sorted union.sorted
'

test_expect_success '--shard on a DECIMAL key is filtered here, still exact' '
	dbx --query "select * from big" --shard 2/3 --key ltv >actual &&
	rx-extract --ndjson all --shard 2/3 --key ltv >expect &&
	test_cmp expect actual
'

test_expect_success 'usage: --databricks needs --warehouse' '
	test_expect_code 2 rx-extract --databricks x --query "select 1" 2>err &&
	test_grep "needs --warehouse ID" err
'

test_expect_success 'a | head -1 reader stops it quietly; a full disk is exit 74' '
	dbx --query "select * from big" 2>err | head -1 >actual &&
	test_lines 1 actual &&
	test_must_be_empty err &&
	test_expect_code 74 dbx --query "select * from big" >/dev/full 2>/dev/null
'

test_expect_success 'the fakes saw no protocol violation (no token sent to a presigned link)' '
	for f in db expiry broken short; do
		test "$(fake_count $f violations)" = 0 || return 1
	done
'

test_done
