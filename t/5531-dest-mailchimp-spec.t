#!/bin/sh
# Conformance: every request rx-push builds with the mailchimp-members
# profile, for every op and for awkward rows, validates against
# Mailchimp's own OpenAPI document (../shared/conformance/specs/mailchimp.json)
# through Stoplight Prism.  Prism answers with the spec's examples, so the
# acks here mean nothing; the violations count is the test.  The spec's
# paths have no /3.0 prefix (the kit's README): --url is Prism's root.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"
. "$RX_TESTS/lib-dest.sh"

MAILCHIMP_API_KEY=test-key-us6 MAILCHIMP_DC=us6 MAILCHIMP_LIST_ID=a1b2c3d4e5
export MAILCHIMP_API_KEY MAILCHIMP_DC MAILCHIMP_LIST_ID

prism_start mailchimp.json || exit 1

push () {
	rx-batch --profile mailchimp-members | rx-push --profile mailchimp-members --url "$PRISM_URL" --max-attempts 1 >acks 2>err
	rc=$?
	[ $rc -le 3 ] || { cat err; return 1; }
}

test_expect_success 'upsert: awkward rows (unicode, big numbers, nulls, empty strings, member fields)' '
	cat >awk.ndjson <<-\EOF &&
	{"op":"upsert","key":"1","hash":"h","row":{"email_address":"zoë.李@example.com","status":"subscribed","merge_fields":{"FNAME":"Zoë","LNAME":"李 王","BIG":"12345678901234567890","HUGE":12345678901234567890,"EMPTY":"","GONE":null}}}
	{"op":"upsert","key":"2","hash":"h","row":{"email_address":"a+tag@example.com","status":"unsubscribed","merge_fields":{"FNAME":"Ada"},"vip":true,"language":"fr","email_type":"html"}}
	{"op":"upsert","key":"3","hash":"h","row":{"email_address":"no-status@example.com","merge_fields":{"PLAN":"pro","LTV":812.5,"ORDERS":0}}}
	{"op":"upsert","key":"4","hash":"h","row":{"email_address":"","status":"pending"}}
	EOF
	push <awk.ndjson &&
	prism_clean mailchimp
'

test_expect_success 'insert and update: the same endpoint, update_existing false and true' '
	sed "s/\"op\":\"upsert\"/\"op\":\"insert\"/" awk.ndjson | push &&
	sed "s/\"op\":\"upsert\"/\"op\":\"update\"/" awk.ndjson | push &&
	prism_clean mailchimp
'

test_expect_success 'a batch at the limit: 500 members in one request' '
	dest_changes 500 L upsert "{\"email_address\":\"l%d@example.com\",\"status\":\"subscribed\",\"merge_fields\":{\"FNAME\":\"Nová %d\",\"N\":null}}" | push &&
	prism_clean mailchimp
'

test_expect_success 'delete: archive by address (awkward addresses URL-encoded in the path)' '
	cat >del.ndjson <<-\EOF &&
	{"op":"delete","key":"1","hash":"h","row":{"email_address":"zoë.李@example.com"}}
	{"op":"delete","key":"2","hash":"h","row":{"email_address":"a+tag@example.com"}}
	{"op":"delete","key":"3","hash":"h","row":{"email_address":"../x@example.com"}}
	EOF
	push <del.ndjson &&
	prism_clean mailchimp
'

test_expect_success 'the check can fail: a request that breaks the spec (a status not in its enum) is counted' '
	echo "{\"op\":\"upsert\",\"key\":\"x\",\"hash\":\"h\",\"row\":{\"email_address\":\"x@example.com\",\"status\":\"maybe\"}}" | push &&
	test_expect_code 1 prism_clean mailchimp >out &&
	test_grep "status" out
'

test_done
