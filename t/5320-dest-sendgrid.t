#!/bin/sh
# sendgrid-contacts against a SendGrid-like fake (t/fake/sendgrid.py):
# upsert jobs acked when completed, errored and failed jobs, a 400 naming
# contacts by place, deletes by ids found by e-mail (all of a batch in
# one ?ids=), SendGrid's X-RateLimit headers and 429, its auth, kills in
# the middle, and the page's own command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-jobs.sh"

jobs_fake sg sendgrid -- --token SG.t0k --polls 2 || exit 1
export SENDGRID_API_KEY=SG.t0k

sqlite3 w.db "create table c(id text primary key, email text, first_name text, e1_T text);
	with recursive n(i) as (select 1 union all select i + 1 from n where i < 120)
	insert into c select printf('S%03d', i), 's' || i || '@example.com',
		case i % 3 when 0 then 'Zoë' when 1 then '李' else 'Ольга' end, 'p' || (i % 4) from n;" || exit 1

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite w.db --query 'select id, email, first_name, e1_T from c order by id' \
| rx-diff --state s.db --key id --mode mirror --max-delete-ratio 1 \
| rx-batch --size 50 \
| rx-push --profile sendgrid-contacts --url "$(cat sg.url)" --stats stats.json 2>>dead.ndjson \
| tee -a acks.ndjson \
| rx-diff --state s.db --commit
SH
model () { sqlite3 -separator "	" w.db "select email, first_name, e1_T from c order by email"; }
sendgrid () { fake_state sg | jq -r '.contacts | to_entries[] | [.key, .value.first_name, .value.custom_fields.e1_T] | @tsv' | sort; }

test_expect_success 'upsert jobs: acked once SendGrid says completed, the model arrives' '
	bash sync.sh &&
	test "$(acked acks.ndjson | wc -l)" = 120 &&
	model >expect && sendgrid >actual && test_cmp expect actual &&
	test "$(fake_count sg submitted)" = 3 &&
	test "$(fake_count sg violations)" = 0 &&
	test "$(fake_count sg throttled)" = 0
'

test_expect_success 'an errored job: its records dead-lettered with SendGrid'"'"'s counts, the next run mends them' '
	sqlite3 w.db "update c set email = \"broken\" where id = \"S007\"; update c set e1_T = \"gold\" where id <= \"S010\"" &&
	: >dead.ndjson && : >acks.ndjson &&
	{ bash sync.sh; test $? = 3; } &&
	test "$(acked acks.ndjson | wc -l)" = 0 &&
	test "$(dead dead.ndjson | wc -l)" = 10 &&
	test_grep "\"key\":\"S003\".*errored for 1 of 10 contacts and does not say which" dead.ndjson &&
	sqlite3 w.db "update c set email = \"s7@example.com\" where id = \"S007\"" &&
	bash sync.sh &&
	model >expect && sendgrid >actual && test_cmp expect actual
'

test_expect_success 'a job where every contact failed: "failed", none applied' '
	printf "{\"op\":\"upsert\",\"key\":\"F1\",\"hash\":\"h1\",\"row\":{\"email\":\"nope\"}}\n" >bad &&
	{ rx-push --profile sendgrid-contacts --url "$(fake_url sg)" <bad >acks 2>err; test $? = 3; } &&
	test_grep "\"key\":\"F1\".*failed: none of its 1 contacts was applied" err
'

test_expect_success 'refused at once (400 naming contacts[N]): that one dead-lettered, the others sent again and acked' '
	jobs_fake sync sendgrid -- --token SG.t0k --polls 1 --sync-invalid &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"A\",\"hash\":\"h1\",\"row\":{\"email\":\"a@example.com\"}}" \
		"{\"op\":\"upsert\",\"key\":\"B\",\"hash\":\"h2\",\"row\":{\"email\":\"b-at-example.com\"}}" \
		"{\"op\":\"upsert\",\"key\":\"C\",\"hash\":\"h3\",\"row\":{\"email\":\"c@example.com\"}}" >three &&
	{ rx-push --profile sendgrid-contacts --url "$(fake_url sync)" <three >acks 2>err; test $? = 3; } &&
	test "$(acked acks | tr "\n" " ")" = "A C " &&
	test_grep "\"key\":\"B\".*email is invalid" err &&
	test "$(fake_state sync | jq -r ".contacts | keys | join(\" \")")" = "a@example.com c@example.com"
'

test_expect_success 'killed once a job is submitted, and once polled: nothing acked, nothing lost' '
	sqlite3 w.db "update c set first_name = \"Ada\" where id <= \"S005\"" &&
	: >acks.ndjson &&
	{ bash sync.sh rx-push:job:1; test $? != 0; } &&
	test_must_be_empty acks.ndjson &&
	{ bash sync.sh rx-push:polled:1; test $? != 0; } &&
	test_must_be_empty acks.ndjson &&
	bash sync.sh &&
	model >expect && sendgrid >actual && test_cmp expect actual
'

test_expect_success 'changes and deletes: ids found by e-mail, one DELETE ?ids= for a batch'"'"'s run of deletes, a job; the model again' '
	jobs_fake sg2 sendgrid -- --token SG.t0k --polls 1 --log sg2.log &&
	sed "s/sg.url/sg2.url/; s/s\.db/s2.db/g" sync.sh >sync2.sh &&
	bash sync2.sh &&
	sqlite3 w.db "delete from c where id in (\"S001\", \"S002\", \"S003\"); update c set e1_T = \"ruby\" where id = \"S100\"" &&
	bash sync2.sh &&
	model >expect && fake_state sg2 | jq -r ".contacts | to_entries[] | [.key, .value.first_name, .value.custom_fields.e1_T] | @tsv" | sort >actual &&
	test_cmp expect actual &&
	test "$(grep -c "\"DELETE\"" sg2.log)" = 1 &&
	grep "\"DELETE\"" sg2.log | jq -r .path | grep -E "^/v3/marketing/contacts\?ids=[0-9a-f-]{36},[0-9a-f-]{36},[0-9a-f-]{36}$" &&
	test "$(sqlite3 s2.db "select count(*) from snapshot_row where id is not null")" = 0 &&
	test "$(fake_count sg2 violations)" = 0
'

test_expect_success 'throttled (429 with X-RateLimit-Reset): waited out and retried, no record lost' '
	jobs_fake th sendgrid -- --token SG.t0k --polls 1 --throttle-first 2 &&
	printf "{\"op\":\"upsert\",\"key\":\"T1\",\"hash\":\"h1\",\"row\":{\"email\":\"t1@example.com\"}}\n" >one &&
	rx-push --profile sendgrid-contacts --url "$(fake_url th)" --stats st.json <one >acks 2>err &&
	test "$(acked acks)" = T1 &&
	test "$(fake_count th throttled)" = 2 &&
	test "$(jq -r .throttled st.json)" = 2
'

test_expect_success 'a refused key: exit 1, SendGrid says why, the key is nowhere' '
	test_expect_code 1 env SENDGRID_API_KEY=SG.wrong_s3cret rx-push --profile sendgrid-contacts --url "$(fake_url sg)" <one >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "refused the credentials.*authorization required" err &&
	! grep "wrong_s3cret" acks err &&
	test_expect_code 1 env SENDGRID_API_KEY=SG.wrong_s3cret rx-push --profile sendgrid-contacts --url "$(fake_url sg)" --test-connection >out 2>err &&
	! grep "wrong_s3cret" out err &&
	rx-push --profile sendgrid-contacts --url "$(fake_url sg)" --test-connection >out &&
	test_grep "the credentials work" out
'

test_expect_success 'a job that never finishes: max_wait, exit 75, its records unacked' '
	jq ".ops.upsert.job.max_wait = 1 | .ops.upsert.job.interval = 0.2" "$RX_SHARE/destinations/sendgrid-contacts.json" >slow.json &&
	cp "$RX_SHARE/jq/sendgrid.jq" . &&
	jobs_fake stuck sendgrid -- --token SG.t0k --polls 1000000 &&
	test_expect_code 75 rx-push --profile ./slow.json --url "$(fake_url stuck)" <one >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "did not finish within 1 s" err &&
	test_grep "1 record left unacked" err
'

test_expect_success 'the profile checks clean' '
	rx-push --profile sendgrid-contacts --check-profile >out &&
	test_grep "^0 errors" out
'

test_expect_success 'docs/destinations/sendgrid-contacts.md: the commands it gives, against the fake' '
	jobs_fake page sendgrid -- --token SG.your_api_key --polls 2 &&
	mkdir u && cp -R "$RX_TOP/examples" u/examples &&
	rm -rf u/examples/state && sqlite3 u/examples/warehouse.db <"$RX_TOP/examples/warehouse.sql" &&
	page_try sendgrid-contacts >try.sh && test_grep sync-sendgrid.sh try.sh &&
	(cd u && SENDGRID_URL=$(cat ../page.url) bash -e ../try.sh >../tried) &&
	test_grep "^{\"\$rx\":\"request\",\"method\":\"PUT\",\"url\":\"http://127.0.0.1:[0-9]*/v3/marketing/contacts\"" tried &&
	n=$(sqlite3 u/examples/warehouse.db "select count(distinct email) from customer_model where email is not null") &&
	test "$(fake_state page | jq ".contacts | length")" = "$n" &&
	test "$(fake_count page violations)" = 0
'

test_done
