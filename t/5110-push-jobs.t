#!/bin/sh
# Asynchronous jobs against a Zendesk-like fake (t/fake/zendesk.py): a
# bulk write only queues a job; rx-push polls it and acks a record only
# when the job reports it applied; a kill while the job runs loses
# nothing (issue 12).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

FAKE_SCRIPT=$RX_TESTS/fake/zendesk.py fake_start zd -- --token zt0k --polls 3 || exit 1
export ZENDESK_USER=agent@example.com/token ZENDESK_TOKEN=zt0k

sqlite3 w.db "create table users(id text primary key, email text, name text);
	insert into users values ('U1', 'ada@example.com', 'Ada'), ('U2', 'not-an-email', 'Bob'),
	('U3', 'cy@example.com', 'Cy');" || exit 1

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite w.db --query 'select id, email, name from users order by id' \
| rx-diff --state s.db --key id --mode mirror --max-delete-ratio 1 \
| rx-batch --profile zendesk-users \
| rx-push --profile zendesk-users --url "$(cat zd.url)" 2>>dead.ndjson \
| tee -a acks.ndjson \
| rx-diff --state s.db --commit
SH
users () { fake_state zd | jq -r '.users | to_entries[] | [.key, .value.email, .value.id] | @tsv' | sort; }

test_expect_success 'a bulk upsert is a job: acked only for what the job reports applied' '
	{ bash sync.sh; test $? = 3; } &&
	rows_of acks.ndjson | jq -r .key | sort >acked &&
	printf "U1\nU3\n" >expect && test_cmp expect acked &&
	test_grep "\"key\":\"U2\".*is not properly formatted" dead.ndjson &&
	test "$(fake_count zd polls)" -ge 3 &&
	users | cut -f1,2 >actual &&
	printf "U1\tada@example.com\nU3\tcy@example.com\n" >expect && test_cmp expect actual
'

test_expect_success 'the acks carry the ids the job gave, and the snapshot keeps them' '
	test "$(rows_of acks.ndjson | jq -r .id | sort | tr "\n" " ")" = "$(users | cut -f3 | sort | tr "\n" " ")" &&
	test "$(sqlite3 s.db "select count(*) from snapshot_row where id is not null")" = 2
'

test_expect_success 'killed while the job runs: nothing acked, nothing lost; the next run finishes it' '
	sqlite3 w.db "update users set email = \"bob@example.com\" where id = \"U2\";
		insert into users values (\"U4\", \"di@example.com\", \"Di\")" &&
	: >acks.ndjson &&
	{ bash sync.sh rx-push:job:1 2>kill.err; test $? != 0; } &&
	test_must_be_empty acks.ndjson &&
	bash sync.sh &&
	users | cut -f1,2 >actual &&
	printf "U1\tada@example.com\nU2\tbob@example.com\nU3\tcy@example.com\nU4\tdi@example.com\n" >expect &&
	test_cmp expect actual &&
	rx-extract --sqlite w.db --query "select id, email, name from users order by id" |
		rx-diff --state s.db --key id --mode mirror --preview >left &&
	test_must_be_empty left
'

test_expect_success 'a delete is a job too: destroy_many by external_id, acked when done' '
	sqlite3 w.db "delete from users where id in (\"U3\", \"U4\")" &&
	bash sync.sh &&
	users | cut -f1 >actual &&
	printf "U1\nU2\n" >expect && test_cmp expect actual &&
	test "$(fake_count zd violations)" = 0
'

test_expect_success 'a delete job'"'"'s result acks its record only when it says Deleted (and not success: false): another is a dead letter naming it' '
	echo "{\"op\":\"delete\",\"records\":[{\"key\":\"D1\",\"hash\":\"h1\",\"row\":{\"email\":\"d1@example.com\"}}]}" >del1 &&
	n=0 && for r in "{\"status\":\"Skipped\"}" "{\"success\":false}" "{}"; do
		n=$((n + 1)) &&
		FAKE_SCRIPT=$RX_TESTS/fake/zendesk.py fake_start "zdel$n" -- --token zt0k --polls 1 --delete-result "$r" &&
		{ rx-push --profile zendesk-users --url "$(fake_url "zdel$n")" <del1 >"del$n.acks" 2>"del$n.err"; echo $? >"del$n.rc"; } || return 1
	done &&
	test "$(cat del1.rc) $(cat del2.rc) $(cat del3.rc)" = "3 3 0" &&
	test_must_be_empty del1.acks && test_must_be_empty del2.acks &&
	test_grep "not understood.*Skipped.*not taken for Deleted" del1.err &&
	test_grep "not understood.*success.*:false.*not taken for Deleted" del2.err &&
	jq -r .key del3.acks >got && echo D1 >expect && test_cmp expect got
'

test_expect_success 'a job that outlives its max_wait stops the run, exit 75, its records unacked' '
	jq ".ops.upsert.job.max_wait = 1 | .ops.upsert.job.interval = 0.2" "$RX_SHARE/destinations/zendesk-users.json" >slow.json &&
	cp "$RX_SHARE/jq/zendesk.jq" . &&
	FAKE_SCRIPT=$RX_TESTS/fake/zendesk.py fake_start stuck -- --token zt0k --polls 1000 &&
	printf "{\"op\":\"upsert\",\"key\":\"S1\",\"hash\":\"%064d\",\"row\":{\"email\":\"s@example.com\"}}\n" 0 >one &&
	test_expect_code 75 rx-push --profile ./slow.json --url "$(fake_url stuck)" <one >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "did not finish within 1 s" err &&
	test_grep "1 record left unacked" err
'

test_expect_success 'a done job read in C (job.success): the same acks, ids and dead letters as its status program' '
	wrap="zendesk_job_status | if type == \"array\" then map(if .ok then .id = \"jq:\\(.id)\" else . end) else . end" &&
	jq --arg w "$wrap" "(.ops[] | .job.status) = \$w" "$RX_SHARE/destinations/zendesk-users.json" >c.json &&
	jq "(.ops[] | .job) |= del(.success)" c.json >p.json &&
	cat >batches.ndjson <<-\EOF &&
	{"op":"upsert","records":[{"key":"A1","hash":"h1","row":{"email":"a1@example.com"}},{"key":"A2","hash":"h2","row":{"email":"a2@example.com"}}]}
	{"op":"upsert","records":[{"key":"B1","hash":"h3","row":{"email":"b1@example.com"}},{"key":"B2","hash":"h4","row":{"email":"not-an-email"}}]}
	{"op":"delete","records":[{"key":"A2","hash":"h2","row":{"email":"a2@example.com"}}]}
	EOF
	for x in c p; do
		FAKE_SCRIPT=$RX_TESTS/fake/zendesk.py fake_start "z$x" -- --token zt0k --polls 2 &&
		{ rx-push --profile "./$x.json" --url "$(fake_url "z$x")" -c 1 <batches.ndjson >"$x.acks" 2>"$x.err"; echo $? >"$x.rc"; } &&
		jq -r "[.key, (.id // \"-\" | tostring)] | @tsv" "$x.acks" | sort >"$x.ids" &&
		grep -v "^rx-push:" "$x.err" | jq -c "{key, m: .error.message}" | sort >"$x.dead" || return 1
	done &&
	test "$(cat c.rc) $(cat p.rc)" = "3 3" &&
	test_cmp c.dead p.dead && test_grep "\"key\":\"B2\".*not properly formatted" c.dead &&
	sed "s/jq://" c.ids | grep -v "^A2" >c.up && sed "s/jq://" p.ids | grep -v "^A2" >p.up && test_cmp c.up p.up &&
	test "$(grep -c "	jq:" c.ids)" = 1 && grep -q "^B1	jq:" c.ids &&
	grep -q "^A1	[0-9]" c.ids && grep -q "^A2	" c.ids && grep -q "^A2	jq:" p.ids &&
	test "$(grep -c "	jq:" p.ids)" = 4
'

test_done
