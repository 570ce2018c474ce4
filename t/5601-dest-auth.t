#!/bin/sh
# Auth the destination catalogue needed: a header secret with a prefix
# (Elasticsearch's "ApiKey ..."), and the OAuth2 JWT bearer grant of a
# Google service account, signed RS256, against the fake's token
# endpoint (t/fake/fake-saas.py --google-key), which checks the
# signature with openssl.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

echo '{"op":"upsert","key":"C1","hash":"h1","row":{"email":"ada@example.com"}}' >one.ndjson

cat >prefix.json <<'EOF'
{"auth": {"type": "header", "name": "Authorization", "prefix": "ApiKey ", "value_env": "T_APIKEY"},
 "ops": {"*": {"path": "/_bulk"}}}
EOF

test_expect_success 'a header secret with a prefix (Authorization: ApiKey ...)' '
	reply_start rep -- --status 200 --body "{}" &&
	T_APIKEY=a2V5OnNlY3JldA== rx-push --profile ./prefix.json --url "$(cat rep.url)" <one.ndjson >acks &&
	test_lines 1 acks &&
	test_grep "\"Authorization\": \"ApiKey a2V5OnNlY3JldA==\"" rep.log
'

# The JWT bearer grant: a service account's key file, as Google issues it.
google_key || exit 1
saas_start g -- --vendor firestore --google-key sa.pub --google-iss rx@proj.iam.gserviceaccount.com --token-uses 2 --log g.log
google_service_account g sa.json
cat >jwt.json <<'EOF'
{"auth": {"type": "oauth2", "grant": "jwt_bearer", "credentials_env": "GOOGLE_APPLICATION_CREDENTIALS",
          "scope": "https://www.googleapis.com/auth/datastore"},
 "max_records": 1,
 "ops": {"*": {"path": "/v1/projects/proj/databases/(default)/documents:batchWrite",
               "body": "{writes: [.records[] | {update: {name: \"projects/proj/databases/(default)/documents/users/\\(.key)\", fields: {email: {stringValue: .row.email}}}}]}"}},
 "response": "if .status == 200 then [.body.status[] | if (.code // 0) == 0 then {ok: true} else {ok: false, message: .message} end] else null end"}
EOF

test_expect_success 'jwt_bearer: a signed assertion buys a token; an expired token is refreshed' '
	for k in C1 C2 C3 C4 C5; do echo "{\"op\":\"upsert\",\"key\":\"$k\",\"hash\":\"h\",\"row\":{\"email\":\"$k@example.com\"}}"; done >five &&
	GOOGLE_APPLICATION_CREDENTIALS=$PWD/sa.json rx-push --profile ./jwt.json --url "$(cat g.url)" --concurrency 1 <five >acks 2>err &&
	test_lines 5 acks && test_must_be_empty err &&
	test "$(fake_count g tokens_issued)" = 3 &&
	test "$(fake_count g last_scope)" = "https://www.googleapis.com/auth/datastore" &&
	fake_records g | cut -f1 >got && printf "C1\nC2\nC3\nC4\nC5\n" >expect && test_cmp expect got
'

test_expect_success 'jwt_bearer: a key the endpoint does not know is refused at start, secrets unshown' '
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null &&
	python3 -c "
import json; d = json.load(open(\"sa.json\")); d[\"private_key\"] = open(\"other.pem\").read()
print(json.dumps(d))" >other.json &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/other.json rx-push --profile ./jwt.json --url "$(cat g.url)" <one.ndjson >acks 2>err &&
	test_grep "oauth2 token request: HTTP 400, no token in the reply: invalid_grant (" err &&
	! grep -q "PRIVATE KEY" err
'

test_expect_success 'jwt_bearer: a missing or broken key file is named' '
	test_expect_code 1 env -u GOOGLE_APPLICATION_CREDENTIALS rx-push --profile ./jwt.json --url "$(cat g.url)" <one.ndjson 2>err &&
	test_grep "GOOGLE_APPLICATION_CREDENTIALS is not set" err &&
	echo "{\"client_email\":\"x\",\"private_key\":\"nope\"}" >bad.json &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/bad.json rx-push --profile ./jwt.json --url "$(cat g.url)" <one.ndjson 2>err &&
	test_grep "cannot read the private key in .*bad.json. (its private_key)" err &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/none.json rx-push --profile ./jwt.json --url "$(cat g.url)" <one.ndjson 2>err &&
	test_grep "cannot read the service account key file" err
'

test_expect_success 'jwt_bearer: a dry run fetches no token and shows none' '
	GOOGLE_APPLICATION_CREDENTIALS=$PWD/sa.json rx-push --profile ./jwt.json --url "$(cat g.url)" --dry-run <one.ndjson >dry &&
	test_grep "\"Authorization\":\"\\*\\*\\*\"" dry &&
	test "$(fake_count g tokens_issued)" = 3
'

test_done
