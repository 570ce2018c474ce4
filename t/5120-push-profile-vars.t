#!/bin/sh
# rx-push profiles: what t/5600 (values from the environment) leaves out:
# a base URL made of variables ("https://{dc}.api.example.com"), a
# secret variable in a path kept out of dead letters and messages, and
# "max_concurrency".
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

cat >vars.json <<'EOF'
{"url": "https://{dc}.api.example.com/3.0",
 "vars": {"dc": {"env": "T_DC"}, "list": {"env": "T_LIST", "default": "L-default"},
          "tok": {"env": "T_TOK", "secret": true}, "region": {"file": "region.txt"}},
 "ops": {"*": {"path": "/lists/{list}/{region}", "body": "{token: $vars.tok, list: $vars.list, n: (.records | length)}"}}}
EOF
echo eu-west >region.txt
echo '{"op":"upsert","key":"a","hash":"h","row":{"x":1}}' >one.ndjson

test_expect_success 'variables fill the base URL, the path and $vars; a secret one shows as ***' '
	T_DC=us6 T_LIST=L7 T_TOK=s3cret-token rx-push --profile ./vars.json --dry-run <one.ndjson >out &&
	cat >expect <<-\EOF &&
	{"$rx":"request","method":"POST","url":"https://us6.api.example.com/3.0/lists/L7/eu-west","headers":{"Content-Type":"application/json"},"body":{"token":"***","list":"L7","n":1},"records":1}
	EOF
	test_cmp expect out
'

test_expect_success 'a secret variable never reaches a dead letter or a message' '
	reply_start echo -- --status 400 --echo-headers &&
	cat >leak.json <<-\EOF &&
	{"vars": {"tok": {"env": "T_TOK", "secret": true}},
	 "ops": {"*": {"path": "/{tok}", "body": "{token: $vars.tok}"}}}
	EOF
	test_expect_code 3 env T_TOK=s3cret-token rx-push --profile ./leak.json --url "$(fake_url echo)" <one.ndjson >acks 2>err &&
	test_grep "s3cret-token" echo.log &&
	! grep -q "s3cret-token" err &&
	test_grep "\*\*\*" err
'

test_expect_success 'max_concurrency caps --concurrency' '
	fake_start slow -- --family webhook --slow-every 1 --slow-ms 150 &&
	echo "{\"max_concurrency\": 2, \"jq\": \"webhook\", \"response\": \"webhook_response\"}" >two.json &&
	awk "BEGIN { for (i = 1; i <= 12; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"K%d\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{}}\\n\", i }" >many.ndjson &&
	rx-push --profile ./two.json --url "$(fake_url slow)" --max-records 1 --concurrency 16 <many.ndjson >acks &&
	test_lines 12 acks &&
	test "$(fake_count slow max_inflight)" = 2
'

test_done
