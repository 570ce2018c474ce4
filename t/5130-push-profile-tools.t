#!/bin/sh
# rx-push --check-profile (what in a profile cannot work, before a run)
# and --test-connection (the profile's "test" request: do the credentials
# work?), against the HubSpot and Zendesk fakes.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start hs -- --token pat-test || exit 1
FAKE_SCRIPT=$RX_TESTS/fake/zendesk.py fake_start zd -- --token zt0k || exit 1

test_expect_success 'every shipped profile checks with no error' '
	for f in "$RX_SHARE"/destinations/*.json; do
		name=$(basename "$f" .json) &&
		rx-push --profile "$name" --check-profile >out.$name || { cat out.$name; return 1; }
		grep -q "^0 errors" out.$name || return 1
	done
'

test_expect_success 'a DELETE without a body program and an id without identity are errors' '
	cat >bad.json <<-\JSON &&
	{"url": "http://127.0.0.1:9",
	 "ops": {"upsert": {"method": "PATCH", "path": "/things/{id}", "body": "{name: .records[0].row.name}"},
		 "delete": {"method": "DELETE", "path": "/things/{key}"}}}
	JSON
	test_expect_code 1 rx-push --profile ./bad.json --check-profile >out &&
	grep "^error: ops.upsert: its request uses the destination.s id" out &&
	grep "^error: ops.delete: a DELETE with no body program" out &&
	grep "^2 errors" out
'

test_expect_success 'a profile that does not load is one error, same shape' '
	echo "{\"ops\": {\"upsert\": {\"body\": \"{\"}}}" >broken.json &&
	test_expect_code 1 rx-push --profile ./broken.json --check-profile >out &&
	grep "^error: " out && grep "^1 error, 0 warnings" out
'

test_expect_success 'programs compiled together: the one that does not compile is named, with its text' '
	cat >two.json <<-\EOF &&
	{"ops": {"upsert": {"body": "{records: [.records[] | .row]}"},
	         "delete": {"body": "{ids: [.records[] | .key]} # a comment\n", "response": "nosuchfn"}}}
	EOF
	test_expect_code 1 rx-push --profile ./two.json --check-profile >out &&
	grep "^error: profile two.json: response program does not compile: .*nosuchfn/0 is not defined.*; the program: nosuchfn" out &&
	sed "s/nosuchfn/{ok: true}/" two.json >one.json &&
	rx-push --profile ./one.json --check-profile >out &&
	grep "^0 errors" out &&
	{ echo "{\"op\":\"delete\",\"records\":[{\"op\":\"delete\",\"key\":\"K1\",\"hash\":\"h1\",\"row\":{\"a\":1}}]}" &&
	  echo "{\"op\":\"upsert\",\"records\":[{\"op\":\"upsert\",\"key\":\"K2\",\"hash\":\"h2\",\"row\":{\"a\":2}}]}"; } |
	rx-push --profile ./one.json --url http://127.0.0.1:9 --dry-run | jq -c .body >bodies &&
	printf "%s\n" "{\"ids\":[\"K1\"]}" "{\"records\":[{\"a\":2}]}" >expect &&
	test_cmp expect bodies &&
	# a program that is only a comment is jq identity alone, but no body
	# for a def: the programs are then compiled one by one
	sed "s/{ids: \[.records\[\] | .key\]} # a comment\\\\n/# only a comment/" one.json >alone.json &&
	grep -q "only a comment" alone.json &&
	echo "{\"op\":\"delete\",\"records\":[{\"op\":\"delete\",\"key\":\"K1\",\"hash\":\"h1\",\"row\":{}}]}" |
	rx-push --profile ./alone.json --url http://127.0.0.1:9 --dry-run | jq -c ".body.records[0].key" >key &&
	echo "\"K1\"" >expect &&
	test_cmp expect key
'

test_expect_success 'an unset secret is a warning that names the variable' '
	(unset HUBSPOT_TOKEN; rx-push --profile hubspot-contacts --check-profile >out) &&
	grep "^warning: auth.token_env: \$HUBSPOT_TOKEN is not set" out
'

test_expect_success '--test-connection: good credentials, exit 0' '
	HUBSPOT_TOKEN=pat-test rx-push --profile hubspot-contacts --url "$(fake_url hs)" --test-connection >out &&
	grep "^ok: GET hubspot-contacts answered HTTP 200" out &&
	ZENDESK_USER=agent@example.com/token ZENDESK_TOKEN=zt0k \
		rx-push --profile zendesk-users --url "$(fake_url zd)" --test-connection >out &&
	grep "^ok: GET zendesk-users answered HTTP 200" out
'

test_expect_success '--test-connection: a wrong token is exit 1, the message shown, the token not' '
	test_expect_code 1 env HUBSPOT_TOKEN=wrong-secret-token \
		rx-push --profile hubspot-contacts --url "$(fake_url hs)" --test-connection >out 2>err &&
	grep "HTTP 401: the destination refuses the credentials" err &&
	grep "Authentication credentials not found" err &&
	! grep -q wrong-secret-token out err
'

test_expect_success '--test-connection: nothing listening is exit 75' '
	test_expect_code 75 env HUBSPOT_TOKEN=pat-test \
		rx-push --profile hubspot-contacts --url http://127.0.0.1:9 --test-connection 2>err &&
	grep "^rx-push: test: GET hubspot-contacts" err
'

test_expect_success '--test-connection sends nothing but the test request' '
	before=$(fake_state hs | jq .requests) &&
	HUBSPOT_TOKEN=pat-test rx-push --profile hubspot-contacts --url "$(fake_url hs)" --test-connection </dev/null >/dev/null &&
	test "$(fake_state hs | jq .requests)" = $((before + 1)) &&
	test "$(fake_state hs | jq ".objects.contacts // {} | length")" = 0
'

test_done
