#!/bin/sh
# An ack counts only for the state and the run that staged its change;
# one commit holds a run until it ends; a re-driven dead letter whose row
# was edited is refused; a preview and a dry run change nothing (issue
# 11, cases 7 to 10).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

acks () { jq -c '{key,hash,run,op}' "$@"; }
model () {
	awk -v n="$1" -v v="${2:-1}" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"K%04d\",\"v\":%d}\n", i, i * v }' &&
	echo '{"$rx":"end"}'
}
snapshot_rows () { sqlite3 "$1" "select count(*) from snapshot"; }

test_expect_success 'changes name their state and run; acks carry it' '
	model 1000 >m1 &&
	rx-diff --state a.db --key id <m1 >ca &&
	id=$(sqlite3 a.db "select value from meta where name = \"state_id\"") &&
	test "$(jq -r .run ca | sort -u)" = "$id.1" &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"K1\",\"hash\":\"h\",\"run\":\"$id.1\",\"row\":{}}" |
		rx-push --profile webhook --url http://127.0.0.1:9 --dry-run >/dev/null &&
	rx-diff --state a.db --commit </dev/null
'

test_expect_success 'acks of another state change nothing there, are reported, exit 65' '
	rx-diff --state b.db --key id <m1 >cb &&
	test "$(jq -r .hash ca | sort | md5sum)" = "$(jq -r .hash cb | sort | md5sum)" &&
	rx-diff --state a.db --key id <m1 >ca2 &&
	test_expect_code 65 rx-diff --state a.db --commit <cb 2>err &&
	test_grep "1000 acks name another state" err &&
	test "$(snapshot_rows a.db)" = 0 &&
	rx-diff --state a.db --key id <m1 >again 2>/dev/null &&
	test_lines 1000 again
'

test_expect_success 'acks of an older run of the same state change nothing either' '
	acks again >new-acks && acks ca >old-acks &&
	cat old-acks new-acks | rx-diff --state a.db --commit 2>err &&
	test_grep "1000 acks are from run 1, not run 3" err &&
	test "$(snapshot_rows a.db)" = 1000 &&
	test "$(sqlite3 a.db "select acked || \" \" || status from runs where id = 3")" = "1000 committed"
'

test_expect_success 'acks that name no run are reported and ignored' '
	model 1000 2 >m2 &&
	rx-diff --state a.db --key id <m2 >c2 &&
	test_expect_code 65 rx-diff --state a.db --commit 2>err <<-\EOF &&
	{"key":"K0001","hash":"0000000000000000000000000000000000000000000000000000000000000000","op":"upsert"}
	EOF
	test_grep "1 acks name no run" err
'

test_expect_success 'one commit a run: a second is refused, and no stage starts while the first works' '
	rx-diff --state a.db --key id <m2 >c3 2>/dev/null &&
	acks c3 >a3 &&
	{ head -n 1 a3 && sleep 3 && tail -n +2 a3; } | rx-diff --state a.db --commit >/dev/null 2>slow.err &
	sleep 1 &&
	test_expect_code 75 rx-diff --state a.db --commit <a3 2>fast.err &&
	test_grep "run 5 is being committed by another rx-diff --commit" fast.err &&
	test_expect_code 75 rx-diff --state a.db --key id <m2 >out 2>stage.err &&
	test_must_be_empty out &&
	test_grep "is locked by" stage.err &&
	wait &&
	test "$(sqlite3 a.db "select acked || \" \" || not_acked || \" \" || status from runs where id = 5")" = "1000 0 committed" &&
	rx-diff --state a.db --key id <m2 >quiet &&
	test_must_be_empty quiet
'

# a destination that rejects an e-mail without "@"
fake_start -- --family webhook || exit 1

cat >sync.sh <<'SH'
set -o pipefail
rx-extract --sqlite w.db --query 'select * from c order by id' \
| rx-diff --state s.db --key id --mode mirror \
| rx-batch --size 10 \
| rx-push --profile webhook --url "$(cat fake.url)" 2>>dead.ndjson \
| rx-diff --state s.db --commit
SH

test_expect_success 'setup: a sync whose destination rejects one row' '
	sqlite3 w.db "create table c(id text, email text);
		insert into c values (\"C1\", \"a@x.com\"), (\"C2\", \"broken\"), (\"C3\", \"c@x.com\")" &&
	{ bash sync.sh; test $? = 3; } &&
	test_lines 1 dead.ndjson &&
	test_grep "\"row_hash\":\"[0-9a-f]\{64\}\"" dead.ndjson &&
	fake_records | cut -f1 >keys &&
	printf "C1\nC3\n" >expect && test_cmp expect keys
'

test_expect_success 'a re-drive of an edited dead letter is refused, not sent, not acked' '
	jq -c ".row.email = \"fixed@x.com\"" dead.ndjson >edited &&
	before=$(fake_count fake requests) &&
	test_expect_code 65 rx-push --profile webhook --url "$(cat fake.url)" <edited >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "edited after it was rejected" err &&
	test "$(fake_count fake requests)" = "$before" &&
	grep "^{" err >edited.again &&
	test_grep "$(jq -r .error.row_hash dead.ndjson)" edited.again &&
	test_expect_code 65 rx-push --profile webhook --url "$(cat fake.url)" <edited.again >acks 2>err
'

test_expect_success 'a dead letter re-driven unedited (even through jq) is sent again' '
	jq -c . dead.ndjson >same &&
	{ rx-push --profile webhook --url "$(cat fake.url)" <same >acks 2>err; test $? = 3; } &&
	test_grep "is not a valid email\|not a valid" err
'

test_expect_success 'after fixing the model, a normal run puts the model row in the destination' '
	sqlite3 w.db "update c set email = \"c2@x.com\" where id = \"C2\"" &&
	bash sync.sh &&
	fake_records >actual &&
	grep "^C2" actual >c2 &&
	test_grep "c2@x.com" c2
'

test_expect_success 'rx-diff --preview: the changes a run would emit; the state unchanged' '
	sqlite3 w.db "update c set email = \"new@x.com\" where id = \"C1\"" &&
	sqlite3 s.db .dump >before &&
	rx-extract --sqlite w.db --query "select * from c order by id" |
		rx-diff --state s.db --key id --mode mirror --preview >preview &&
	test_lines 1 preview &&
	test_grep "\"key\":\"C1\"" preview &&
	! grep -q "\"run\"" preview &&
	sqlite3 s.db .dump >after &&
	test_cmp before after
'

test_expect_success 'a preview of a sync that never ran creates no state' '
	rx-extract --sqlite w.db --query "select * from c order by id" |
		rx-diff --state new.db --key id --mode mirror --preview >preview &&
	test_lines 3 preview &&
	test ! -e new.db
'

test_expect_success 'a dry run in a whole sync: the commit reads no ack from it, exit 0' '
	rx-extract --sqlite w.db --query "select * from c order by id" |
		rx-diff --state s.db --key id --mode mirror |
		rx-batch | rx-push --profile webhook --url "$(cat fake.url)" --dry-run --limit 1 >dry &&
	test_grep "^{\"\$rx\":\"request\"" dry &&
	rx-diff --state s.db --commit <dry
'

test_expect_success 'examples/sync-app.sh --dry-run changes nothing' '
	cp -R "$RX_TOP/examples" ex &&
	sqlite3 ex/warehouse.db <"$RX_TOP/examples/warehouse.sql" &&
	sqlite3 ex/app.db <"$RX_TOP/examples/app-schema.sql" &&
	ex/sync-app.sh --dry-run --limit 2 >tried &&
	test_lines 1 tried &&
	test_grep "^{\"\$rx\":\"request\",\"driver\":\"sqlite\"" tried &&
	test ! -e ex/state/app.db &&
	test "$(sqlite3 ex/app.db "select count(*) from customers")" = 0 &&
	ex/sync-app.sh &&
	test "$(sqlite3 ex/app.db "select count(*) from customers")" = 3000
'

test_done
