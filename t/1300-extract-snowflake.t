#!/bin/sh
# rx-extract --snowflake against t/fake/snowflake.py, a fake of the SQL API
# v2 that checks the key-pair JWT (signature, claims, fingerprint), serves
# partitions (gzip after the first), answers 202 and polls, throttles and
# fails on request.  Every type, a result of several partitions, async
# statements, retries that never run a statement twice, auth failures
# that print no secret, an error and a kill midway (no end record), a
# signal that cancels the statement, --shard pushed into the SQL.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

FAKE_SCRIPT=$RX_TESTS/fake/snowflake.py
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem 2>/dev/null &&
openssl pkey -in key.pem -pubout -out pub.pem &&
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null || exit 1

fake_start sf -- --public-key pub.pem --account MYORG-ACCT --user RX_USER --token oauth-s3cret-token \
	--rows 12000 --partition-rows 5000 --log sf.log || exit 1

# sf [FAKE] ARGS...: rx-extract against a fake (default "sf"), with the key
sf () {
	fake=sf
	case ${1:-} in -*) ;; *) fake=$1; shift ;; esac
	SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/key.pem rx-extract --snowflake myorg-acct --user rx_user \
		--base-url "$(fake_url "$fake")" "$@"
}

# last_sql FAKE: the statement it was last sent
last_sql () {
	fake_state "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["last_statement"])'
}

test_expect_success 'every type, mapped exactly' '
	sf --query "select * from types" >actual &&
	cat >expect <<-\EOF &&
	{"ID":1,"AMOUNT":123.45,"BIGDEC":"1234567890123456789.0123456789","RATIO":0.1,"NAME":"Ada","FLAG":true,"DAY":"2020-01-01","TOD":"23:01:59","NTZ":"2021-03-19T17:06:59.123456789","LTZ":"2021-03-19T17:06:59+00:00","TZ":"2021-03-19T09:06:59-08:00","DOC":{"a":1,"big":"12345678901234567890"},"TAGS":["x",2],"BIN":"48656c6c6f","DF":1.5}
	{"ID":"9007199254740993","AMOUNT":-0.50,"BIGDEC":null,"RATIO":"NaN","NAME":"é \"q\" \\ ☃","FLAG":false,"DAY":"1969-12-31","TOD":"00:00:00.5","NTZ":"1969-12-31T23:59:58.5","LTZ":"1970-01-01T00:00:00+00:00","TZ":"2021-03-19T22:36:59.5+05:30","DOC":"just a string","TAGS":[],"BIN":"","DF":"123456789012345678901234567890123456"}
	{"ID":"99999999999999999999999999999999999999","AMOUNT":null,"BIGDEC":0.0000000001,"RATIO":-1.5e+300,"NAME":null,"FLAG":null,"DAY":"1970-01-01","TOD":null,"NTZ":"9999-12-31T23:59:59.999999999","LTZ":null,"TZ":null,"DOC":null,"TAGS":null,"BIN":null,"DF":null}
	{"$rx":"end","rows":3}
	EOF
	test_cmp expect actual &&
	test "$(fake_count sf violations)" = 0
'

test_expect_success 'the JWT is RS256 over the claims Snowflake asks for (checked with openssl)' '
	jwt=$(sed -n "s/.*\"Authorization\": \"Bearer \([^\"]*\)\".*/\1/p" sf.log | head -1) &&
	printf "%s" "$jwt" | cut -d. -f1,2 | tr -d "\n" >signed &&
	printf "%s" "$jwt" | cut -d. -f3 | tr -d "\n" | tr "_-" "/+" >sig.b64 &&
	pad=$(( (4 - $(wc -c <sig.b64) % 4) % 4 )) &&
	{ cat sig.b64; head -c $pad /dev/zero | tr "\0" "="; } | base64 -d >sig &&
	openssl dgst -sha256 -verify pub.pem -signature sig signed >/dev/null &&
	printf "%s" "$jwt" | cut -d. -f2 | tr -d "\n" | tr "_-" "/+" >claims.b64 &&
	pad=$(( (4 - $(wc -c <claims.b64) % 4) % 4 )) &&
	{ cat claims.b64; head -c $pad /dev/zero | tr "\0" "="; } | base64 -d >claims &&
	fp=$(openssl pkey -pubin -in pub.pem -outform DER | openssl dgst -sha256 -binary | base64) &&
	test_grep "\"iss\":\"MYORG-ACCT.RX_USER.SHA256:$fp\"" claims &&
	test_grep "\"sub\":\"MYORG-ACCT.RX_USER\"" claims &&
	grep -q "\"X-Snowflake-Authorization-Token-Type\": \"KEYPAIR_JWT\"" sf.log
'

test_expect_success 'a result of three partitions (gzip after the first), in order' '
	sf --query "select * from big" >actual &&
	test_lines 12001 actual &&
	test_end 12000 actual &&
	rows_of actual | sed "s/^{\"ID\":\([0-9]*\),.*/\1/" >ids &&
	seq 0 11999 >expect &&
	test_cmp expect ids &&
	test_grep "^{\"ID\":10,\"NAME\":\"Customer 10\",\"EMAIL\":\"c10@example.com\",\"PLAN\":\"team\",\"LTV\":70.10,\"SCORE\":1.4286,\"ACTIVE\":true,\"SIGNUP\":\"2019-04-24\",\"SEEN\":\"2020-09-13T12:26:50.00000001\",\"UPDATED\":\"2023-11-14T22:13:30+00:00\",\"ORG\":\"9007199254741003\",\"NOTE\":null}$" actual &&
	test_grep "^{\"ID\":11,.*\"NOTE\":\"note \\\\\"11\\\\\"\"}$" actual &&
	test_grep "partition=2" sf.log &&
	test "$(fake_count sf violations)" = 0
'

test_expect_success '--table quotes the name with IDENTIFIER()' '
	sf --table big >actual &&
	test_end 12000 actual &&
	test_grep "IDENTIFIER(.big.)" sf.log
'

test_expect_success 'a slow statement: 202, polled until done' '
	polls=$(fake_count sf polls) &&
	sf --query "select * from slow" >actual &&
	test_end 12000 actual &&
	test $(( $(fake_count sf polls) - polls )) -ge 3
'

test_expect_success 'the context goes in the body; user and account upper case' '
	sf --warehouse COMPUTE_WH --database DB --schema PUBLIC --role ANALYST --timeout 60 \
		--query "select * from empty" >actual &&
	echo "{\"\$rx\":\"end\",\"rows\":0}" >expect &&
	test_cmp expect actual &&
	fake_state sf | python3 -c "
import json, sys
d = json.load(sys.stdin)
st = [s for s in d[\"statements\"].values() if s[\"sql\"] == \"select * from empty\"][-1]
assert st == {\"sql\": \"select * from empty\", \"warehouse\": \"COMPUTE_WH\", \"database\": \"DB\",
              \"schema\": \"PUBLIC\", \"role\": \"ANALYST\", \"timeout\": 60}, st
"
'

fake_start sync -- --public-key pub.pem --account XY12345 --user RX_USER --ignore-async --rows 30 --partition-rows 20 || exit 1

test_expect_success 'an account locator with a region signs as the bare locator; a 200 on submit' '
	SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/key.pem SNOWFLAKE_USER=Rx_User rx-extract --snowflake xy12345.us-east-1 \
		--base-url "$(fake_url sync)" --query "select * from big" >actual &&
	test_end 30 actual &&
	test "$(fake_count sync polls)" = 0 &&
	test "$(fake_count sync violations)" = 0
'

test_expect_success 'an encrypted key with its passphrase; a wrong passphrase is not printed' '
	openssl pkcs8 -topk8 -in key.pem -out enc.pem -passout pass:open-sesame-42 -v2 aes-256-cbc &&
	SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/enc.pem SNOWFLAKE_PRIVATE_KEY_PASSPHRASE=open-sesame-42 \
		rx-extract --snowflake myorg-acct --user rx_user --base-url "$(fake_url sf)" --query "select * from empty" >actual &&
	test_end 0 actual &&
	test_expect_code 1 env SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/enc.pem SNOWFLAKE_PRIVATE_KEY_PASSPHRASE=wrong-pass-99 \
		rx-extract --snowflake myorg-acct --user rx_user --base-url "$(fake_url sf)" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Snowflake: SNOWFLAKE_PRIVATE_KEY_FILE: cannot read the private key in the file .*enc.pem. (a wrong passphrase?)" err &&
	! grep -q wrong-pass-99 err &&
	test_expect_code 1 env SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/enc.pem \
		rx-extract --snowflake myorg-acct --user rx_user --base-url "$(fake_url sf)" --query "select 1" 2>err &&
	test_grep "is encrypted and no passphrase was given" err
'

test_expect_success 'a key Snowflake does not know: exit 1, one line naming user, account and key' '
	fp=$(openssl pkey -in other.pem -pubout -outform DER | openssl dgst -sha256 -binary | base64) &&
	test_expect_code 1 env SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/other.pem rx-extract --snowflake myorg-acct --user rx_user \
		--base-url "$(fake_url sf)" --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Snowflake: query failed: the credentials were refused (HTTP 401): user RX_USER, account MYORG-ACCT, key SHA256:$fp: JWT token is invalid" err &&
	! grep -q -e "BEGIN" -e "eyJ" err
'

test_expect_success 'an OAuth token instead; a refused one is not printed' '
	SNOWFLAKE_TOKEN=oauth-s3cret-token rx-extract --snowflake myorg-acct --base-url "$(fake_url sf)" \
		--query "select * from types" >actual &&
	test_end 3 actual &&
	test_expect_code 1 env SNOWFLAKE_TOKEN=stale-token-777 rx-extract --snowflake myorg-acct --base-url "$(fake_url sf)" \
		--query "select * from types" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: Snowflake: query failed: the token in SNOWFLAKE_TOKEN was refused (HTTP 401)" err &&
	! grep -q stale-token-777 err
'

test_expect_success 'no credentials at all: exit 1, says what to set' '
	test_expect_code 1 env -u SNOWFLAKE_PRIVATE_KEY_FILE -u SNOWFLAKE_TOKEN rx-extract --snowflake myorg-acct \
		--base-url "$(fake_url sf)" --query "select 1" 2>err &&
	test_grep "^rx-extract: Snowflake: no credentials: set SNOWFLAKE_PRIVATE_KEY_FILE" err &&
	test_expect_code 1 env -u SNOWFLAKE_USER SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/key.pem rx-extract --snowflake myorg-acct \
		--base-url "$(fake_url sf)" --query "select 1" 2>err &&
	test_grep "needs the user: give --user or set SNOWFLAKE_USER" err
'

test_expect_success 'a SQL error: exit 1, the engine'\''s message on one line, nothing written' '
	test_expect_code 1 sf --query "select * from nosuch" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Snowflake: query failed: SQL compilation error: Object .select \* from nosuch. does not exist or not authorized. (code 002003, SQL state 42S02)$" err
'

test_expect_success 'a failure found by a poll (422): exit 1' '
	test_expect_code 1 sf --query "select * from fails_later" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: Snowflake: query failed: Division by zero" err
'

test_expect_success 'duplicate column names: exit 65 before any row' '
	test_expect_code 65 sf --query "select * from dup" >out 2>err &&
	test_must_be_empty out &&
	test_grep "columns 1 and 2 are both named .ID." err
'

fake_start throttle -- --public-key pub.pem --account MYORG-ACCT --user RX_USER --throttle-first 2 \
	--flaky-partition 1 --rows 25 --partition-rows 10 || exit 1

test_expect_success 'throttled (429) and a 503 on a partition: retried, every row' '
	sf throttle --query "select * from big" >actual &&
	test_end 25 actual &&
	test "$(fake_count throttle throttled)" = 2 &&
	test "$(fake_count throttle executions)" = 1
'

fake_start always -- --public-key pub.pem --account MYORG-ACCT --user RX_USER --throttle-all || exit 1

test_expect_success 'throttled beyond the retries: exit 75 (try again later)' '
	test_expect_code 75 sf always --retries 2 --query "select * from big" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Snowflake: query failed: throttled, HTTP 429 (after 3 attempts): Too many requests: slow down (code 390000)$" err
'

fake_start drop -- --public-key pub.pem --account MYORG-ACCT --user RX_USER --drop-submit --rows 25 \
	--partition-rows 10 --log drop.log || exit 1

test_expect_success 'a submit whose reply is lost is resent with its requestId and retry=true: run once' '
	sf drop --query "select * from big" >actual &&
	test_end 25 actual &&
	test "$(fake_count drop executions)" = 1 &&
	test "$(fake_count drop reruns)" = 0 &&
	grep "\"POST\", \"path\": \"/api/v2/statements?" drop.log | sed "s/.*requestId=\([0-9a-f-]*\).*/\1/" | uniq >ids &&
	test_lines 1 ids &&
	test_grep "/api/v2/statements?async=true&requestId=[0-9a-f-]*&retry=true" drop.log
'

fake_start broken -- --public-key pub.pem --account MYORG-ACCT --user RX_USER --fail-partition 1 \
	--short-partition 2 --rows 12000 --partition-rows 5000 || exit 1

test_expect_success 'a partition that fails midway: exit 1, no end record' '
	test_expect_code 1 sf broken --query "select * from big" >out 2>err &&
	test_lines 5000 out &&
	! grep -q "\"\$rx\"" out &&
	test_lines 1 err &&
	test_grep "^rx-extract: Snowflake: partition 2 of 3, after 5000 rows (the output is incomplete): HTTP 500: Internal error processing the partition (code 000603)$" err
'

fake_start short -- --public-key pub.pem --account MYORG-ACCT --user RX_USER --short-partition 1 \
	--rows 25 --partition-rows 10 || exit 1

test_expect_success 'a partition one row short of partitionInfo: exit 1, no end record' '
	test_expect_code 1 sf short --query "select * from big" >out 2>err &&
	! grep -q "\"\$rx\"" out &&
	test_grep "^rx-extract: Snowflake: partition 2 of 3 has 9 rows, partitionInfo said 10 (the output is incomplete)$" err
'

test_expect_success 'killed mid-stream (RX_KILL_AT): no end record' '
	{ RX_KILL_AT=rx-extract:row:7000 && export RX_KILL_AT && sf --query "select * from big" >out 2>err; echo $? >status; } &&
	echo 137 >expect &&
	test_cmp expect status &&
	! grep -q "\"\$rx\"" out &&
	test_grep "killed at row:7000" err
'

test_expect_success 'SIGTERM while the statement runs: it is cancelled, exit 75, nothing written' '
	cancels=$(fake_count sf cancels) &&
	polls=$(fake_count sf polls) &&
	{ SNOWFLAKE_PRIVATE_KEY_FILE=$TRASH/key.pem rx-extract --snowflake myorg-acct --user rx_user \
		--base-url "$(fake_url sf)" --query "select * from forever" >out 2>err & } &&
	pid=$! &&
	n=0 && while [ $(fake_count sf polls) = "$polls" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done &&
	kill -TERM $pid &&
	{ wait $pid; echo $? >status; } &&
	echo 75 >expect &&
	test_cmp expect status &&
	test_must_be_empty out &&
	test "$(fake_count sf cancels)" = $((cancels + 1)) &&
	test_grep "^rx-extract: Snowflake: query failed: interrupted by a signal$" err &&
	test_grep "^rx-extract: Snowflake: the statement .* was cancelled$" err
'

test_expect_success '--shard is pushed into the statement, the same shards as rx_shard_of' '
	sf --query "select * from big" >all &&
	: >union &&
	for i in 1 2 3; do
		sf --query "select * from big" --shard $i/3 --key ID >shard$i || return 1
		rows_of shard$i >>union
		rx-extract --ndjson all --shard $i/3 --key ID >expect$i || return 1
		test_cmp expect$i shard$i || return 1
	done &&
	last_sql sf >sql &&
	printf "%s\n" "SELECT * FROM (" "select * from big" ") AS rx_q WHERE MOD(TO_NUMBER(SUBSTR(MD5(TO_VARCHAR(rx_q.\"ID\")), 1, 8), $(printf "\047")XXXXXXXX$(printf "\047")), 3) + 1 = 3" >expect &&
	test_cmp expect sql &&
	sort union >union.sorted && rows_of all | sort >all.sorted &&
	test_cmp all.sorted union.sorted
'

test_expect_success '--shard on a key that is not pushed (a real) is still exact, filtered here' '
	sf --query "select * from big" --shard 2/3 --key SCORE >actual &&
	rx-extract --ndjson all --shard 2/3 --key SCORE >expect &&
	test_cmp expect actual &&
	last_sql sf >sql &&
	echo "select * from big" >expect &&
	test_cmp expect sql
'

test_expect_success 'plain http to another host is refused before any credential is sent' '
	test_expect_code 1 sf --base-url http://example.com --query "select 1" 2>err &&
	test_grep "refusing plain http to .example.com." err
'

test_expect_success 'a | head -1 reader stops it quietly; a full disk is exit 74' '
	sf --query "select * from big" 2>err | head -1 >actual &&
	test_lines 1 actual &&
	test_must_be_empty err &&
	test_expect_code 74 sf --query "select * from big" >/dev/full 2>err
'

test_expect_success 'the fake saw no protocol violation' '
	test "$(fake_count sf violations)" = 0 &&
	test "$(fake_count throttle violations)" = 0 &&
	test "$(fake_count drop violations)" = 0
'

test_done
