#!/bin/sh
# rx-push: profile variables from the environment or a file ("vars":
# {"NAME": {"env": ..}}), a base URL made of them, secret variables kept
# out of everything written, and "max_concurrency".
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

test_expect_success 'a variable without its environment variable takes its default' '
	T_DC=us6 T_TOK=s3cret-token rx-push --profile ./vars.json --dry-run <one.ndjson >out &&
	test_grep "/lists/L-default/eu-west" out
'

test_expect_success 'a variable that is missing and has no default: the profile does not load, and says why' '
	test_expect_code 1 env T_TOK=s3cret-token rx-push --profile ./vars.json --dry-run <one.ndjson >out 2>err &&
	test_must_be_empty out &&
	echo "rx-push: \$T_DC is not set (profile vars.json takes vars.dc from it)" >expect &&
	test_cmp expect err
'

test_expect_success 'a variable from a missing file is named' '
	rm -f region.txt &&
	test_expect_code 1 env T_DC=us6 T_TOK=s3cret-token rx-push --profile ./vars.json --dry-run <one.ndjson 2>err &&
	test_grep "cannot read .region.txt. (profile vars.json takes vars.region from it)" err &&
	echo eu-west >region.txt
'

test_expect_success 'a variable with a line break is refused' '
	test_expect_code 1 env T_DC="us6
Evil: 1" T_TOK=s3cret-token rx-push --profile ./vars.json --dry-run <one.ndjson 2>err &&
	test_grep "vars.dc: the value contains a line break" err
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

test_expect_success 'rx-diff --profile: a profile without max_delete_ratio keeps the default' '
	echo "{\"id\":\"a\"}" | rx-diff --state s.db --key id --profile webhook --preview --assume-complete >changes &&
	test_lines 1 changes
'

test_done
