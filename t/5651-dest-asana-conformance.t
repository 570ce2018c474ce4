#!/bin/sh
# asana-tasks against Asana's own OpenAPI document (Stoplight Prism, via
# t/lib-prism.sh): every request rx-push builds for the profile -- create,
# update and delete by external gid, upsert's lookup and write by gid --
# for awkward rows (unicode, numbers
# too big for a double as strings, nulls, empty strings, custom fields,
# a key that needs escaping) must validate.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"

prism_start asana.yaml || exit 1

cat >awkward.ndjson <<'IN'
{"op":"insert","key":"C1","hash":"h1","row":{"name":"Rappeler Zoë Ólafsdóttir 李 Иванова 🚀","notes":"LTV 12345678901234567890, churn 0.1234567890123456","due_on":"2026-02-01"}}
{"op":"insert","key":"C2","hash":"h2","row":{"notes":"","html_notes":"<body>Churn <strong>91%</strong></body>","completed":false}}
{"op":"insert","key":"C 3/é","hash":"h3","row":{"name":"a key that needs escaping","assignee":null,"due_at":null,"custom_fields":{"1201":"pro","1202":42}}}
{"op":"update","key":"C1","hash":"h4","row":{"notes":"moved to enterprise","completed":true,"due_on":null}}
{"op":"update","key":"C 3/é","hash":"h5","row":{"name":"","notes":"x"}}
{"op":"delete","key":"C2","hash":"h6","row":{"notes":""}}
{"op":"delete","key":"C 3/é","hash":"h7","row":{}}
{"op":"upsert","key":"C4 é","hash":"h8","row":{"name":"an upsert: looked up, then written by gid","notes":""}}
{"op":"upsert","key":"C5","hash":"h9","id":"1200000000000077","row":{"name":"an upsert by the gid rx kept","completed":true}}
IN

test_expect_success 'create, update, delete and upsert, awkward rows: each request validates' '
	ASANA_TOKEN=1/1200:abcdef ASANA_PROJECT=1200000000000001 ASANA_API_URL=$PRISM_URL \
		rx-push --profile asana-tasks --rate 50/s <awkward.ndjson >acks 2>err &&
	test_lines 9 acks &&
	prism_clean asana
'

test_expect_success 'the requests were the ones meant (the dry run of the same input)' '
	ASANA_TOKEN=1/1200:abcdef ASANA_PROJECT=1200000000000001 rx-push --profile asana-tasks --dry-run <awkward.ndjson >dry &&
	jq -r "[.method, .url] | @tsv" dry >got &&
	cat >expect <<-\EOF &&
	POST	https://app.asana.com/api/1.0/tasks
	POST	https://app.asana.com/api/1.0/tasks
	POST	https://app.asana.com/api/1.0/tasks
	PUT	https://app.asana.com/api/1.0/tasks/external:C1
	PUT	https://app.asana.com/api/1.0/tasks/external:C%203%2F%C3%A9
	DELETE	https://app.asana.com/api/1.0/tasks/external:C2
	DELETE	https://app.asana.com/api/1.0/tasks/external:C%203%2F%C3%A9
	GET	https://app.asana.com/api/1.0/tasks/external:C4%20%C3%A9?opt_fields=name
	PUT	https://app.asana.com/api/1.0/tasks/1200000000000077
	EOF
	test_cmp expect got &&
	sed -n 2p dry | jq -c .body.data >c2 &&
	echo "{\"notes\":\"\",\"html_notes\":\"<body>Churn <strong>91%</strong></body>\",\"completed\":false,\"name\":\"C2\",\"projects\":[\"1200000000000001\"],\"external\":{\"gid\":\"C2\"}}" >expect &&
	test_cmp expect c2
'

test_done
