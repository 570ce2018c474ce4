#!/bin/sh
# Conformance: every request rx-push builds with the mixpanel-engage and
# mixpanel-import profiles, for every op and for awkward rows, validates
# against Mixpanel's own OpenAPI document
# (../shared/conformance/specs/mixpanel-ingestion.yaml) through Prism.
#
# The spec writes its profile operations as paths "/engage#profile-set",
# "/engage#profile-delete" (the kit's README: not reachable over HTTP).
# This test derives, in its own directory, a copy whose POST /engage takes
# an array of what either operation takes (their item schemas unchanged,
# joined by anyOf) with their query parameters, and answers as verbose=1
# does; /import is left as it is.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"
. "$RX_TESTS/lib-dest.sh"

MIXPANEL_PROJECT_TOKEN=test-token MIXPANEL_PROJECT_ID=1234567
MIXPANEL_SERVICE_ACCOUNT=sa-user MIXPANEL_SERVICE_ACCOUNT_SECRET=sa-secret
export MIXPANEL_PROJECT_TOKEN MIXPANEL_PROJECT_ID MIXPANEL_SERVICE_ACCOUNT MIXPANEL_SERVICE_ACCOUNT_SECRET

python3 - "$RX_CONFORMANCE/specs/mixpanel-ingestion.yaml" mixpanel-http.json <<'EOF' || exit 1
import copy, json, sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))
paths = spec["paths"]
set_op, del_op = paths["/engage#profile-set"]["post"], paths["/engage#profile-delete"]["post"]
item = lambda op: op["requestBody"]["content"]["application/json"]["schema"]["items"]
engage = copy.deepcopy(set_op)
engage["operationId"] = "profile-set-or-delete"
engage["requestBody"]["content"]["application/json"]["schema"]["items"] = {"anyOf": [item(set_op), item(del_op)]}
# the spec's 200 is text/plain "1", which Prism cannot produce (a 500):
# answer as verbose=1 does; responses are not what this test checks
engage["responses"]["200"] = {"description": "verbose=1", "content": {"application/json": {
    "schema": {"type": "object"}, "example": {"status": 1, "error": None}}}}
names = {p["name"] for p in engage.get("parameters", [])}
engage["parameters"] += [p for p in del_op.get("parameters", []) if p["name"] not in names]
spec["paths"] = {"/import": paths["/import"], "/engage": {"post": engage}}
json.dump(spec, open(sys.argv[2], "w"))
EOF

prism_start_file "$TRASH/mixpanel-http.json" mixpanel-http || exit 1

push () {
	rx-batch --profile "$1" | rx-push --profile "$1" --url "$PRISM_URL" --max-attempts 1 >acks 2>err
	rc=$?
	[ $rc -le 3 ] || { cat err; return 1; }
}

test_expect_success 'engage $set: awkward rows (unicode, big numbers as strings, nulls, empty strings, a number key)' '
	cat >awk.ndjson <<-\EOF &&
	{"op":"upsert","key":"C1","hash":"h","row":{"$email":"zoë@example.com","$first_name":"李","big":"12345678901234567890","empty":"","gone":null,"n":812.5,"tags":["a","b"]}}
	{"op":"upsert","key":42,"hash":"h","row":{}}
	{"op":"update","key":"../x","hash":"h","row":{"plan":"pro"}}
	EOF
	push mixpanel-engage <awk.ndjson &&
	prism_clean mixpanel-http
'

test_expect_success 'engage $delete' '
	sed "s/\"op\":\"[a-z]*\"/\"op\":\"delete\"/" awk.ndjson | push mixpanel-engage &&
	prism_clean mixpanel-http
'

test_expect_success 'engage: a batch at the limit, 2000 updates in one request' '
	dest_changes 2000 L upsert "{\"name\":\"Nová %d\",\"n\":null}" | push mixpanel-engage &&
	prism_clean mixpanel-http
'

test_expect_success 'import: awkward events (unicode names, ms times, numeric distinct_id, a key that is not an insert id)' '
	cat >ev.ndjson <<-\EOF &&
	{"op":"insert","key":"1","hash":"h","row":{"event":"Commande passée — 李","time":1700000000,"distinct_id":"C1","amount":5.5,"big":"12345678901234567890","none":null,"empty":""}}
	{"op":"insert","key":"order #2","hash":"h","row":{"event":"E","time":1700000000123,"distinct_id":7}}
	{"op":"insert","key":"3","hash":"h","row":{"event":"E","time":1700000000,"distinct_id":"C3","$insert_id":"my-own-id"}}
	EOF
	push mixpanel-import <ev.ndjson &&
	prism_clean mixpanel-http
'

test_expect_success 'import: upsert and update send the event too; a batch at the limit, 2000 events' '
	sed "s/\"op\":\"insert\"/\"op\":\"upsert\"/" ev.ndjson | push mixpanel-import &&
	dest_changes 2000 "" insert "{\"event\":\"E\",\"time\":1700000000,\"distinct_id\":\"d%d\",\"n\":%d}" | push mixpanel-import &&
	prism_clean mixpanel-http
'

test_expect_success 'the derived /engage is enforced: an update without $token, or with two shapes wrong, is refused' '
	cat >bad.ndjson <<-\EOF &&
	{"label":"no token","expect":"4xx","method":"POST","path":"/engage?verbose=1","body":[{"$distinct_id":"x","$set":{}}]}
	{"label":"set not an object","expect":"4xx","method":"POST","path":"/engage?verbose=1","body":[{"$token":"t","$distinct_id":"x","$set":"no"}]}
	{"label":"good","expect":"2xx","method":"POST","path":"/engage?verbose=1","body":[{"$token":"t","$distinct_id":"x","$delete":"null"}]}
	EOF
	bash "$RX_CONFORMANCE/run.sh" send mixpanel-http bad.ndjson
'

test_expect_success 'the check can fail: an event whose time is not an integer is counted' '
	echo "{\"op\":\"insert\",\"key\":\"x\",\"hash\":\"h\",\"row\":{\"event\":\"E\",\"time\":\"yesterday\",\"distinct_id\":\"C1\"}}" | push mixpanel-import &&
	test_expect_code 1 prism_clean mixpanel-http >out &&
	test_grep "time" out
'

test_done
