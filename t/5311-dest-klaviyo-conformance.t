#!/bin/sh
# klaviyo-profiles against Klaviyo's own OpenAPI document (revision
# 2026-07-15, cut to the paths the profile uses by the kit's trim.py, so
# Prism starts in seconds; Stoplight Prism via t/lib-prism.sh): every
# request rx-push builds -- the bulk import job, its polls, its
# import-error pages, the deletion requests, the test -- validates, for
# awkward rows (unicode, numbers too big for a double, nulls, empty
# strings, a job of 10,000 profiles).  Prism answers with the spec's
# example (a cancelled job), so the error pages, which only a complete
# job with failures reaches, are taken from a run against the fake and
# replayed through Prism.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"
. "$RX_TESTS/lib-jobs.sh"

conf_trim klaviyo.json klaviyo-jobs /api/profile-bulk-import-jobs '/api/profile-bulk-import-jobs/{job_id}' \
	'/api/profile-bulk-import-jobs/{id}/import-errors' /api/data-privacy-deletion-jobs /api/accounts || exit 1
export KLAVIYO_API_KEY=pk_conformance

cat >awkward.ndjson <<'IN'
{"op":"upsert","key":"C1","hash":"h1","row":{"email":"zoë.ólafsdóttir@example.com","first_name":"Zoë 李 Иванова 🚀","last_name":"","ltv":"12345678901234567890","churn":0.1234567890123456,"city":"Zürich","latitude":47.37,"properties":{"nested":{"a":[1,null,""]}}}}
{"op":"upsert","key":2,"hash":"h2","row":{"email":null,"phone_number":"+15005550006","external_id":null,"title":null,"zip":"8001","vip":true}}
{"op":"upsert","key":"C 3/é","hash":"h3","row":{"email":"","organization":"O'Brien & Søn","big":9007199254740993,"notes":""}}
{"op":"delete","key":"C4","hash":"h4","row":{"email":"gone@example.com"}}
{"op":"delete","key":"C5","hash":"h5","row":{"email":"","phone_number":"+447700900123"}}
IN

test_expect_success 'bulk import jobs, their polls and deletions, awkward rows: each request validates' '
	rx-push --profile klaviyo-profiles --url "$PRISM_URL" <awkward.ndjson >acks 2>err; test $? = 3 &&
	test "$(acked acks | tr "\n" " ")" = "C4 C5 " &&
	test_grep "Klaviyo cancelled the import job" err &&
	prism_clean klaviyo-jobs
'

test_expect_success 'a job at the limit, 10,000 profiles, validates' '
	awk "BEGIN { for (i = 1; i <= 10000; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"K%05d\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{\\\"email\\\":\\\"k%d@example.com\\\",\\\"n\\\":%d}}\n\", i, i, i }" >big.ndjson &&
	rx-batch --profile klaviyo-profiles <big.ndjson | rx-push --profile klaviyo-profiles --url "$PRISM_URL" --dry-run >dry &&
	test "$(jq -r .records dry)" = 10000 &&
	rx-batch --profile klaviyo-profiles <big.ndjson | rx-push --profile klaviyo-profiles --url "$PRISM_URL" >acks 2>err; test $? = 3 &&
	prism_clean klaviyo-jobs
'

test_expect_success 'the test request validates' '
	rx-push --profile klaviyo-profiles --url "$PRISM_URL" --test-connection >out &&
	prism_clean klaviyo-jobs
'

test_expect_success 'the flow a mock cannot drive (complete, import errors on two pages), replayed: each request validates' '
	jobs_fake kl klaviyo -- --token pk_conformance --polls 1 --log kl.log &&
	awk "BEGIN { for (i = 1; i <= 130; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"B%03d\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{\\\"email\\\":\\\"bad%d\\\"}}\n\", i, i }" >bad.ndjson &&
	cat awkward.ndjson >>bad.ndjson &&
	rx-push --profile klaviyo-profiles --url "$(fake_url kl)" <bad.ndjson >acks 2>err; test $? = 3 &&
	test "$(grep -c "import-errors" kl.log)" = 2 &&
	conf_replay kl.log klaviyo-jobs >replayed &&
	test_grep "import-errors" replayed &&
	prism_clean klaviyo-jobs
'

test_done
