#!/bin/sh
# sendgrid-contacts against SendGrid's own OpenAPI document
# (tsg_mc_contacts_v3, cut to the profile's paths by the kit's trim.py so
# Prism starts in seconds; Stoplight Prism via t/lib-prism.sh): every
# request rx-push builds -- the upsert job, its polls, the e-mail search,
# the DELETE ?ids= job, the test -- validates, for awkward rows (unicode,
# numbers too big for a double, nulls, empty strings, custom fields, a
# job of 1,000 contacts).  Prism answers from the spec's schemas (a job
# status it does not name; a deletion's job_id that is an object, as the
# spec types it: not an ack), so the flow a mock cannot drive (a
# completed job, ids found, their deletion) is run against the fake and
# its requests replayed through Prism.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"
. "$RX_TESTS/lib-jobs.sh"

conf_trim sendgrid-mc-contacts.json sendgrid-jobs /v3/marketing/contacts '/v3/marketing/contacts/imports/{id}' \
	/v3/marketing/contacts/search/emails /v3/marketing/contacts/count || exit 1
export SENDGRID_API_KEY=SG.conformance

cat >awkward.ndjson <<'IN'
{"op":"upsert","key":"C1","hash":"h1","row":{"email":"Zoë.Ólafsdóttir@Example.com","first_name":"Zoë 李 Иванова 🚀","last_name":"","e1_N":"12345678901234567890","w2_N":0.1234567890123456,"city":"Zürich","alternate_emails":"z@example.com"}}
{"op":"upsert","key":2,"hash":"h2","row":{"email":"two@example.com","first_name":null,"postal_code":8001,"country":"","custom_fields":{"e3_T":"O'Brien & Søn"}}}
{"op":"upsert","key":"C 3/é","hash":"h3","row":{"email":"three@example.com","big":9007199254740993,"notes":"","vip":true}}
{"op":"delete","key":"C4","hash":"h4","row":{"email":"jane_doe@example.com"}}
{"op":"delete","key":"C5","hash":"h5","row":{"email":""}}
IN

test_expect_success 'the upsert job, its polls, the search and the delete, awkward rows: each request validates' '
	jq ".ops[].job.max_wait = 5" "$RX_SHARE/destinations/sendgrid-contacts.json" >sg.json &&
	cp "$RX_SHARE/jq/sendgrid.jq" . &&
	{ rx-push --profile ./sg.json --url "$PRISM_URL" <awkward.ndjson >acks 2>err; echo $? >rc; } &&
	test "$(cat rc)" = 3 &&
	test "$(acked acks)" = C5 &&
	test_grep "\"key\":\"C4\".*without a job_id: whether these contacts were applied is not known" err &&
	prism_clean sendgrid-jobs
'

test_expect_success 'a job at the profile limit, 1,000 contacts, validates' '
	awk "BEGIN { for (i = 1; i <= 1000; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"K%05d\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{\\\"email\\\":\\\"k%d@example.com\\\",\\\"e1_N\\\":%d}}\n\", i, i, i }" >big.ndjson &&
	rx-batch --profile sendgrid-contacts <big.ndjson | rx-push --profile sendgrid-contacts --url "$PRISM_URL" --dry-run >dry &&
	test "$(jq -r .records dry)" = 1000 &&
	{ rx-batch --profile sendgrid-contacts <big.ndjson | rx-push --profile ./sg.json --url "$PRISM_URL" >acks 2>err; test $? != 0; } &&
	prism_clean sendgrid-jobs
'

test_expect_success 'the test request validates' '
	rx-push --profile sendgrid-contacts --url "$PRISM_URL" --test-connection >out &&
	prism_clean sendgrid-jobs
'

test_expect_success 'the flow a mock cannot drive (completed jobs, ids found, DELETE ?ids=), replayed: each request validates' '
	jobs_fake sg sendgrid -- --token SG.conformance --polls 1 --log sg.log &&
	grep "\"upsert\"" awkward.ndjson >up.ndjson &&
	rx-batch --size 10 <up.ndjson | rx-push --profile sendgrid-contacts --url "$(fake_url sg)" >acks 2>err &&
	test "$(acked acks | wc -l)" = 3 &&
	printf "%s\n" "{\"op\":\"delete\",\"key\":\"C1\",\"hash\":\"h1\",\"row\":{\"email\":\"zoë.ólafsdóttir@example.com\"}}" \
		"{\"op\":\"delete\",\"key\":2,\"hash\":\"h2\",\"row\":{\"email\":\"two@example.com\"}}" >del.ndjson &&
	rx-batch --size 10 <del.ndjson | rx-push --profile sendgrid-contacts --url "$(fake_url sg)" >acks 2>err &&
	test "$(acked acks | wc -l)" = 2 &&
	test "$(grep -c "\"DELETE\"" sg.log)" = 1 &&
	conf_replay sg.log sendgrid-jobs >replayed &&
	prism_clean sendgrid-jobs
'

test_done
