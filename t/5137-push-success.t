#!/bin/sh
# The usual reply, read in C (docs/profiles.md): a profile's "success"
# describes the reply in which every record succeeded; such a reply is
# acked without the response program, each record with its item's id,
# and any other reply (an item too few, a value it does not know, a
# record named twice, a status it does not list, text that is not
# JSON) goes to the program, which stays the authority.  The shipped
# profiles that have one ack exactly what their programs ack.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

cat >two.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","row":{"email":"a@x.com"}}
{"op":"upsert","key":"K2","hash":"h2","row":{"email":"b@x.com"}}
EOF

# a profile whose program says it read the reply: every id "jq:KEY"
profile () { # SUCCESS-JSON
	cat >t.json <<-EOF
	{"max_records": 10,
	 "response": "if .status >= 200 and .status < 300 then [.records[] | {ok: true, id: (\"jq:\" + .key)}] else null end",
	 "success": $1,
	 "ops": {"*": {"template": {"rows": ["{row}"], "traces": ["{idem}"]}}}}
	EOF
}

# push two.ndjson against a server answering STATUS BODY; the acks' ids
# as rx-push wrote them (jq 1.6 would round a long number)
ids_after () { # STATUS BODY
	reply_start r$N -- --status "$1" --body "$2" &&
	# shellcheck disable=SC2086
	rx-push --profile ./t.json --url "$(cat r$N.url)" ${push_args:-} <two.ndjson >acks &&
	sed "s/.*\"id\"://; s/}\$//" acks | tr "\n" " " >ids && cat ids && echo
}
N=0
next () { N=$((N + 1)); }

POS='{"status": 200, "equal": {"ok": true}, "items": "items", "match": "position", "where": {"s": ["done", "merged"]}, "id": "id"}'

test_expect_success 'a reply that fits: acked in C with the ids as they came (a number stays exact)' '
	next && profile "$POS" &&
	ids_after 200 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":12345678901234567891},{\"id\":\"b\",\"s\":\"merged\"}]}" &&
	test "$(cat ids)" = "12345678901234567891 \"b\" "
'

test_expect_success 'an item it does not know as success: the program reads the reply' '
	next && profile "$POS" &&
	ids_after 200 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"skipped\",\"id\":2}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" "
'

test_expect_success 'an item too many or too few: the program reads the reply' '
	next && profile "$POS" &&
	ids_after 200 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"done\",\"id\":2},{\"s\":\"done\",\"id\":3}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":1}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" "
'

test_expect_success 'a body member unlike "equal", a status not listed, a body not JSON: the program' '
	next && profile "$POS" &&
	ids_after 200 "{\"ok\":false,\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"done\",\"id\":2}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"ok\":\"true\",\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"done\",\"id\":2}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 201 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"done\",\"id\":2}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"done\",\"id\":2}]" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"ok\":true,\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"done\",\"id\":2}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" "
'

test_expect_success 'an item without the id it names (or a null one): the program reads the reply' '
	next && profile "$POS" &&
	ids_after 200 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":1},{\"s\":\"done\"}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"ok\":true,\"items\":[{\"s\":\"done\",\"id\":null},{\"s\":\"done\",\"id\":2}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" "
'

test_expect_success '"in": the members read in an object of the body (a job status)' '
	next && profile "{\"status\": 200, \"in\": \"job\", \"equal\": {\"state\": \"done\"}, \"items\": \"results\", \"match\": \"position\", \"id\": \"id\"}" &&
	ids_after 200 "{\"job\":{\"state\":\"done\",\"results\":[{\"id\":7},{\"id\":8}]},\"state\":\"other\"}" &&
	test "$(cat ids)" = "7 8 " &&
	next && ids_after 200 "{\"state\":\"done\",\"results\":[{\"id\":7},{\"id\":8}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"job\":[{\"state\":\"done\"}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"job\":{\"state\":\"working\",\"results\":[{\"id\":7},{\"id\":8}]}}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 200 "{\"job\":{\"state\":\"done\",\"state\":\"done\",\"results\":[{\"id\":7},{\"id\":8}]}}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	profile "{\"status\": 200, \"in\": 3, \"match\": \"position\"}" &&
	test_expect_code 1 rx-push --profile ./t.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success\.in: the name of the body.s member" err
'

test_expect_success 'items matched by a member naming the record ({idem}), in any order' '
	next && profile "{\"status\": [200, 201], \"empty\": [\"errors\"], \"items\": \"results\", \"match\": {\"trace\": \"{idem}\"}, \"id\": \"id\"}" &&
	rx-push --profile ./t.json --url http://127.0.0.1:9 --dry-run <two.ndjson >dry &&
	t1=$(jq -r ".body.traces[0]" dry) && t2=$(jq -r ".body.traces[1]" dry) &&
	ids_after 201 "{\"results\":[{\"trace\":\"$t2\",\"id\":\"x2\"},{\"id\":\"x1\",\"trace\":\"$t1\"}],\"errors\":[]}" &&
	test "$(jq -r "[.key, .id] | join(\" \")" acks)" = "K1 x1
K2 x2" &&
	next && ids_after 201 "{\"results\":[{\"trace\":\"$t2\",\"id\":\"x2\"},{\"id\":\"x1\",\"trace\":\"$t1\"}]}" &&
	test "$(cat ids)" = "\"x1\" \"x2\" " &&
	next && ids_after 201 "{\"results\":[{\"trace\":\"$t2\",\"id\":\"x2\"},{\"trace\":\"$t2\",\"id\":\"x1\"}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 201 "{\"results\":[{\"trace\":\"$t2\",\"id\":\"x2\"},{\"id\":\"x1\",\"trace\":\"$t1\"}],\"errors\":[{\"m\":1}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 201 "{\"results\":[{\"trace\":\"$t2\",\"id\":\"x2\"},{\"id\":\"x1\",\"trace\":\"nobody\"}]}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" "
'

test_expect_success 'matched by a row member: items from two lists; two records of one value go to the program' '
	next && profile "{\"status\": 200, \"items\": [\"new\", \"updated\"], \"match\": {\"email_address\": \"{row.email}\"}, \"id\": \"id\"}" &&
	ids_after 200 "{\"new\":[{\"email_address\":\"b@x.com\",\"id\":\"B\"}],\"updated\":[{\"email_address\":\"a\\u0040x.com\",\"id\":\"A\"}]}" &&
	test "$(cat ids)" = "\"A\" \"B\" " &&
	sed "s/b@x.com/a@x.com/" two.ndjson >same.ndjson &&
	next && reply_start r$N -- --body "{\"new\":[{\"email_address\":\"a@x.com\",\"id\":\"B\"}],\"updated\":[{\"email_address\":\"a@x.com\",\"id\":\"A\"}]}" &&
	rx-push --profile ./t.json --url "$(cat r$N.url)" <same.ndjson >acks &&
	test "$(jq -c .id acks | tr "\n" " ")" = "\"jq:K1\" \"jq:K2\" "
'

test_expect_success 'matched by several members of an object ({row|only:A,B}): value and kind alike, in any order' '
	cat >f.ndjson <<-\EOF &&
	{"op":"upsert","key":"K1","hash":"h1","row":{"id":"a","n":1,"x":"q"}}
	{"op":"upsert","key":"K2","hash":"h2","row":{"id":"a","n":2}}
	EOF
	cat >f.json <<-\EOF &&
	{"max_records": 10, "vars": {"merge": " id , n"},
	 "response": "if .status >= 200 and .status < 300 then [.records[] | {ok: true, id: (\"jq:\" + .key)}] else null end",
	 "success": {"status": 200, "items": "records", "match": {"fields": "{row|only:{merge}}"}, "id": "id"},
	 "ops": {"*": {"template": {"rows": ["{row}"]}}}}
	EOF
	fields_ids () { # BODY
		next && reply_start r$N -- --body "$1" &&
		rx-push --profile ./f.json --url "$(cat r$N.url)" <f.ndjson >acks &&
		jq -r "[.key, .id] | join(\" \")" acks | tr "\n" " " >ids && cat ids && echo
	}
	fields_ids "{\"records\":[{\"id\":\"r2\",\"fields\":{\"n\":2,\"id\":\"a\"}},{\"id\":\"r1\",\"fields\":{\"id\":\"a\",\"n\":1,\"x\":\"q\"}}]}" &&
	test "$(cat ids)" = "K1 r1 K2 r2 " &&
	fields_ids "{\"records\":[{\"id\":\"r2\",\"fields\":{\"n\":\"2\",\"id\":\"a\"}},{\"id\":\"r1\",\"fields\":{\"id\":\"a\",\"n\":1}}]}" &&
	test "$(cat ids)" = "K1 jq:K1 K2 jq:K2 " &&
	fields_ids "{\"records\":[{\"id\":\"r2\",\"fields\":{\"id\":\"a\"}},{\"id\":\"r1\",\"fields\":{\"id\":\"a\",\"n\":1}}]}" &&
	test "$(cat ids)" = "K1 jq:K1 K2 jq:K2 " &&
	fields_ids "{\"records\":[{\"id\":\"r2\",\"fields\":{\"id\":\"a\",\"n\":1}},{\"id\":\"r1\",\"fields\":{\"id\":\"a\",\"n\":1}}]}" &&
	test "$(cat ids)" = "K1 jq:K1 K2 jq:K2 "
'

test_expect_success 'a body that is the array of items; "created" is counted' '
	next && profile "{\"status\": 200, \"match\": \"position\", \"where\": {\"success\": true}, \"id\": \"id\", \"created\": \"created\"}" &&
	ids_after 200 "[{\"id\":\"a\",\"success\":true,\"created\":true},{\"id\":\"b\",\"success\":true,\"created\":false}]" &&
	test "$(cat ids)" = "\"a\" \"b\" " &&
	rx-push --profile ./t.json --url "$(cat r$N.url)" --stats stats.json <two.ndjson >acks &&
	jq -e ".created == 1" stats.json >/dev/null &&
	next && ids_after 200 "[{\"id\":\"a\",\"success\":true},{\"id\":\"b\",\"success\":false}]" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" "
'

test_expect_success 'no items: the status, and the body'"'"'s members, say every record went in (an absent member is null)' '
	cat >w.json <<-\EOF &&
	{"max_records": 10,
	 "response": "if .status == 200 then {action: \"reject\", message: \"the program read it\"} else null end",
	 "success": {"status": 200, "equal": {"status": 1, "error": null}},
	 "ops": {"*": {"template": {"rows": ["{row}"]}}}}
	EOF
	next && reply_start r$N -- --body "{\"status\":1}" &&
	rx-push --profile ./w.json --url "$(cat r$N.url)" <two.ndjson >acks &&
	test "$(keys_of acks | tr "\n" " ")" = "K1 K2 " &&
	next && reply_start r$N -- --body "{\"status\":1,\"error\":\"bad token\"}" &&
	test_expect_code 3 rx-push --profile ./w.json --url "$(cat r$N.url)" <two.ndjson >acks 2>err &&
	test_grep "the program read it" err &&
	next && reply_start r$N -- --body "not json" &&
	test_expect_code 3 rx-push --profile ./w.json --url "$(cat r$N.url)" <two.ndjson >acks 2>err &&
	test_grep "the program read it" err &&
	sed "s/, \"equal\": {\"status\": 1, \"error\": null}//" w.json >s.json &&
	rx-push --profile ./s.json --url "$(cat r$N.url)" <two.ndjson >acks &&
	test "$(keys_of acks | tr "\n" " ")" = "K1 K2 "
'

test_expect_success 'no items, an "id": one record a request acked with the body'"'"'s member (read in "in", or by a path); two, the program' '
	one_record () { # MAX-RECORDS
		cat >t.json <<-EOF
		{"max_records": $1,
		 "response": "if .status >= 200 and .status < 300 then [.records[] | {ok: true, id: (\"jq:\" + .key)}] else null end",
		 "success": {"status": [200, 201], "in": "data", "id": "gid", "created": "new"},
		 "ops": {"*": {"template": {"rows": ["{row}"]}}}}
		EOF
	} &&
	one_record 1 && push_args="--concurrency 1" &&
	next && ids_after 201 "{\"data\":{\"gid\":12345678901234567890123,\"new\":true}}" &&
	test "$(cat ids)" = "12345678901234567890123 12345678901234567890123 " &&
	rx-push --profile ./t.json --url "$(cat r$N.url)" --stats stats.json <two.ndjson >acks &&
	jq -e ".created == 2" stats.json >/dev/null &&
	next && ids_after 201 "{\"data\":{\"gid\":null}}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	next && ids_after 201 "{\"gid\":\"7\"}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	one_record 10 &&
	next && ids_after 201 "{\"data\":{\"gid\":\"7\"}}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	one_record 1 && sed "s/\"in\": \"data\", \"id\": \"gid\"/\"id\": [\"data\", \"id\", \"record_id\"]/" t.json >p.json && mv p.json t.json &&
	next && ids_after 200 "{\"data\":{\"id\":{\"record_id\":\"r-1\"}}}" &&
	test "$(cat ids)" = "\"r-1\" \"r-1\" " &&
	next && ids_after 200 "{\"data\":{\"id\":\"r-1\"}}" &&
	test "$(cat ids)" = "\"jq:K1\" \"jq:K2\" " &&
	push_args=
'

test_expect_success 'what a "success" cannot mean is refused when the profile loads, naming where' '
	cat >bad1.json <<-\EOF &&
	{"success": {"status": 200}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad1.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success: it reads the usual reply before the response program" err &&
	cat >bad2.json <<-\EOF &&
	{"response": ".", "ops": {"*": {"response": ".", "success": {"status": 404, "match": "position"}}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad2.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "ops\.\*\.success\.status: a success is a 2xx status" err &&
	cat >bad3.json <<-\EOF &&
	{"response": ".", "success": {"status": 200, "match": {"id": "{row}"}}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad3.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success\.match: an item.s member names its record by {idem}, {key}, {id}, {row.NAME} or {row|only:A,B}" err &&
	cat >bad4.json <<-\EOF &&
	{"response": ".", "success": {"status": 200, "match": "position", "ids": "x"}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad4.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "\"ids\" is none of status, in, equal, empty, count, items, match, where, id, created" err &&
	cat >bad5.json <<-\EOF &&
	{"response": ".", "success": {"status": 200, "match": "position", "equal": {"ok": true}}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad5.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success\.items: \"in\", \"equal\", \"empty\" and \"count\" test the body" err &&
	cat >bad6.json <<-\EOF &&
	{"ops": {"*": {}}, "identity": {"ops": ["update"], "lookup": {"path": "/l", "body": ".", "response": ".",
	 "success": {"status": 200, "match": "position"}}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad6.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "identity.lookup.success: only a write.s own reply" err &&
	cat >bad9.json <<-\EOF &&
	{"response": ".", "ops": {"*": {"response": ".", "success": {"status": 200},
	 "job": {"id": ".body.id", "poll": {"path": "/j/{job}"}, "status": "."}}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad9.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "ops\.\*\.success: only a write.s own reply can be read so (not a lookup.s, nor one naming a job" err &&
	jq ".ops[\"*\"].job.success = .ops[\"*\"].success | del(.ops[\"*\"].success)" bad9.json >good9.json &&
	rx-push --profile ./good9.json --url http://127.0.0.1:9 --dry-run </dev/null &&
	cat >bad7.json <<-\EOF &&
	{"response": ".", "success": {"status": 200, "id": ["data", 1]}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad7.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success\.id: a path of members. names" err &&
	cat >bad8.json <<-\EOF &&
	{"response": ".", "success": {"status": 200, "items": "results"}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad8.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success\.match: how an item names its record" err
'

# The shipped profiles: the same changes against two fresh fakes, one
# through the profile as shipped, one through a copy without its
# "success" (the programs alone): the same acks and dead letters.
without_success () { # PROFILE
	jq "del(.success) | .ops |= map_values(del(.success))" "$RX_SHARE/destinations/$1.json" >"$1.json"
}
dead_letters () { grep -v "^rx-push:" "$1" | jq -c "del(.error.at)" | sort; }
same_outcome () { # PROFILE VENDOR URL-SUFFIX INPUT [FAKE SWITCHES]  ($push_args: rx-push's own)
	prof=$1 vendor=$2 sfx=$3 in=$4
	shift 4
	without_success "$prof" &&
	if [ -f "$RX_TESTS/fake/$vendor.py" ]; then
		vendor_start "a$N" "$vendor" -- "$@" && vendor_start "b$N" "$vendor" -- "$@"
	else # one of fake-saas.py's vendors
		saas_start "a$N" -- --vendor "$vendor" "$@" && saas_start "b$N" -- --vendor "$vendor" "$@"
	fi &&
	# shellcheck disable=SC2086
	{ rx-push --profile "$prof" --url "$(fake_url "a$N")$sfx" ${push_args:-} <"$in" >a.acks 2>a.err; echo $? >a.rc; } &&
	# shellcheck disable=SC2086
	{ rx-push --profile "./$prof.json" --url "$(fake_url "b$N")$sfx" ${push_args:-} <"$in" >b.acks 2>b.err; echo $? >b.rc; } &&
	test_cmp a.rc b.rc && sort a.acks >a.sorted && sort b.acks >b.sorted && test_cmp a.sorted b.sorted &&
	dead_letters a.err >a.dead && dead_letters b.err >b.dead && test_cmp a.dead b.dead &&
	test -s a.acks
}

test_expect_success 'marketo-leads: the same acks (ids) and dead letters with and without its "success"' '
	next &&
	cat >mk.ndjson <<-\EOF &&
	{"op":"upsert","records":[{"key":"a@x.com","hash":"h1","row":{"email":"a@x.com","firstName":"Ada"}},{"key":"b@x.com","hash":"h2","row":{"email":"b@x.com"}}]}
	{"op":"upsert","records":[{"key":"c@x.com","hash":"h3","row":{"email":"c@x.com"}},{"key":"d@x","hash":"h4","row":{"email":"d-at-x"}}]}
	EOF
	MARKETO_CLIENT_ID=rx-client MARKETO_CLIENT_SECRET=rx-secret MARKETO_MUNCHKIN_ID=1 &&
	export MARKETO_CLIENT_ID MARKETO_CLIENT_SECRET MARKETO_MUNCHKIN_ID &&
	same_outcome marketo-leads marketo "" mk.ndjson --key rx-client:rx-secret
'

test_expect_success 'mailchimp-members: the same with and without its "success"' '
	next &&
	cat >mc.ndjson <<-\EOF &&
	{"op":"upsert","records":[{"key":"K1","hash":"h1","row":{"email_address":"a@x.com","status":"subscribed"}},{"key":"K2","hash":"h2","row":{"email_address":"b@x.com","status":"subscribed"}}]}
	{"op":"upsert","records":[{"key":"K3","hash":"h3","row":{"email_address":"c@x.com","status":"subscribed"}},{"key":"K4","hash":"h4","row":{"email_address":"not-an-address","status":"subscribed"}}]}
	EOF
	MAILCHIMP_API_KEY=test-key MAILCHIMP_DC=us6 MAILCHIMP_LIST_ID=list1 &&
	export MAILCHIMP_API_KEY MAILCHIMP_DC MAILCHIMP_LIST_ID &&
	same_outcome mailchimp-members mailchimp /3.0 mc.ndjson --key test-key
'

test_expect_success 'hubspot-contacts: the same with and without its "success"' '
	next &&
	cat >hs.ndjson <<-\EOF &&
	{"op":"insert","key":"K1","hash":"h1","row":{"email":"a@x.com","firstname":"Ada"}}
	{"op":"insert","key":"K2","hash":"h2","row":{"email":"b@x.com","firstname":"Bob"}}
	{"op":"insert","key":"K3","hash":"h3","row":{"email":"c@x.com","firstname":"Cy"}}
	EOF
	HUBSPOT_TOKEN=test-token && export HUBSPOT_TOKEN &&
	same_outcome hubspot-contacts hubspot "" hs.ndjson --token test-token &&
	test "$(jq -r .id a.acks | sort | tr "\n" " ")" = "$(jq -r .id b.acks | sort | tr "\n" " ")" &&
	test "$(jq -r "select(.id != null) | .id" a.acks | wc -l)" = 3
'

# one record a request, the id in the body (a page, a task's "data"); the
# fakes number what they make in order: one request at a time
with_ids () { jq -r "select(.id != null) | .key" "$1" | sort | tr "\n" " "; } # the keys acked with an id
test_expect_success 'notion, asana, pipedrive, attio, pagerduty: the same acks (ids) and dead letters with and without their "success"' '
	next && push_args="--concurrency 1" &&
	cat >nt.ndjson <<-\EOF &&
	{"op":"insert","key":"C1","hash":"h1","row":{"rx_key":"C1","Name":"Ada","LTV":1.5}}
	{"op":"insert","key":"C2","hash":"h2","row":{"rx_key":"C2","Name":"Bo","_bad":1}}
	{"op":"insert","key":"C3","hash":"h3","row":{"rx_key":"C3","Name":"Cy"}}
	EOF
	NOTION_TOKEN=secret_TEST NOTION_DATABASE_ID=d9824bdc && export NOTION_TOKEN NOTION_DATABASE_ID &&
	same_outcome notion-pages notion "" nt.ndjson --token secret_TEST &&
	test "$(with_ids a.acks)" = "C1 C3 " &&
	next &&
	cat >as.ndjson <<-\EOF &&
	{"op":"insert","key":"C1","hash":"h1","row":{"id":"C1","name":"Call Ada"}}
	{"op":"insert","key":"C2","hash":"h2","row":{"id":"C2","name":"Call Bo <not-an-email>"}}
	{"op":"insert","key":"C3","hash":"h3","row":{"id":"C3","notes":"x"}}
	EOF
	ASANA_TOKEN=1/1200:test ASANA_PROJECT=1200000000000001 && export ASANA_TOKEN ASANA_PROJECT &&
	same_outcome asana-tasks asana "" as.ndjson --token 1/1200:test &&
	test "$(with_ids a.acks)" = "C1 C3 " &&
	next &&
	cat >pd.ndjson <<-\EOF &&
	{"op":"insert","key":"P1","hash":"h1","row":{"name":"One","email":"p1@example.com"}}
	{"op":"insert","key":"P2","hash":"h2","row":{"name":"Two","email":"not-an-email"}}
	{"op":"insert","key":"P3","hash":"h3","row":{"name":"Three","email":"p3@example.com"}}
	EOF
	PIPEDRIVE_TOKEN=pd-test && export PIPEDRIVE_TOKEN &&
	same_outcome pipedrive-persons crm "" pd.ndjson --vendor pipedrive --token pd-test &&
	test "$(with_ids a.acks)" = "P1 P3 " &&
	next &&
	cat >at.ndjson <<-\EOF &&
	{"op":"upsert","key":"P1","hash":"h1","row":{"rx_id":"P1","email_addresses":"p1@example.com"}}
	{"op":"upsert","key":"P2","hash":"h2","row":{"rx_id":"P2","email_addresses":"not-an-email"}}
	{"op":"upsert","key":"P3","hash":"h3","row":{"rx_id":"P3","email_addresses":"p3@example.com"}}
	EOF
	ATTIO_TOKEN=at-test && export ATTIO_TOKEN &&
	same_outcome attio-records crm "" at.ndjson --vendor attio --token at-test &&
	test "$(with_ids a.acks)" = "P1 P3 " &&
	next &&
	cat >pg.ndjson <<-\EOF &&
	{"op":"upsert","key":"C1","hash":"h1","row":{"text":"Churn risk 91%: Ada","severity":"critical"}}
	{"op":"upsert","key":"C2","hash":"h2","row":{"text":"Bo","severity":"loud"}}
	{"op":"delete","key":"C3","hash":"h3","row":{}}
	EOF
	PAGERDUTY_ROUTING_KEY=R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12 && export PAGERDUTY_ROUTING_KEY &&
	same_outcome pagerduty-events pagerduty "" pg.ndjson --token R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12 &&
	test "$(with_ids a.acks)" = "C1 C3 " &&
	push_args=
'

test_expect_success 'webhook: the same acks, retries and dead letters with and without its "success"' '
	next &&
	cat >wh.ndjson <<-\EOF &&
	{"op":"upsert","records":[{"key":"K1","hash":"h1","row":{"email":"a@x.com"}},{"key":"K2","hash":"h2","row":{"email":"b@x.com"}}]}
	{"op":"upsert","records":[{"key":"K3","hash":"h3","row":{"email":"c@x.com","_flaky":true}},{"key":"K4","hash":"h4","row":{"email":"d-at-x"}}]}
	{"op":"delete","records":[{"key":"K5","hash":"h5"}]}
	EOF
	same_outcome webhook fake-dest "" wh.ndjson --family webhook &&
	test "$(wc -l <a.acks)" = 4 &&
	test "$(jq -r .id a.acks | sort | tr "\n" " ")" = "d-K1 d-K2 d-K3 d-K5 "
'

test_expect_success 'webhook: its usual reply read in C (a long id exact), an item without an id read by the program' '
	next &&
	reply_start r$N -- --status 201 --body "{\"results\":[{\"ok\":true,\"id\":12345678901234567891,\"created\":true},{\"ok\":true,\"id\":\"b\"}]}" &&
	rx-push --profile webhook --url "$(cat r$N.url)" --stats st.json <two.ndjson >acks &&
	test "$(jq -r .key acks | tr "\n" " ")" = "K1 K2 " &&
	grep -q "\"id\":12345678901234567891[,}]" acks &&
	test "$(jq .created st.json)" = 1 &&
	next &&
	reply_start r$N -- --status 200 --body "{\"results\":[{\"ok\":true},{\"ok\":true,\"id\":\"b\"}]}" &&
	rx-push --profile webhook --url "$(cat r$N.url)" <two.ndjson >acks &&
	test "$(jq -c "[.key, .id]" acks | tr "\n" " ")" = "[\"K1\",null] [\"K2\",\"b\"] "
'

test_done
