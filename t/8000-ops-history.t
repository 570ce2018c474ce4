#!/bin/sh
# Operating syncs (issue 15): each run's dead letters by stage and reason
# in the history, rx-push's {"$rx":"rejected"} records counted by the
# commit, a run whose changes were all answered counts for freshness, the
# one-line summary says whose fault, and --keep-runs bounds the history
# without letting a counter fall.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

acks () { jq -c '{key,hash,run,op}' "$@"; }
# rejected records, as rx-push writes them for its dead letters
rejects () { jq -c --arg why "$1" '{"$rx":"rejected",key,hash,run,op,reason:$why}'; }

test_expect_success 'a run with a bad key and a rejected change: the summary names both faults' '
	printf "%s\n" "{\"id\":\"C1\",\"v\":1}" "{\"id\":\"C2\",\"v\":2}" "{\"v\":3}" "{\"id\":\"C1\",\"v\":4}" \
		"{\"\$rx\":\"end\"}" >m1 &&
	test_expect_code 3 rx-diff --state s.db --key id --sync app <m1 >c1 2>dead &&
	test_lines 1 c1 &&
	test "$(grep -c "^{" dead)" = 3 &&
	printf "%s\n" "{\"id\":\"C2\",\"v\":2}" "{\"id\":\"C3\",\"v\":3}" "{\"\$rx\":\"end\"}" >m2 &&
	rx-diff --state s.db --key id --sync app <m2 >c2 &&
	{ sed -n 1p c2 | acks && sed -n 2p c2 | rejects http_422; } | rx-diff --state s.db --commit 2>err &&
	test_grep "^rx-diff: app run 2: 2 rows read, 2 changes (2 new, 0 changed, 0 gone), 1 acked, 1 rejected, 0 unanswered: the destination.s fault, 1 change rejected (http_422 1)$" err &&
	test "$(sqlite3 s.db "select rejected, not_acked, status from runs where id = 2")" = "1|1|partial" &&
	test "$(sqlite3 s.db "select stage || \" \" || reason || \" \" || count from run_errors where run = 2")" = "rx-push http_422 1" &&
	test "$(sqlite3 s.db "select group_concat(reason || \"=\" || count) from run_errors where run = 1")" = "duplicate_key=2,missing_key=1" ||
	test "$(sqlite3 s.db "select group_concat(reason || \"=\" || count) from run_errors where run = 1")" = "missing_key=1,duplicate_key=2"
'

test_expect_success 'bad keys alone: the model.s fault, and the commit says so' '
	printf "%s\n" "{\"id\":\"C2\",\"v\":2}" "{\"id\":\"C3\",\"v\":33}" "{\"id\":null}" "{\"\$rx\":\"end\"}" >m3 &&
	{ test_expect_code 3 rx-diff --state s.db --key id --sync app <m3 2>/dev/null; } >c3 &&
	acks c3 | rx-diff --state s.db --commit 2>err &&
	test_grep ": the model.s fault, 1 row not synced (missing_key 1)$" err &&
	! grep -q "destination" err
'

test_expect_success 'a run whose only change was rejected is up to date: freshness advances' '
	sqlite3 s.db "update meta set value = \"2020-01-01T00:00:00.000Z\" where name = \"last_success\"" &&
	printf "%s\n" "{\"id\":\"C2\",\"v\":2}" "{\"id\":\"C3\",\"v\":34}" "{\"\$rx\":\"end\"}" >m4 &&
	rx-diff --state s.db --key id <m4 >c4 &&
	test_lines 1 c4 &&
	rejects http_400 <c4 | rx-diff --state s.db --commit 2>err &&
	test_grep "0 acked, 1 rejected, 0 unanswered" err &&
	rx-diff --state s.db --status | tail -n 1 >fresh &&
	test "$(jq .seconds_since_last_commit fresh)" -lt 60 &&
	test "$(sqlite3 s.db "select value > \"2021\" from meta where name = \"last_success\"")" = 1
'

test_expect_success 'a run with changes left unanswered does not count as having happened' '
	sqlite3 s.db "update meta set value = \"2020-01-01T00:00:00.000Z\" where name = \"last_success\"" &&
	# the model waits until the commit holds the run: a stage that ended
	# before its commit looked would leave the run to the next stage
	{ i=0; until test "$(sqlite3 s.db "select committer != 0 from runs where ended is null order by id desc limit 1")" = 1 ||
		test $i = 400; do sleep 0.05; i=$((i + 1)); done; cat m4; } |
	rx-diff --state s.db --key id | tee c5 | { grep -v . || :; } | rx-diff --state s.db --commit 2>err &&
	test_grep "1 change not answered (the delivery stopped): sent again next run" err &&
	test "$(sqlite3 s.db "select value from meta where name = \"last_success\"")" = "2020-01-01T00:00:00.000Z"
'

test_expect_success 'a commit that looks only after its stage ended still closes that run' '
	rx-diff --state s.db --key id <m4 >c5b &&
	rx-diff --state s.db --commit </dev/null 2>err &&
	test_grep "1 change not answered (the delivery stopped): sent again next run" err &&
	test "$(sqlite3 s.db "select count(*) from runs where ended is null")" = 0
'

test_expect_success 'a rejection said twice, or of another run, is counted once or not at all' '
	rx-diff --state s.db --key id <m4 >c6 &&
	{ rejects x <c6 && rejects x <c6 && rejects y <c5; } | rx-diff --state s.db --commit 2>err &&
	test_grep "1 rejected" err &&
	test "$(sqlite3 s.db "select count from run_errors where run = (select max(id) from runs)")" = 1
'

test_expect_success 'rx-push tells the commit of each dead letter, with its reason' '
	fake_start &&
	printf "%s\n" "{\"id\":\"E1\",\"email\":\"a@x.com\"}" "{\"id\":\"E2\",\"email\":\"bad\"}" "{\"\$rx\":\"end\"}" >m7 &&
	rx-diff --state p.db --key id <m7 | rx-push --profile webhook --url "$(fake_url)" 2>dead >out;
	test $? = 3 &&
	test "$(grep -c "^{\"\$rx\":\"rejected\"" out)" = 1 &&
	test "$(grep "^{\"\$rx\":\"rejected\"" out | jq -r .key,.reason)" = "E2
rejected" &&
	rx-diff --state p.db --commit <out 2>err &&
	test_grep "1 acked, 1 rejected, 0 unanswered: the destination.s fault, 1 change rejected (rejected 1)" err &&
	test "$(sqlite3 p.db "select count(*) from snapshot")" = 1
'

test_expect_success '--keep-runs bounds the history; the totals keep every count' '
	printf "%s\n" "{\"id\":\"K1\",\"v\":1}" "{\"\$rx\":\"end\"}" >k &&
	for i in 1 2 3 4 5 6; do
		rx-diff --state k.db --key id --keep-runs 3 --full-resync <k | acks | rx-diff --state k.db --commit 2>/dev/null || return 1
	done &&
	test "$(sqlite3 k.db "select count(*) from runs")" = 3 &&
	test "$(sqlite3 k.db "select value from totals where name = \"runs\"")" = 3 &&
	rx-diff --state k.db --status --metrics k.prom >/dev/null &&
	test_grep "^rx_diff_runs_total{sync=\"k\"} 6$" k.prom &&
	test_grep "^rx_diff_acked_total{sync=\"k\"} 6$" k.prom &&
	test_grep "^rx_diff_rows_read_total{sync=\"k\"} 6$" k.prom
'

test_expect_success 'a state of schema version 4 is upgraded in place, its history kept' '
	cp s.db v3.db &&
	sqlite3 v3.db "DROP TABLE run_errors; DROP TABLE rejected; DROP TABLE totals;
		ALTER TABLE runs DROP COLUMN rejected; PRAGMA user_version = 4" &&
	rx-diff --state v3.db --status >st 2>err &&
	test_grep "upgraded state .v3.db. from schema version 4 to 5" err &&
	test "$(sqlite3 v3.db "PRAGMA user_version")" = 5 &&
	test "$(sqlite3 v3.db "select count(*) from runs")" = "$(sqlite3 s.db "select count(*) from runs")" &&
	test "$(sqlite3 v3.db "select sum(rejected) from runs")" = 0
'

test_done
