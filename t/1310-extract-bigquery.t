#!/bin/sh
# rx-extract --bigquery against t/fake/bigquery.py, a fake of jobs.query,
# getQueryResults and Google's token endpoint that checks the service
# account's JWT grant with openssl.  Every type (nested RECORD and
# REPEATED, INT64 and BIGNUMERIC exact, timestamps as int64 or float),
# pages, jobs that take a while, retryable and permanent errors, tokens
# refreshed, auth failures that print no secret, an error and a kill
# midway (no end record), a signal that cancels the job, --shard pushed
# into the SQL.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

FAKE_SCRIPT=$RX_TESTS/fake/bigquery.py
HOME=$TRASH # no gcloud application default credentials here
export HOME
unset GOOGLE_APPLICATION_CREDENTIALS GOOGLE_OAUTH_ACCESS_TOKEN
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem 2>/dev/null &&
openssl pkey -in key.pem -pubout -out pub.pem &&
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null || exit 1

fake_start bq -- --public-key pub.pem --static-token ya29.static-s3cret --rows 12000 --page-rows 5000 \
	--log bq.log || exit 1

# keyfile NAME FAKE [PEM]: a service-account key file whose token_uri is the fake's
keyfile () {
	python3 -c '
import json, sys
print(json.dumps({"type": "service_account", "project_id": "proj", "private_key_id": "k1",
                  "private_key": open(sys.argv[3]).read(), "client_email": "rx@proj.iam.gserviceaccount.com",
                  "client_id": "1234", "token_uri": sys.argv[2] + "/token"}))' "$1" "$(fake_url "$2")" "${3:-key.pem}" >"$1"
}

# bq [FAKE] ARGS...: rx-extract against a fake (default "bq"), with its key file
bq () {
	fake=bq
	case ${1:-} in -*) ;; *) fake=$1; shift ;; esac
	[ -f "$TRASH/$fake.json" ] || keyfile "$TRASH/$fake.json" "$fake"
	rx-extract --bigquery proj --credentials "$TRASH/$fake.json" --base-url "$(fake_url "$fake")/bigquery/v2" "$@"
}

last_query () {
	fake_state "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["last_query"])'
}

cat >types.expect <<-\EOF
{"id":1,"big":"9007199254740993","num":123.456,"bignum":"578960446186580977117854925043439539266.34992332820282019728792003956564819967","f":0.1,"b":true,"s":"Ada \"q\" \u00e9","by":"aGVsbG8=","ts":"2023-11-14T22:13:20.123456+00:00","d":"2024-02-29","dt":"2024-02-29T12:34:56.789","t":"23:59:59.999999","j":{"a":[1,2.5,"12345678901234567890"]},"g":"POINT(1 2)","rec":{"x":7,"y":"seven"},"arr":[1,2,"9007199254740995"],"recs":[{"k":"a","v":1.5},{"k":"b","v":null}]}
{"id":-2,"big":"-9223372036854775808","num":-0.5,"bignum":1e-38,"f":"NaN","b":false,"s":"","by":"","ts":"1969-12-31T23:59:59.999999+00:00","d":"0001-01-01","dt":"9999-12-31T23:59:59.999999","t":"00:00:00","j":null,"g":null,"rec":{"x":null,"y":null},"arr":[],"recs":[]}
{"id":null,"big":null,"num":null,"bignum":null,"f":"-Infinity","b":null,"s":null,"by":null,"ts":"1970-01-01T00:00:00+00:00","d":null,"dt":null,"t":null,"j":null,"g":null,"rec":null,"arr":[],"recs":[{"k":null,"v":"Infinity"}]}
{"$rx":"end","rows":3}
EOF

test_expect_success 'every type, nested records and arrays, mapped exactly' '
	bq --query "select * from types" >actual &&
	test_cmp types.expect actual &&
	test "$(fake_count bq violations)" = 0 &&
	test "$(fake_count bq tokens_issued)" = 1
'

test_expect_success 'the token request is a JWT bearer grant with the key id' '
	grep "\"path\": \"/token\"" bq.log | head -1 >token.req &&
	test_grep "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ" token.req &&
	! grep -q "BEGIN PRIVATE KEY" bq.log
'

fake_start floats -- --public-key pub.pem --float-timestamps || exit 1

test_expect_success 'timestamps sent as E-notation floats are converted exactly too' '
	bq floats --query "select * from types" >actual &&
	test_cmp types.expect actual
'

test_expect_success 'a result of three pages, in order, every row counted' '
	bq --query "select * from big" >actual &&
	test_lines 12001 actual &&
	test_end 12000 actual &&
	rows_of actual | sed "s/^{\"id\":\([0-9]*\),.*/\1/" >ids &&
	seq 0 11999 >expect &&
	test_cmp expect ids &&
	test_grep "^{\"id\":11,\"name\":\"Customer 11\",\"email\":\"c11@example.com\",\"plan\":\"enterprise\",\"ltv\":77.11,\"score\":1.5714,\"active\":true,\"signup\":\"2024-12-12\",\"seen\":\"2023-11-14T22:13:31.000011+00:00\",\"updated\":\"2024-01-01T00:00:11\",\"org\":11,\"note\":\"note \\\\\"11\\\\\"\"}$" actual &&
	test_grep "pageToken=page-2-" bq.log
'

test_expect_success '--table quotes the path with backticks' '
	bq --table big >actual &&
	test_end 12000 actual &&
	echo "SELECT * FROM \`big\`" >expect &&
	last_query bq >sql &&
	test_cmp expect sql
'

test_expect_success 'a job that takes a while: jobComplete false, polled; --location on every call' '
	polls=$(fake_count bq polls) &&
	bq --location EU --query "select * from slow" >actual &&
	test_end 12000 actual &&
	test $(( $(fake_count bq polls) - polls )) -ge 3 &&
	fake_state bq | python3 -c "
import json, sys
locs = json.load(sys.stdin)[\"locations\"]
assert locs[-5:] == [\"EU\"] * 5, locs
"
'

test_expect_success 'an empty result (rows absent)' '
	bq --query "select * from empty" >actual &&
	echo "{\"\$rx\":\"end\",\"rows\":0}" >expect &&
	test_cmp expect actual
'

test_expect_success 'a token from GOOGLE_OAUTH_ACCESS_TOKEN; a refused one is not printed' '
	GOOGLE_OAUTH_ACCESS_TOKEN=ya29.static-s3cret rx-extract --bigquery proj --base-url "$(fake_url bq)/bigquery/v2" \
		--query "select * from types" >actual &&
	test_cmp types.expect actual &&
	test_expect_code 1 env GOOGLE_OAUTH_ACCESS_TOKEN=ya29.stale-4242 rx-extract --bigquery proj \
		--base-url "$(fake_url bq)/bigquery/v2" --query "select * from types" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: BigQuery: query failed: the token in GOOGLE_OAUTH_ACCESS_TOKEN was refused (HTTP 401): Request had invalid authentication credentials" err &&
	! grep -q stale-4242 err
'

test_expect_success 'GOOGLE_APPLICATION_CREDENTIALS names the key file; an authorized user refreshes' '
	GOOGLE_APPLICATION_CREDENTIALS=$TRASH/bq.json rx-extract --bigquery proj --base-url "$(fake_url bq)/bigquery/v2" \
		--query "select * from types" >actual &&
	test_cmp types.expect actual &&
	printf "{\"type\":\"authorized_user\",\"client_id\":\"rx-client\",\"client_secret\":\"rx-secret\",\"refresh_token\":\"rx-refresh\",\"token_uri\":\"%s/token\"}\n" "$(fake_url bq)" >user.json &&
	rx-extract --bigquery proj --credentials user.json --base-url "$(fake_url bq)/bigquery/v2" \
		--query "select * from types" >actual &&
	test_cmp types.expect actual &&
	sed "s/rx-refresh/revoked-refresh-9/" user.json >revoked.json &&
	test_expect_code 1 rx-extract --bigquery proj --credentials revoked.json --base-url "$(fake_url bq)/bigquery/v2" \
		--query "select * from types" 2>err &&
	test_grep "getting an access token for the authorized user from .*/token: HTTP 400: invalid_grant: Token has been expired or revoked.$" err &&
	! grep -q -e revoked-refresh-9 -e rx-secret err
'

test_expect_success 'a key the token endpoint refuses: exit 1, one line, no key material' '
	keyfile other.json bq other.pem &&
	test_expect_code 1 rx-extract --bigquery proj --credentials other.json --base-url "$(fake_url bq)/bigquery/v2" \
		--query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: BigQuery: getting an access token for rx@proj.iam.gserviceaccount.com from http://127.0.0.1:[0-9]*/token: HTTP 400: invalid_grant: Invalid JWT Signature.$" err &&
	! grep -q -e BEGIN -e eyJ err
'

test_expect_success 'no credentials, a broken key file: exit 1, says what to do' '
	test_expect_code 1 rx-extract --bigquery proj --base-url "$(fake_url bq)/bigquery/v2" --query "select 1" 2>err &&
	test_grep "^rx-extract: BigQuery: no credentials: give --credentials FILE, or set GOOGLE_APPLICATION_CREDENTIALS" err &&
	echo "not json" >bad.json &&
	test_expect_code 1 rx-extract --bigquery proj --credentials bad.json --query "select 1" 2>err &&
	test_grep "the credentials file .bad.json. is not JSON" err &&
	echo "{\"type\":\"external_account\"}" >ext.json &&
	test_expect_code 1 rx-extract --bigquery proj --credentials ext.json --query "select 1" 2>err &&
	test_grep "is of type .external_account.: rx-extract reads service_account and authorized_user keys" err
'

fake_start expiring -- --public-key pub.pem --token-uses 2 --rows 25 --page-rows 5 || exit 1

test_expect_success 'an access token refused midway (401) is fetched again, every row' '
	bq expiring --query "select * from big" >actual &&
	test_end 25 actual &&
	test "$(fake_count expiring tokens_issued)" -ge 3
'

test_expect_success 'a SQL error: exit 1, the engine'\''s message and reason on one line' '
	test_expect_code 1 bq --query "select * from nosuch" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: BigQuery: query failed: HTTP 400: Syntax error: Unexpected identifier \"select \* from nosuch\" at \[1:1\] (reason invalidQuery)$" err
'

test_expect_success 'duplicate column names: exit 65 before any row' '
	test_expect_code 65 bq --query "select * from dup" >out 2>err &&
	test_must_be_empty out &&
	test_grep "columns 1 and 2 are both named .id." err
'

fake_start busy -- --public-key pub.pem --rate-limit-first 1 --backend-error-first 1 --rows 25 --page-rows 10 || exit 1

test_expect_success 'rateLimitExceeded (a 403) and backendError (a 503) are retried: every row' '
	bq busy --query "select * from big" >actual &&
	test_end 25 actual &&
	test "$(fake_count busy throttled)" = 1 &&
	test "$(fake_count busy backend_errors)" = 1 &&
	test "$(fake_count busy queries)" = 1
'

fake_start limited -- --public-key pub.pem --rate-limit-first 1000 || exit 1

test_expect_success 'rate limited beyond the retries: exit 75' '
	test_expect_code 75 bq limited --retries 1 --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: BigQuery: query failed: throttled, HTTP 403 (after 2 attempts): Exceeded rate limits: .* (reason rateLimitExceeded)$" err
'

fake_start quota -- --public-key pub.pem --quota || exit 1

test_expect_success 'quotaExceeded is not retried: exit 75 at once' '
	test_expect_code 75 bq quota --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: BigQuery: query failed: quota exceeded (HTTP 403), try again later: Quota exceeded" err
'

fake_start broken -- --public-key pub.pem --fail-page 2 --rows 12000 --page-rows 5000 || exit 1

test_expect_success 'a page that fails midway: exit 1, no end record' '
	test_expect_code 1 bq broken --query "select * from big" >out 2>err &&
	test_lines 5000 out &&
	! grep -q "\"\$rx\"" out &&
	test_lines 1 err &&
	test_grep "^rx-extract: BigQuery: page 2, after 5000 rows (the output is incomplete): HTTP 404: Not found: Job .* (reason notFound)$" err
'

fake_start short -- --public-key pub.pem --short-total --rows 25 --page-rows 10 || exit 1

test_expect_success 'fewer rows than totalRows: exit 1, no end record' '
	test_expect_code 1 bq short --query "select * from big" >out 2>err &&
	! grep -q "\"\$rx\"" out &&
	test_grep "^rx-extract: BigQuery: the result has 25 rows, totalRows said 26 (the output is incomplete)$" err
'

test_expect_success 'killed mid-stream (RX_KILL_AT): no end record' '
	{ RX_KILL_AT=rx-extract:row:7000 && export RX_KILL_AT && bq --query "select * from big" >out 2>err; echo $? >status; } &&
	echo 137 >expect &&
	test_cmp expect status &&
	! grep -q "\"\$rx\"" out
'

test_expect_success 'SIGINT while the job runs: it is cancelled, exit 75, nothing written' '
	cancels=$(fake_count bq cancels) &&
	polls=$(fake_count bq polls) &&
	{ rx-extract --bigquery proj --credentials "$TRASH/bq.json" --base-url "$(fake_url bq)/bigquery/v2" \
		--query "select * from forever" >out 2>err & } &&
	pid=$! &&
	n=0 && while [ $(fake_count bq polls) = "$polls" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done &&
	kill -INT $pid &&
	{ wait $pid; echo $? >status; } &&
	echo 75 >expect &&
	test_cmp expect status &&
	test_must_be_empty out &&
	test "$(fake_count bq cancels)" = $((cancels + 1)) &&
	test_grep "^rx-extract: BigQuery: query failed: interrupted by a signal$" err &&
	test_grep "^rx-extract: BigQuery: the job job_[0-9a-f]* was cancelled$" err
'

test_expect_success '--shard is pushed into the query, the same shards as rx_shard_of' '
	bq --query "select * from big" >all &&
	: >union &&
	for i in 1 2 3; do
		bq --query "select * from big" --shard $i/3 --key id >shard$i || return 1
		rows_of shard$i >>union
		rx-extract --ndjson all --shard $i/3 --key id >expect$i || return 1
		test_cmp expect$i shard$i || return 1
	done &&
	last_query bq >sql &&
	printf "%s\n" "SELECT * FROM (" "select * from big" ") AS rx_q WHERE MOD(CAST(CONCAT($(printf "\\047")0x$(printf "\\047"), SUBSTR(TO_HEX(MD5(CAST(rx_q.\`id\` AS STRING))), 1, 8)) AS INT64), 3) + 1 = 3" >expect &&
	test_cmp expect sql &&
	sort union >union.sorted && rows_of all | sort >all.sorted &&
	test_cmp all.sorted union.sorted
'

test_expect_success '--shard on a key of another type (NUMERIC) is filtered here, still exact' '
	bq --query "select * from big" --shard 2/3 --key ltv >actual &&
	rx-extract --ndjson all --shard 2/3 --key ltv >expect &&
	test_cmp expect actual &&
	echo "select * from big" >expect &&
	last_query bq >sql &&
	test_cmp expect sql
'

test_expect_success 'a | head -1 reader stops it quietly; a full disk is exit 74' '
	bq --query "select * from big" 2>err | head -1 >actual &&
	test_lines 1 actual &&
	test_must_be_empty err &&
	test_expect_code 74 bq --query "select * from big" >/dev/full 2>/dev/null
'

test_expect_success 'the fakes saw no protocol violation' '
	for f in bq floats expiring busy broken; do
		test "$(fake_count $f violations)" = 0 || return 1
	done
'

test_done
