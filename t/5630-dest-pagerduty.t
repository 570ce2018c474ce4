#!/bin/sh
# PagerDuty Events API v2: the pagerduty-events profile against the fake
# (t/fake/fake-saas.py --vendor pagerduty): upserts trigger and deletes
# resolve by dedup_key = the record key, an invalid event is
# dead-lettered with PagerDuty's errors, a bad routing key stops the run,
# 429 without a hint backs off, a kill in the middle, a whole mirror sync
# twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

KEY=R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12
cat >changes.ndjson <<'IN'
{"op":"upsert","key":"C1","hash":"h1","row":{"id":"C1","text":"Churn risk 91%: Ada","severity":"critical","churn_risk":0.91}}
{"op":"upsert","key":"C2","hash":"h2","row":{"id":"C2","text":"Churn risk 80%: Bo","severity":"urgent"}}
{"op":"upsert","key":"C3","hash":"h3","row":{"id":"C3","summary":"Summary wins over text","text":"x","component":"billing"}}
IN

saas_start pd -- --vendor pagerduty --token $KEY --log pd.log

test_expect_success 'triggers by dedup_key; an invalid event is dead-lettered with the errors' '
	test_expect_code 3 env PAGERDUTY_ROUTING_KEY=$KEY PAGERDUTY_EVENTS_URL=$(cat pd.url) \
		rx-push --profile pagerduty-events <changes.ndjson >acks 2>err &&
	acked acks >got && printf "C1\nC3\n" >expect && test_cmp expect got &&
	grep "\"key\":\"C1\"" acks >c1 && test_grep "\"id\":\"C1\"" c1 &&
	dead err >got && echo C2 >expect && test_cmp expect got &&
	test_grep "Event object is invalid: .payload.severity. is invalid" err &&
	fake_state pd | jq -c ".records.C1.row.payload, .records.C3.row.payload" >got &&
	cat >expect <<-\EOF &&
	{"custom_details":{"churn_risk":0.91,"id":"C1"},"severity":"critical","source":"rx","summary":"Churn risk 91%: Ada"}
	{"component":"billing","custom_details":{"id":"C3"},"severity":"warning","source":"rx","summary":"Summary wins over text"}
	EOF
	test_cmp expect got
'

test_expect_success 'a delete resolves the alert of its key' '
	echo "{\"op\":\"delete\",\"key\":\"C1\",\"hash\":\"h1\",\"row\":{\"id\":\"C1\"}}" >del &&
	PAGERDUTY_ROUTING_KEY=$KEY PAGERDUTY_EVENTS_URL=$(cat pd.url) rx-push --profile pagerduty-events <del >acks &&
	test_lines 1 acks &&
	tail -n 1 pd.log | jq -r .body >event &&
	echo "{\"routing_key\":\"$KEY\",\"event_action\":\"resolve\",\"dedup_key\":\"C1\"}" >expect &&
	test_cmp expect event &&
	fake_records pd | cut -f1 >got && echo C3 >expect && test_cmp expect got
'

test_expect_success 'the routing key is a secret: a dry run shows ***' '
	PAGERDUTY_ROUTING_KEY=$KEY rx-push --profile pagerduty-events --dry-run <changes.ndjson >dry &&
	test_lines 3 dry && ! grep -q $KEY dry && test_grep "\"routing_key\":\"\\*\\*\\*\"" dry &&
	test_grep "\"url\":\"https://events.pagerduty.com/v2/enqueue\"" dry
'

test_expect_success 'a refused routing key stops the run (exit 1), nothing dead-lettered, the key unshown' '
	test_expect_code 1 env PAGERDUTY_ROUTING_KEY=WRONGKEYWRONGKEYWRONGKEYWRONGKEY PAGERDUTY_EVENTS_URL=$(cat pd.url) \
		rx-push --profile pagerduty-events <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && ! grep -q "^{" err &&
	test_grep "refused the credentials" err && ! grep -q WRONGKEY err
'

test_expect_success '429 with no body and no hint: backed off, sent again' '
	saas_start pd2 -- --vendor pagerduty --token $KEY --throttle-first 2 &&
	head -n 1 changes.ndjson >one &&
	PAGERDUTY_ROUTING_KEY=$KEY PAGERDUTY_EVENTS_URL=$(cat pd2.url) rx-push --profile pagerduty-events --retry-base 50 <one >acks &&
	test_lines 1 acks && test "$(fake_count pd2 throttled)" = 2
'

test_expect_success 'at the documented 120 events a minute, no 429' '
	saas_start pd3 -- --vendor pagerduty --token $KEY --rate 120/60 --window 60 &&
	for i in 1 2 3 4 5 6 7 8; do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h\",\"row\":{\"text\":\"alert $i\"}}"; done >eight &&
	PAGERDUTY_ROUTING_KEY=$KEY PAGERDUTY_EVENTS_URL=$(cat pd3.url) rx-push --profile pagerduty-events <eight >acks &&
	test_lines 8 acks && test "$(fake_count pd3 throttled)" = 0
'

dest_examples 15
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/churn_audience.sql |
	rx-map -f examples/mappings/churn-alert.jq | rows_of - | jq -r "[.id, .text, .severity] | @tsv" | sort
}
held () {
	fake_state "$1" | jq -r ".records | to_entries[] | [.key, .value.row.payload.summary, .value.row.payload.severity] | @tsv" | sort
}
saas_start page -- --vendor pagerduty --token $KEY

test_expect_success 'the page command: the open alerts are the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try pagerduty-events >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got
'

test_expect_success 'a second run with changes and deletes: still the model (resolved ones gone)' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE churn_scores SET churn_risk = 0.99 WHERE customer_id = \"C00001\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\";
		UPDATE churn_scores SET churn_risk = 0.75 WHERE customer_id = \"C00005\"" &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got &&
	fake_state page | jq -r ".deleted[]" >resolved && echo C00002 >expect && test_cmp expect resolved
'

test_expect_success 'killed after a send, the next run leaves the alerts equal to the model' '
	saas_start kill -- --vendor pagerduty --token $KEY &&
	FAKE_URL=$(cat kill.url) && export FAKE_URL && rm -rf examples/state &&
	{ RX_KILL_AT=rx-push:sent:3 sh -e try.sh 2>/dev/null; test $? != 0; } &&
	test_grep "killed at sent" examples/state/pagerduty.dead-letters.ndjson &&
	sh -e try.sh && model >expect && held kill >got && test_cmp expect got
'

test_done
