#!/bin/sh
# klaviyo-profiles against a Klaviyo-like fake (t/fake/klaviyo.py): bulk
# import jobs acked only once complete and their import-error pages
# read, data privacy deletions per profile, Klaviyo's 429 and rate-limit
# headers, its auth; kills in the middle; and the page's own command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-jobs.sh"

jobs_fake kl klaviyo -- --token pk_t0k --polls 2 || exit 1
export KLAVIYO_API_KEY=pk_t0k

# 150 customers; the first run has 110 bad e-mails: two pages of errors
sqlite3 w.db "create table c(id text primary key, email text, first_name text, plan text);
	with recursive n(i) as (select 1 union all select i + 1 from n where i < 150)
	insert into c select printf('K%03d', i),
		case when i <= 110 then 'bad' || i else 'k' || i || '@example.com' end,
		case i % 3 when 0 then 'Zoë' when 1 then '李' else 'Ольга' end, 'p' || (i % 4) from n;" || exit 1

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite w.db --query 'select id, email, first_name, plan from c order by id' \
| rx-diff --state s.db --key id --mode mirror --max-delete-ratio 1 \
| rx-batch --profile klaviyo-profiles \
| rx-push --profile klaviyo-profiles --url "$(cat kl.url)" --stats stats.json 2>>dead.ndjson \
| tee -a acks.ndjson \
| rx-diff --state s.db --commit
SH
model () { sqlite3 -separator "	" w.db "select id, email, first_name, plan from c where email like '%@%' order by id"; }
klaviyo () { fake_state kl | jq -r '.profiles | to_entries[] | [.key, .value.email, .value.first_name, .value.properties.plan] | @tsv' | sort; }

test_expect_success 'a bulk import is a job: acked once complete, its import errors (two pages) dead-lettered' '
	{ bash sync.sh; test $? = 3; } &&
	test "$(acked acks.ndjson | wc -l)" = 40 &&
	test "$(dead dead.ndjson | wc -l)" = 110 &&
	test_grep "\"key\":\"K007\".*\"message\":\"Invalid input.: Invalid email address\"" dead.ndjson &&
	model >expect && klaviyo >actual && test_cmp expect actual &&
	test "$(fake_count kl submitted)" = 1 &&
	fake_state kl | jq -c "{violations, throttled, violation_list}" && fake_state kl | jq -e ".violations == 0 and .throttled == 0"
'

test_expect_success 'the error pages were read page by page, 100 at a time' '
	jobs_fake kl2 klaviyo -- --token pk_t0k --polls 1 --log kl2.log &&
	rx-extract --sqlite w.db --query "select id, email from c order by id" |
		rx-diff --state s2.db --key id --mode mirror --max-delete-ratio 1 |
		rx-push --profile klaviyo-profiles --url "$(fake_url kl2)" >a2 2>d2; test $? = 3 &&
	jq -r "select(.path | test(\"import-errors\")) | .path" kl2.log >pages &&
	test_lines 2 pages &&
	test_grep "page%5Bsize%5D=100" pages &&
	test_grep "page%5Bcursor%5D=100" pages
'

test_expect_success 'a second run with the e-mails mended: the model arrives' '
	sqlite3 w.db "update c set email = lower(id) || \"@example.com\" where email not like \"%@%\"" &&
	bash sync.sh &&
	model >expect && klaviyo >actual && test_cmp expect actual
'

test_expect_success 'killed once a job is submitted, and once polled: nothing acked, nothing lost' '
	sqlite3 w.db "update c set plan = \"gold\" where id <= \"K010\"" &&
	: >acks.ndjson &&
	{ bash sync.sh rx-push:job:1; test $? != 0; } &&
	test_must_be_empty acks.ndjson &&
	{ bash sync.sh rx-push:polled:1; test $? != 0; } &&
	test_must_be_empty acks.ndjson &&
	bash sync.sh &&
	model >expect && klaviyo >actual && test_cmp expect actual &&
	rx-extract --sqlite w.db --query "select id, email, first_name, plan from c order by id" |
		rx-diff --state s.db --key id --mode mirror --preview >left &&
	test_must_be_empty left
'

test_expect_success 'changes and deletes: one job, two polls, a deletion request a profile; the model again' '
	sqlite3 w.db "delete from c where id in (\"K001\", \"K002\", \"K150\"); update c set first_name = \"Ada\" where id = \"K003\"" &&
	bash sync.sh &&
	model >expect && klaviyo >actual && test_cmp expect actual &&
	test "$(jq -r .requests stats.json)" = 6 &&
	test "$(fake_count kl throttled)" = 0 &&
	test "$(fake_count kl violations)" = 0
'

test_expect_success 'throttled (429, Retry-After): waited out and retried, no record lost' '
	jobs_fake th klaviyo -- --token pk_t0k --polls 1 --throttle-first 2 &&
	printf "{\"op\":\"upsert\",\"key\":\"T1\",\"hash\":\"h1\",\"row\":{\"email\":\"t1@example.com\"}}\n" >one &&
	rx-push --profile klaviyo-profiles --url "$(fake_url th)" --stats st.json <one >acks 2>err &&
	test "$(acked acks)" = T1 &&
	test "$(fake_count th throttled)" = 2 &&
	test "$(jq -r .throttled st.json)" = 2
'

test_expect_success 'a refused key: exit 1, Klaviyo says why, the key is nowhere' '
	printf "{\"op\":\"upsert\",\"key\":\"T1\",\"hash\":\"h1\",\"row\":{\"email\":\"t1@example.com\"}}\n" >one &&
	test_expect_code 1 env KLAVIYO_API_KEY=pk_wrong_s3cret rx-push --profile klaviyo-profiles --url "$(fake_url kl)" <one >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "refused the credentials" err &&
	! grep -r "pk_wrong_s3cret" acks err &&
	test_expect_code 1 env KLAVIYO_API_KEY=pk_wrong_s3cret rx-push --profile klaviyo-profiles --url "$(fake_url kl)" --test-connection >out 2>err &&
	! grep "pk_wrong_s3cret" out err &&
	rx-push --profile klaviyo-profiles --url "$(fake_url kl)" --test-connection >out &&
	test_grep "the credentials work" out
'

test_expect_success 'a job that never finishes: max_wait, exit 75, its records unacked' '
	jq ".ops.upsert.job.max_wait = 1 | .ops.upsert.job.interval = 0.2" "$RX_SHARE/destinations/klaviyo-profiles.json" >slow.json &&
	cp "$RX_SHARE/jq/klaviyo.jq" . &&
	jobs_fake stuck klaviyo -- --token pk_t0k --polls 1000000 &&
	test_expect_code 75 rx-push --profile ./slow.json --url "$(fake_url stuck)" <one >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "did not finish within 1 s" err &&
	test_grep "1 record left unacked" err
'

test_expect_success 'a job Klaviyo cancels: its records dead-lettered with the reason' '
	jobs_fake cx klaviyo -- --token pk_t0k --polls 1 --cancel &&
	{ rx-push --profile klaviyo-profiles --url "$(fake_url cx)" <one >acks 2>err; test $? = 3; } &&
	test_must_be_empty acks &&
	test_grep "\"key\":\"T1\".*Klaviyo cancelled the import job" err
'

test_expect_success 'a deletion needs an e-mail or a phone: otherwise a dead letter, nothing sent' '
	printf "{\"op\":\"delete\",\"key\":\"D1\",\"hash\":\"h1\",\"row\":{\"first_name\":\"x\"}}\n" >del &&
	before=$(fake_count kl requests) &&
	{ rx-push --profile klaviyo-profiles --url "$(fake_url kl)" <del >acks 2>err; test $? = 3; } &&
	test_grep "needs its email or phone_number" err &&
	test "$(fake_count kl requests)" = "$before"
'

test_expect_success 'the profile checks clean' '
	rx-push --profile klaviyo-profiles --check-profile >out &&
	test_grep "^0 errors" out
'

test_expect_success 'docs/destinations/klaviyo-profiles.md: the commands it gives, against the fake' '
	jobs_fake page klaviyo -- --token pk_your_private_key --polls 2 &&
	mkdir u && cp -R "$RX_TOP/examples" u/examples &&
	rm -rf u/examples/state && sqlite3 u/examples/warehouse.db <"$RX_TOP/examples/warehouse.sql" &&
	page_try klaviyo-profiles >try.sh && test_grep sync-klaviyo.sh try.sh &&
	(cd u && KLAVIYO_URL=$(cat ../page.url) bash -e ../try.sh >../tried) &&
	test_grep "^{\"\$rx\":\"request\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:[0-9]*/api/profile-bulk-import-jobs\"" tried &&
	n=$(sqlite3 u/examples/warehouse.db "select count(*) from customer_model where email is not null") &&
	test "$(fake_state page | jq "[.profiles[] | select(.email != null)] | length")" = "$n" &&
	test "$(fake_count page violations)" = 0
'

test_done
