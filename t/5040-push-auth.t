#!/bin/sh
# rx-push's credentials: bearer, basic, API key in a header or the query,
# OAuth2 client credentials and refresh token (a 401 refreshes once);
# secrets from the environment or files, never printed: dry runs, logs
# and dead letters show ***.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

for i in 1 2 3 4 5 6; do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h$i\",\"row\":{\"n\":$i}}"; done >in.ndjson
FAST="--retry-base 10 --max-records 1 --concurrency 1"
fake_start -- --token sekrit-42 --log "$TRASH/log.ndjson" || exit 1

profile () {
	echo "{\"max_records\": 10, \"auth\": $1}" >"$2"
}

test_expect_success 'bearer token from the environment' '
	profile "{\"type\":\"bearer\",\"token_env\":\"TEST_TOKEN\"}" bearer.json &&
	TEST_TOKEN=sekrit-42 rx-push --profile ./bearer.json --url "$FAKE_URL" $FAST <in.ndjson >acks 2>err &&
	test_lines 6 acks &&
	tail -n 1 log.ndjson | grep -q "\"authorization\": \"Bearer sekrit-42\""
'

test_expect_success 'bearer token from a file' '
	printf "sekrit-42\n" >token &&
	profile "{\"type\":\"bearer\",\"token_file\":\"token\"}" bearerfile.json &&
	rx-push --profile ./bearerfile.json --url "$FAKE_URL" $FAST <in.ndjson >acks &&
	test_lines 6 acks
'

test_expect_success 'no secret set: exit 1 before sending, naming the variable to set' '
	test_expect_code 1 env -u TEST_TOKEN rx-push --profile ./bearer.json --url "$FAKE_URL" <in.ndjson >acks 2>err &&
	test_grep "^rx-push: \$TEST_TOKEN is not set (profile bearer.json: auth bearer takes its secret from it)" err
'

test_expect_success 'a 401 and no way to refresh: exit 1, the records unacked, no dead letters' '
	test_expect_code 1 env TEST_TOKEN=wrong rx-push --profile ./bearer.json --url "$FAKE_URL" $FAST <in.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "^rx-push: stopped: HTTP 401: the destination refused the credentials (it says: Unauthorized); 6 records left unacked" err &&
	! grep -q "^{" err &&
	! grep -q wrong err
'

test_expect_success 'basic, header and query credentials are sent as the profile says' '
	profile "{\"type\":\"basic\",\"user\":\"rx\",\"password_env\":\"TEST_PW\"}" basic.json &&
	profile "{\"type\":\"header\",\"name\":\"Api-Key\",\"value_env\":\"TEST_PW\"}" header.json &&
	profile "{\"type\":\"query\",\"name\":\"api_key\",\"value_env\":\"TEST_PW\"}" query.json &&
	head -n 1 in.ndjson >one.ndjson &&
	fake_start open -- --log "$TRASH/open.ndjson" &&
	for p in basic header query; do
		TEST_PW="p@ss w" rx-push --profile ./$p.json --url "$(fake_url open)/x" <one.ndjson >acks || return 1
	done &&
	sed -n 1p open.ndjson | grep -q "\"authorization\": \"Basic cng6cEBzcyB3\"" &&
	sed -n 2p open.ndjson | grep -q "\"api-key\": \"p@ss w\"" &&
	sed -n 3p open.ndjson | grep -q "\"path\": \"/x?api_key=p%40ss%20w\""
'

test_expect_success '--dry-run redacts every kind of secret' '
	for p in bearer basic header query; do
		TEST_TOKEN=sekrit-42 TEST_PW="p@ss w" rx-push --profile ./$p.json --url "$FAKE_URL/x" --dry-run <one.ndjson >>dry || return 1
	done &&
	test_lines 4 dry &&
	! grep -q "sekrit\|p@ss\|p%40ss\|cng6" dry &&
	test $(grep -c "\*\*\*" dry) = 4 &&
	grep -q "\"url\":\"http://127.0.0.1:[0-9]*/x?api_key=\*\*\*\"" dry
'

test_expect_success 'OAuth2 client credentials: a token fetched, refreshed after a 401' '
	fake_start oauth -- --oauth --token-uses 2 &&
	cat >oauth.json <<-\EOF &&
	{"max_records": 10,
	 "auth": {"type": "oauth2", "grant": "client_credentials", "token_url": "{base}/oauth/token",
	          "client_id": "rx", "client_secret_env": "TEST_SECRET"}}
	EOF
	TEST_SECRET=s3cret rx-push --profile ./oauth.json --url "$(fake_url oauth)" $FAST <in.ndjson >acks 2>err &&
	test_lines 6 acks &&
	test_must_be_empty err &&
	test "$(fake_count oauth tokens_issued)" = 3 &&
	test "$(fake_count oauth unauthorized)" = 2
'

test_expect_success 'OAuth2 refresh token grant' '
	cat >refresh.json <<-\EOF &&
	{"max_records": 10,
	 "auth": {"type": "oauth2", "grant": "refresh_token", "token_url": "{base}/oauth/token",
	          "client_id": "rx", "refresh_token_file": "refresh"}}
	EOF
	echo r3fresh >refresh &&
	rx-push --profile ./refresh.json --url "$(fake_url oauth)" $FAST <in.ndjson >acks 2>err &&
	test_lines 6 acks
'

test_expect_success 'OAuth2 with a bad secret: exit 1, the secret not printed' '
	test_expect_code 1 env TEST_SECRET=n0pe rx-push --profile ./oauth.json --url "$(fake_url oauth)" <in.ndjson >acks 2>err &&
	test_grep "oauth2 token request: HTTP 400" err &&
	! grep -q n0pe err
'

test_done
