#!/bin/sh
# The examples of rx-push(1) and the worked example of docs/profiles.md
# really run.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

test_expect_success 'rx-push(1) EXAMPLES: the SQLite load' '
	sed -n "/^Load changes into a SQLite/,/^\.EE/p" "$RX_TOP/docs/rx-push.1" | sed -n "/^\.EX/,/^\.EE/p" | grep -v "^\.E[XE]" >example.sh &&
	test_lines 3 example.sh &&
	sh example.sh >acks &&
	test_grep "^{\"key\":\"C1\",\"hash\":\"h1\",\"op\":\"upsert\"}$" acks &&
	sqlite3 app.db "select * from customers" >rows &&
	echo "C1|a@x.com" >expect &&
	test_cmp expect rows
'

test_expect_success 'rx-push(1) EXAMPLES: the dry run' '
	sed -n "/^See the request a webhook would get/,/^\.EE/p" "$RX_TOP/docs/rx-push.1" | sed -n "/^\.EX/,/^\.EE/p" | grep -v "^\.E[XE]" >dry.sh &&
	sh dry.sh >out &&
	test_lines 1 out &&
	test_grep "^{\"\$rx\":\"request\",\"method\":\"POST\",\"url\":\"https://hooks.example.com/rx\"" out
'

test_expect_success 'docs/profiles.md: the worked example against a HubSpot-like fake' '
	python3 -c "
import re
s = open(\"$RX_TOP/docs/profiles.md\").read()
open(\"hubspot.json\", \"w\").write(re.search(r\"\`\`\`json\n(.*?)\`\`\`\", s, re.S).group(1))
" &&
	fake_start hs -- --family correlation &&
	cat >in.ndjson <<-\EOF &&
	{"op":"upsert","records":[{"key":"C1","hash":"a","row":{"email":"ada@x.com"}},{"key":"C2","hash":"b","row":{"email":"bob-at-x"}},{"key":"C3","hash":"c","row":{"email":"cy@x.com"}}]}
	EOF
	test_expect_code 3 env HUBSPOT_TOKEN=x rx-push --profile ./hubspot.json --url "$(fake_url hs)" <in.ndjson >acks 2>err &&
	cat >expect <<-\EOF &&
	{"key":"C1","hash":"a","op":"upsert"}
	{"key":"C3","hash":"c","op":"upsert"}
	EOF
	test_cmp expect acks &&
	test_grep "^{\"key\":\"C2\".*\"status\":207" err &&
	fake_records hs | cut -f1 >stored &&
	printf "ada@x.com\ncy@x.com\n" >expect &&
	test_cmp expect stored &&
	echo "{\"op\":\"delete\",\"key\":\"C1\",\"hash\":\"a\"}" |
	test_expect_code 3 env HUBSPOT_TOKEN=x rx-push --profile ./hubspot.json --url "$(fake_url hs)" >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "has no op .\\?.delete" err
'

test_expect_success '--progress without a terminal writes nothing to the streams' '
	echo "{\"op\":\"upsert\",\"key\":\"C1\",\"hash\":\"h\",\"row\":{\"id\":\"C1\"}}" >one.ndjson &&
	setsid rx-push --profile webhook --url http://127.0.0.1:9/x --dry-run --progress <one.ndjson >out 2>err &&
	test_lines 1 out &&
	test_must_be_empty err
'

test_done
