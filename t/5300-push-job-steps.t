#!/bin/sh
# The two generic shapes of job beyond one poll (issue 13): a status
# program that sends the next poll elsewhere and carries what it learnt
# ("next", "carry": Klaviyo's import-error pages; a next that is a
# request, a POST with a body: Google's status search), and a job made first
# (job.create, the write adds to {job}, the first poll starts it:
# Google Ads' offline user data jobs).  Against a one-answer server that
# logs every request, so the order and shape of the requests is what is
# checked; the programs decide from what they carry.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

reply_start srv -- --body '{"ok":1}' || exit 1

cat >in <<'IN'
{"op":"upsert","key":"A","hash":"h1","row":{"n":1}}
{"op":"upsert","key":"B","hash":"h2","row":{"n":2,"bad":true}}
{"op":"upsert","key":"C","hash":"h3","row":{"n":3}}
IN

cat >pages.json <<'EOF2'
{"max_records": 10,
 "ops": {"upsert": {"path": "/w", "body": "{n: (.records | length)}",
   "job": {"id": "if .status == 200 then \"j1\" else null end",
           "poll": {"path": "/jobs/{job}"}, "interval": 0.05, "max_wait": 30,
           "status": ".job as $j | if .carry == null then {action: \"wait\", next: \"/jobs/\\($j)/errors?page=2\", carry: [1], wait: 0} elif (.carry | length) == 1 then {action: \"wait\", next: \"/jobs/\\($j)/errors?page=3\", carry: (.carry + [2]), wait: 0} else .carry as $c | [.records[] | if .row.bad then {ok: false, message: \"job \\($j) carried \\($c)\"} else {ok: true} end] end"}}}}
EOF2

test_expect_success 'a status program reads its next pages where it says, carrying what it learnt' '
	rx-push --profile ./pages.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3 &&
	jq -r .key acks | sort | tr "\n" " " >got && test "$(cat got)" = "A C " &&
	test_grep "\"key\":\"B\".*job j1 carried \[1,2\]" err &&
	jq -r "[.method, .path] | @tsv" srv.log >got &&
	printf "POST\t/w\nGET\t/jobs/j1\nGET\t/jobs/j1/errors?page=2\nGET\t/jobs/j1/errors?page=3\n" >expect &&
	test_cmp expect got
'

test_expect_success 'a next that is not a path under the base URL is never followed' '
	: >srv.log &&
	jq ".ops.upsert.job.status = \"{action: \\\"wait\\\", next: \\\"https://elsewhere.example/steal\\\"}\"" pages.json >away.json &&
	rx-push --profile ./away.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3 &&
	test_must_be_empty acks &&
	test_grep "not a path under the base URL" err &&
	test_lines 2 srv.log &&
	! grep elsewhere srv.log
'

cat >made.json <<'EOF2'
{"max_records": 10,
 "ops": {"upsert": {"path": "/jobs/{job}:add", "body": "{ops: [.records[].row]}",
   "response": "[.records[] | if .row.bad then {ok: false, message: \"refused at add\"} else {ok: true} end]",
   "job": {"create": {"path": "/jobs:create", "body": "{make: (.records | length)}"},
           "id": "if .status == 200 then \"J7\" else null end",
           "poll": {"method": "POST", "path": "/jobs/{job}:run", "body": "{}"}, "interval": 0.05, "max_wait": 30,
           "status": "if .carry == null then {action: \"wait\", next: \"/operations/op-\\(.job)\", carry: \"running\", wait: 0} else {action: \"ack\"} end"}}}}
EOF2

test_expect_success 'a job made first: create, add (its refusals dead-lettered), run, then the operation until done' '
	: >srv.log &&
	rx-push --profile ./made.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3 &&
	jq -r .key acks | sort | tr "\n" " " >got && test "$(cat got)" = "A C " &&
	test_grep "\"key\":\"B\".*refused at add" err &&
	jq -r "[.method, .path, .body] | @tsv" srv.log >got &&
	printf "POST\t/jobs:create\t{\"make\":3}\nPOST\t/jobs/J7:add\t{\"ops\":[{\"n\":1},{\"n\":2,\"bad\":true},{\"n\":3}]}\nPOST\t/jobs/J7:run\t{}\nGET\t/operations/op-J7\t\n" >expect &&
	test_cmp expect got
'

test_expect_success 'a next may be a request: a POST with a body (a search of the job), repeated until done' '
	: >srv.log &&
	jq ".ops.upsert.job.status = \"if .carry == null then {action: \\\"wait\\\", next: {method: \\\"POST\\\", path: \\\"/search\\\", body: {q: .job}}, carry: 1, wait: 0} elif .carry == 1 then {action: \\\"wait\\\", carry: 2, wait: 0} else {action: \\\"ack\\\"} end\"" made.json >search.json &&
	rx-push --profile ./search.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3 &&
	jq -r .key acks | sort | tr "\n" " " >got && test "$(cat got)" = "A C " &&
	jq -r "[.method, .path, .body] | @tsv" srv.log | tail -n 3 >got &&
	printf "POST\t/jobs/J7:run\t{}\nPOST\t/search\t{\"q\":\"J7\"}\nPOST\t/search\t{\"q\":\"J7\"}\n" >expect &&
	test_cmp expect got
'

test_expect_success 'a next request with another method, a GET with a body, or another host is never followed' '
	for nx in "{method: \\\"DELETE\\\", path: \\\"/x\\\"}" "{path: \\\"/x\\\", body: 1}" "{method: \\\"POST\\\", path: \\\"https://elsewhere.example/x\\\"}" "[1]"; do
		: >srv.log &&
		jq ".ops.upsert.job.status = \"{action: \\\"wait\\\", next: $nx}\"" made.json >bad.json &&
		{ rx-push --profile ./bad.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3; } &&
		test_must_be_empty acks && test "$(grep -c "the job status program.s .*next.* \(cannot be followed\|is not a path\)" err)" = 2 &&
		test_lines 3 srv.log && ! grep -q -e elsewhere -e "/x" srv.log || return 1
	done
'

test_expect_success 'a dry run shows the create, then the write into the job it would make ({job})' '
	rx-push --profile ./made.json --url http://127.0.0.1:9 --dry-run <in >dry &&
	jq -r "[.method, .url, .records] | @tsv" dry >got &&
	printf "POST\thttp://127.0.0.1:9/jobs:create\t3\nPOST\thttp://127.0.0.1:9/jobs/%%7Bjob%%7D:add\t3\n" >expect &&
	test_cmp expect got
'

test_expect_success 'a create that names no job acks nothing: its records are rejected with the reason' '
	jq ".ops.upsert.job.id = \"null\"" made.json >nojob.json &&
	rx-push --profile ./nojob.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3 &&
	test_must_be_empty acks &&
	test "$(grep -c "names no job" err)" = 3
'

test_expect_success 'killed once the create is sent: nothing acked; killed after the job is named: nothing acked' '
	{ RX_KILL_AT=rx-push:create:1 rx-push --profile ./made.json --url "$(fake_url srv)" <in >acks 2>err; test $? != 0; } &&
	test_must_be_empty acks &&
	{ RX_KILL_AT=rx-push:job:1 rx-push --profile ./made.json --url "$(fake_url srv)" <in >acks 2>err; test $? != 0; } &&
	test_must_be_empty acks
'

test_expect_success '--check-profile: a path naming {job} with no job made first is an error' '
	jq "del(.ops.upsert.job.create) | .ops.upsert.job.id = \"\\\"x\\\"\"" made.json >bad.json &&
	test_expect_code 1 rx-push --profile ./bad.json --check-profile >out &&
	test_grep "names {job}, but no job is made before it" out &&
	rx-push --profile ./made.json --check-profile >out2; test $? = 0
'

test_expect_success 'a job polled with PATCH (a state change), and a next that is a PATCH or a PUT with a body' '
	: >srv.log &&
	jq ".ops.upsert.job.poll = {method: \"PATCH\", path: \"/jobs/{job}\", body: \"{state: \\\"UploadComplete\\\"}\"} |
	    .ops.upsert.job.status = \"if .carry == null then {action: \\\"wait\\\", next: {method: \\\"PATCH\\\", path: (\\\"/jobs/\\\" + .job + \\\"/x\\\"), body: {n: 1}}, carry: 1, wait: 0} elif .carry == 1 then {action: \\\"wait\\\", next: {method: \\\"PUT\\\", path: (\\\"/jobs/\\\" + .job + \\\"/y\\\")}, carry: 2, wait: 0} else {action: \\\"ack\\\"} end\"" made.json >patch.json &&
	rx-push --profile ./patch.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3 &&
	jq -r .key acks | sort | tr "\n" " " >got && test "$(cat got)" = "A C " &&
	jq -r "[.method, .path, .body] | @tsv" srv.log | tail -n 3 >got &&
	printf "PATCH\t/jobs/J7\t{\"state\":\"UploadComplete\"}\nPATCH\t/jobs/J7/x\t{\"n\":1}\nPUT\t/jobs/J7/y\t\n" >expect &&
	test_cmp expect got
'

test_expect_success 'ops.OP.content_type: the op'"'"'s body goes with its own Content-Type, the create with the profile'"'"'s' '
	: >srv.log &&
	jq ".ops.upsert.content_type = \"text/csv\" | .ops.upsert.body = \"[.records[].key] | join(\\\"\\\\n\\\")\"" made.json >ct.json &&
	rx-push --profile ./ct.json --url "$(fake_url srv)" <in >acks 2>err; test $? = 3 &&
	jq -r "[.method, .path, .headers[\"Content-Type\"]] | @tsv" srv.log | head -n 2 >got &&
	printf "POST\t/jobs:create\tapplication/json\nPOST\t/jobs/J7:add\ttext/csv\n" >expect &&
	test_cmp expect got &&
	sed -n 2p srv.log | jq -r .body >body && printf "A\nB\nC\n" >expect && test_cmp expect body
'

printf 'id,name\r\n1,"a, ""b"""\r\n2,"x\ny"\r\n3,\r\n' >ok.csv
printf 'id,name\n1,"never closed\n' >bad.csv
reply_start csv -- --header "Content-Type: text/csv; charset=UTF-8" --body-file ok.csv || exit 1
reply_start badcsv -- --header "Content-Type: text/csv" --body-file bad.csv || exit 1
reply_start notcsv -- --header "Content-Type: text/plain" --body-file ok.csv || exit 1
cat >csv2.json <<'EOF2'
{"ops": {"upsert": {"path": "/w", "body": "{}",
  "response": "{action: \"reject\", message: \"\\(.body | type): \\(.body | tojson)\"}"}}}
EOF2

test_expect_success 'a text/csv reply reaches the programs as rows of strings, the header first (libcsv, RFC 4180)' '
	{ rx-push --profile ./csv2.json --url "$(fake_url csv)" <in >acks 2>err; test $? = 3; } &&
	test_must_be_empty acks &&
	grep "^{" err | head -n 1 | jq -r .error.message >got &&
	printf "%s\n" "HTTP 200: array: [[\"id\",\"name\"],[\"1\",\"a, \\\"b\\\"\"],[\"2\",\"x\\ny\"],[\"3\",\"\"]]" >expect &&
	test_cmp expect got
'

test_expect_success 'a CSV that does not parse, or a reply that is not text/csv, stays a string' '
	{ rx-push --profile ./csv2.json --url "$(fake_url badcsv)" <in >acks 2>err; test $? = 3; } &&
	grep "^{" err | head -n 1 | jq -r .error.message >got &&
	printf "%s\n" "HTTP 200: string: \"id,name\\n1,\\\"never closed\\n\"" >expect &&
	test_cmp expect got &&
	{ rx-push --profile ./csv2.json --url "$(fake_url notcsv)" <in >acks 2>err; test $? = 3; } &&
	grep "^{" err | head -n 1 | jq -r .error.message | cut -c1-30 >got &&
	printf "%s\n" "HTTP 200: string: \"id,name\\r\\n" >expect &&
	test_cmp expect got
'

test_done
