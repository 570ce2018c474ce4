#!/bin/sh
# examples/alert.sh: an unhealthy sync (failed, stale, dead-lettering) is
# posted to Slack and to PagerDuty by rx-push; a healthy project posts
# nothing.  Against the fake destination and a one-answer server.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

acks () { jq -c '{key,hash,run,op}' "$@"; }
model () {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"K%d\",\"v\":%d}\n", i, i }' &&
	echo '{"$rx":"end"}'
}

fake_start
reply_start pd -- --status 202 --body "{\"status\":\"success\",\"message\":\"Event processed\"}"

test_expect_success 'setup: the examples, and a healthy sync' '
	cp -R "$RX_TOP/examples" ex && mkdir ex/state &&
	model 5 >m &&
	rx-diff --state ex/state/app.db --key id --profile sqlite <m | acks | rx-diff --state ex/state/app.db --commit 2>/dev/null
'

test_expect_success 'all healthy: nothing is sent, exit 0' '
	SLACK_WEBHOOK_URL=$(fake_url) PAGERDUTY_URL=$(fake_url pd) ex/alert.sh 2>err &&
	test_must_be_empty err &&
	test "$(fake_count fake requests)" = 0 &&
	test ! -s pd.log
'

test_expect_success 'a stale sync and one that never succeeded: Slack and PagerDuty told, exit 1' '
	rx-diff --state ex/state/crm.db --key id --sync hubspot <m >/dev/null &&
	sqlite3 ex/state/app.db "update meta set value = \"2020-01-01T00:00:00.000Z\" where name = \"last_success\"" &&
	SLACK_WEBHOOK_URL=$(fake_url) PAGERDUTY_URL=$(fake_url pd) MAX_AGE=1h \
		test_expect_code 1 ex/alert.sh 2>err &&
	test_grep "^rx alert: app: stale: last success" err &&
	test_grep "^rx alert: hubspot: never succeeded" err &&
	fake_state >slack &&
	jq -r ".records | to_entries[] | .key + \" \" + .value.row.text" slack | sort >got &&
	test_grep "^app rx sync app (sqlite) is unhealthy: stale: last success [0-9]*d ago (--max-age 1h)$" got &&
	test_grep "^hubspot rx sync hubspot (no destination) is unhealthy: never succeeded$" got &&
	test_lines 2 pd.log &&
	jq -c ".body | fromjson | .records[0].row | {event_action, dedup_key, severity: .payload.severity, component: .payload.component}" pd.log | sort >got &&
	printf "%s\n" "{\"event_action\":\"trigger\",\"dedup_key\":\"rx-app\",\"severity\":\"error\",\"component\":\"app\"}" \
		"{\"event_action\":\"trigger\",\"dedup_key\":\"rx-hubspot\",\"severity\":\"error\",\"component\":\"hubspot\"}" >expect &&
	test_cmp expect got
'

test_expect_success 'from the Makefile: make alert, make health, make status' '
	SLACK_WEBHOOK_URL=$(fake_url) test_expect_code 2 make -s -C ex alert >out 2>err &&
	test_grep "rx alert: app" err &&
	test_expect_code 2 make -s -C ex health >out 2>&1 &&
	test_grep "^app: unhealthy" out &&
	make -s -C ex status >out &&
	test_grep "^SYNC " out &&
	test_grep "^hubspot " out
'

test_expect_success 'the systemd unit calls the alert on failure' '
	test_grep "^OnFailure=rx-alert.service" ex/systemd/rx-sync.service &&
	test_grep "^ExecStart=/usr/bin/make alert" ex/systemd/rx-alert.service
'

test_expect_success 'a destination that refuses the alert: alert.sh says so in its exit status' '
	reply_start down -- --status 400 --body "{\"error\":\"no\"}" &&
	SLACK_WEBHOOK_URL=$(fake_url down) test_expect_code 3 ex/alert.sh 2>err &&
	test "$(grep -c "^{" err)" = 2
'

test_done
