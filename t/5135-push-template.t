#!/bin/sh
# Body templates (docs/profiles.md, "Body templates"): a body written as
# the JSON it is, with placeholders, built from the changes' own text;
# what a template cannot mean is refused when the profile loads, naming
# where; and "response_rows" naming the members the response reads.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

# awkward rows: escapes and unicode, a number beyond a double, nulls,
# a missing member, a nested object, a number key, a composite key
cat >changes.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","row":{"email":"Ada@X.com","userId":42,"name":"Zo\u00eb \"Q\" \\","big":12345678901234567890.50,"nul":null,"obj":{"a":[1,2]}},"id":"abc"}
{"op":"upsert","key":7,"hash":"h2","row":{"email":null,"name":"B"}}
{"op":"upsert","key":["a",1],"hash":"h3","row":{}}
EOF

test_expect_success 'a template places each record, copying values from the change exactly' '
	cat >t.json <<-\EOF &&
	{"vars": {"token": "tok\"1", "field": "email"},
	 "ops": {"*": {"template": {"token": "{token}", "op": "{op}",
	   "users": [{"e": "{row.email|text}", "u": "{row.userId|text|optional}", "data": "{row|without:email,userId}",
	              "k": "{key|text}", "kraw": "{key}", "{field}_idem": "{idem}", "id": "{id}",
	              "msg": "Hi {row.name}, {{literal}} #{key} {row.big}", "props": "{row|strings}",
	              "...": "{row|without:big}", "name": "mine", "tags": ["{row.big}"], "lit": [1, true, null, "x"]}]}}}}
	EOF
	rx-push --profile ./t.json --url http://127.0.0.1:9 --dry-run <changes.ndjson >req &&
	jq -r .body req >/dev/null &&
	sed "s/.*\"body\"://; s/,\"records\":3}\$//" req >body &&
	idem1=$(jq -r ".body.users[0].email_idem" req) && idem2=$(jq -r ".body.users[1].email_idem" req) &&
	idem3=$(jq -r ".body.users[2].email_idem" req) &&
	cat >expect <<-EOF &&
	{"token":"tok\\"1","op":"upsert","users":[{"e":"Ada@X.com","u":"42","data":{"name":"Zo\\u00eb \\"Q\\" \\\\","big":12345678901234567890.50,"nul":null,"obj":{"a":[1,2]}},"k":"K1","kraw":"K1","email_idem":"$idem1","id":"abc","msg":"Hi Zoë \\"Q\\" \\\\, {literal} #K1 12345678901234567890.50","props":{"email":"Ada@X.com","userId":"42","name":"Zo\\u00eb \\"Q\\" \\\\","big":"12345678901234567890.50","nul":"","obj":"{\\"a\\":[1,2]}"},"email":"Ada@X.com","userId":42,"nul":null,"obj":{"a":[1,2]},"name":"mine","tags":[12345678901234567890.50],"lit":[1,true,null,"x"]},{"e":null,"data":{"name":"B"},"k":"7","kraw":7,"email_idem":"$idem2","id":null,"msg":"Hi B, {literal} #7 ","props":{"email":"","name":"B"},"email":null,"name":"mine","tags":[null],"lit":[1,true,null,"x"]},{"e":null,"data":{},"k":"[\\"a\\",1]","kraw":["a",1],"email_idem":"$idem3","id":null,"msg":"Hi , {literal} #[\\"a\\",1] ","props":{},"name":"mine","tags":[null],"lit":[1,true,null,"x"]}]}
	EOF
	test_cmp expect body &&
	test "$idem1" != "$idem2" && test ${#idem1} = 32
'

test_expect_success 'a template gives what the body program it replaces gave' '
	# Iterable'"'"'s bulk body, as jq and as a template (rows whose numbers a
	# double holds: jq would round the others)
	cat >jq.json <<-\EOF &&
	{"ops": {"*": {"body": "{users: [.records[] | {email: (.row.email | if type == \"string\" then . elif . == null then null else tojson end), dataFields: (.row | del(.email, .userId))} + (if .row.userId != null then {userId: (.row.userId | tojson)} else {} end)]}"}}}
	EOF
	cat >tm.json <<-\EOF &&
	{"ops": {"*": {"template": {"users": [{"email": "{row.email|text}", "userId": "{row.userId|text|optional}",
	                                        "dataFields": "{row|without:email,userId}"}]}}}}
	EOF
	sed "s/12345678901234567890.50/12.5/" changes.ndjson >exact.ndjson &&
	rx-push --profile ./jq.json --url http://127.0.0.1:9 --dry-run <exact.ndjson | jq -S .body >a &&
	rx-push --profile ./tm.json --url http://127.0.0.1:9 --dry-run <exact.ndjson | jq -S .body >b &&
	test_cmp a b &&
	test "$(jq ".users | length" b)" = 3
'

test_expect_success 'a spread lets the object'"'"'s own members win, like jq +' '
	cat >s.json <<-\EOF &&
	{"ops": {"*": {"template": {"a": [{"...": "{row}", "email": "{key|text}", "extra": true}]}}}}
	EOF
	rx-push --profile ./s.json --url http://127.0.0.1:9 --dry-run <changes.ndjson | jq -c ".body.a[1]" >got &&
	echo "{\"name\":\"B\",\"email\":\"7\",\"extra\":true}" >expect &&
	test_cmp expect got
'

test_expect_success 'an NDJSON template is the lines of one record, for each record' '
	cat >nd.json <<-\EOF &&
	{"content_type": "application/x-ndjson", "vars": {"index": "people"},
	 "ops": {"*": {"template": [{"index": {"_index": "{index}", "_id": "{key|text}"}}, "{row}"]}}}
	EOF
	head -2 changes.ndjson | rx-push --profile ./nd.json --url http://127.0.0.1:9 --dry-run | jq -j .body >got &&
	cat >expect <<-\EOF &&
	{"index":{"_index":"people","_id":"K1"}}
	{"email":"Ada@X.com","userId":42,"name":"Zo\u00eb \"Q\" \\","big":12345678901234567890.50,"nul":null,"obj":{"a":[1,2]}}
	{"index":{"_index":"people","_id":"7"}}
	{"email":null,"name":"B"}
	EOF
	test_cmp expect got &&
	echo "{\"content_type\": \"application/x-ndjson\", \"ops\": {\"*\": {\"template\": {\"a\": [\"{row}\"]}}}}" >ndbad.json &&
	test_expect_code 1 rx-push --profile ./ndbad.json --check-profile >out &&
	test_grep "an NDJSON template is an array: the lines of one record" out
'

refused () { # message-pattern template-json [op-extra]
	printf "%s\n" "{\"ops\": {\"upsert\": {${3:-}\"template\": $2}}}" >bad.json &&
	test_expect_code 1 rx-push --profile ./bad.json --url http://127.0.0.1:9 --dry-run <changes.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_grep "$1" err
}

test_expect_success 'what a template cannot mean is refused when the profile loads, naming where' '
	refused "ops.upsert.template at users\[0\].e: {rwo.email} is not a placeholder" "{\"users\": [{\"e\": \"{rwo.email}\"}]}" &&
	refused "a { with no }" "{\"a\": [\"{row\"]}" &&
	refused "ops.upsert.template at id: {key} names a record outside the array that repeats" "{\"id\": \"{key}\"}" &&
	refused "at ids\[0\]: {key} names a record outside" "{\"ids\": [\"{key}\", \"{row}\"]}" &&
	refused "\"uppercase\" is not a modifier" "[{\"e\": \"{row.email|uppercase}\"}]" &&
	refused "strings and text together" "[{\"e\": \"{row|strings|text}\"}]" &&
	refused "optional is for a member" "[\"{row.email|optional}\"]" &&
	refused "optional is for a member" "[{\"m\": \"x {row.email|optional}\"}]" &&
	refused "a spread (\"...\") takes {row}" "[{\"...\": \"{key}\"}]" &&
	refused "a member name may use variables only" "[{\"{key}\": 1}]" &&
	printf "%s\n" "{\"vars\": {\"v\": \"x\"}, \"ops\": {\"*\": {\"template\": [{\"t\": \"{v|text}\", \"r\": \"{row}\"}]}}}" >var.json &&
	test_expect_code 1 rx-push --profile ./var.json --check-profile >out &&
	test_grep "at \[0\].t: {v|...}: a variable takes no modifier" out &&
	refused "a \"body\" program or a \"template\", not both" "[\"{row}\"]" "\"body\": \".\", " &&
	refused "a GET has no body" "[\"{row}\"]" "\"method\": \"GET\", " &&
	refused "a text/csv body needs a body program" "[\"{row}\"]" "\"content_type\": \"text/csv\", " &&
	printf "%s\n" "{\"vars\": {\"f\": \"a\"}, \"ops\": {\"*\": {\"template\": [{\"a\": 1, \"{f}\": 2}]}}}" >dup.json &&
	test_expect_code 1 rx-push --profile ./dup.json --check-profile >out &&
	test_grep "the member \"a\" is named twice" out
'

test_expect_success 'a query parameter given as an array of one is repeated for each record' '
	cat >q.json <<-\EOF &&
	{"ops": {"delete": {"method": "DELETE", "path": "/t", "query": {"records[]": ["{id}"], "n": "1"}, "body": "\"\""}}}
	EOF
	printf "%s\n" "{\"op\":\"delete\",\"key\":\"K1\",\"hash\":\"h1\",\"id\":\"recA\"}" \
		"{\"op\":\"delete\",\"key\":\"K2\",\"hash\":\"h2\",\"id\":\"rec B\"}" |
	rx-push --profile ./q.json --url http://127.0.0.1:9 --dry-run | jq -r "[.url, .records] | @tsv" >got &&
	printf "http://127.0.0.1:9/t?records[]=recA&records[]=rec%%20B&n=1\t2\n" >expect &&
	test_cmp expect got &&
	sed "s/\[\"{id}\"\]/[\"{id}\", \"{key}\"]/" q.json >q2.json &&
	test_expect_code 1 rx-push --profile ./q2.json --check-profile >out &&
	test_grep "ops.delete.query.records\[\]: a template, or an array of one" out
'

test_expect_success '--check-profile: a template naming {id} needs identity.ops' '
	cat >id.json <<-\EOF &&
	{"url": "http://127.0.0.1:9", "ops": {"update": {"template": {"inputs": [{"id": "{id|text}"}]}}}}
	EOF
	test_expect_code 1 rx-push --profile ./id.json --check-profile >out &&
	test_grep "^error: ops.update: its request uses the destination.s id" out
'

test_expect_success 'a template body is sent as built, and the records are acked' '
	reply_start sink -- --status 200 &&
	cat >send.json <<-\EOF &&
	{"ops": {"*": {"template": {"batch": [{"userId": "{key|text}", "traits": "{row}"}]}}},
	 "response": "if .status == 200 then {action: \"ack\"} else null end"}
	EOF
	rx-push --profile ./send.json --url "$(fake_url sink)" <changes.ndjson >acks &&
	test_lines 3 acks &&
	jq -r .body sink.log | jq -c ".batch[0]" >first &&
	cat >expect.json <<-\EOF &&
	{"userId":"K1","traits":{"email":"Ada@X.com","userId":42,"name":"Zo\u00eb \"Q\" \\","big":12345678901234567890.50,"nul":null,"obj":{"a":[1,2]}}}
	EOF
	jq -c . expect.json >expect &&
	test_cmp expect first &&
	grep -q "12345678901234567890.50" sink.log
'

test_expect_success 'response_rows names the members a response program sees' '
	reply_start rows -- --status 200 &&
	cat >rr.json <<-\EOF &&
	{"vars": {"m": "name"}, "response_rows": ["email", "{m}"],
	 "ops": {"*": {"template": ["{row}"]}},
	 "response": "[.records[] | {ok: false, message: (.row | tojson)}]"}
	EOF
	rx-push --profile ./rr.json --url "$(fake_url rows)" <changes.ndjson >acks 2>dead;
	test_must_be_empty acks &&
	jq -r .error.message dead >seen &&
	printf "%s\n" "{\"email\":\"Ada@X.com\",\"name\":\"Zoë \\\"Q\\\" \\\\\"}" "{\"email\":null,\"name\":\"B\"}" "{}" >expect &&
	test_cmp expect seen &&
	echo "{\"response_rows\": [1], \"ops\": {\"*\": {}}}" >rrbad.json &&
	test_expect_code 1 rx-push --profile ./rrbad.json --check-profile >out &&
	test_grep "response_rows: true, false, or the row members" out
'

test_done
