#!/bin/sh
# rx-diff --status over the state files of a project (a folder, files, a
# pattern) as a table and as JSON, and --health: exit 0 when every sync
# is healthy, 1 when one never succeeded, is stale, failed or dead-letters
# past --max-error-rate, naming why and whose fault.
. "$(dirname "$0")/lib.sh"

acks () { jq -c '{key,hash,run,op}' "$@"; }
rejects () { jq -c '{"$rx":"rejected",key,hash,run,op,reason:"http_422"}' "$@"; }
model () {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"K%d\",\"v\":%d}\n", i, i }' &&
	echo '{"$rx":"end"}'
}

test_expect_success 'setup: three syncs, one ok, one with rejected rows, one never committed' '
	mkdir state &&
	model 10 >m &&
	rx-diff --state state/app.db --key id --profile sqlite <m | acks | rx-diff --state state/app.db --commit 2>/dev/null &&
	rx-diff --state state/crm.db --key id --profile webhook --sync hubspot <m >c &&
	{ head -n 8 c | acks && tail -n 2 c | rejects; } | rx-diff --state state/crm.db --commit 2>/dev/null &&
	rx-diff --state state/new.db --key id <m >/dev/null
'

test_expect_success '--status DIR: one line a sync, and the columns a person reads' '
	rx-diff --status state >table &&
	test_lines 4 table &&
	head -n 1 table | tr -s " " >head &&
	echo "SYNC DESTINATION LAST RUN OUTCOME ROWS CHANGES ERRORS LAG" >expect &&
	test_cmp expect head &&
	grep "^app " table | tr -s " " | cut -d" " -f1,2,5,6,7,8 >row &&
	echo "app sqlite ok 10 10 0" >expect && test_cmp expect row &&
	grep "^hubspot " table | grep -q "rejected (destination) *10 *10 *2 " &&
	grep "^new " table | grep -q "not committed"
'

test_expect_success '--status --json: an object a sync, for scripts; files and patterns too' '
	rx-diff --status --json state/app.db "state/c*.db" >json &&
	test_lines 2 json &&
	jq -r "[.sync, .destination, .outcome, .fault, .rows, .changes, .acked, .rejected, .errors] | @tsv" json >got &&
	printf "app\tsqlite\tok\t\t10\t10\t10\t0\t0\nhubspot\twebhook\trejected\tdestination\t10\t10\t8\t2\t2\n" >expect &&
	test_cmp expect got &&
	test "$(jq -r .lag_seconds json | head -n 1)" -lt 60 &&
	test_expect_code 1 rx-diff --status "state/none*.db" 2>err &&
	test_grep "no such state file" err
'

test_expect_success 'the old form still prints one state.s history' '
	rx-diff --state state/app.db --status >hist &&
	test_lines 2 hist &&
	test "$(head -n 1 hist | jq -r .status)" = committed
'

test_expect_success '--health: healthy syncs exit 0' '
	rx-diff --health --max-age 1h state/app.db >out &&
	test_grep "^app: healthy: last success [0-9]*s ago, last run ok$" out
'

test_expect_success '--health: never succeeded, and rejected rows past --max-error-rate, exit 1' '
	test_expect_code 1 rx-diff --health --max-error-rate 0.1 state >out &&
	test_grep "^app: healthy" out &&
	test_grep "^hubspot: unhealthy: 2 of 10 changes rejected (0.2 > --max-error-rate 0.1: the destination.s)$" out &&
	test_grep "^new: unhealthy: never succeeded" out &&
	rx-diff --health --max-error-rate 0.2 state/crm.db >out &&
	test_grep "^hubspot: healthy" out
'

test_expect_success '--health: stale past --max-age' '
	sqlite3 state/app.db "update meta set value = \"2020-01-01T00:00:00.000Z\" where name = \"last_success\"" &&
	test_expect_code 1 rx-diff --health --max-age 2h state/app.db >out &&
	test_grep "^app: unhealthy: stale: last success [0-9]*d ago (--max-age 2h)$" out &&
	rx-diff --health state/app.db >out &&
	test_grep "^app: healthy" out
'

test_expect_success '--health: a guard rail that aborted the last run is the model.s fault' '
	model 12 >m12 &&
	test_expect_code 65 rx-diff --state state/crm.db --key id --max-changes 1 <m12 >/dev/null 2>&1 &&
	test_expect_code 1 rx-diff --health --json state/crm.db >out &&
	test "$(jq -r .problems out)" = "the last run was aborted (a guard rail, or a model cut short: the model'"'"'s)" &&
	test "$(jq -r .status.fault out)" = model
'

test_expect_success 'usage: one of --status, --health, --commit; states named' '
	test_expect_code 2 rx-diff --health 2>err &&
	test_grep "no state" err &&
	test_expect_code 2 rx-diff --health --status state 2>err &&
	test_expect_code 2 rx-diff --health --max-age soon state 2>err &&
	test_grep "not an age" err &&
	test_expect_code 2 rx-diff --state s.db --key id --json 2>err
'

test_expect_success 'output errors: a full disk is exit 74' '
	test_expect_code 74 rx-diff --status state >/dev/full 2>err
'

test_done
