#!/bin/sh
# Microsoft Teams: the teams-webhook profile against the classic and the
# Workflows fakes (t/fake/fake-saas.py --vendor teams | teams-workflow):
# "1" and 202 ack, a failure inside a 200 is read from its text (a 429 in
# it throttles), a refused URL stops the run, deletes post the resolved
# card, a kill in the middle, a whole sync twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

cat >changes.ndjson <<'IN'
{"op":"upsert","key":"C1","hash":"h1","row":{"id":"C1","text":"Churn risk 91%: Ada <ada@example.com>"}}
{"op":"upsert","key":"C2","hash":"h2","row":{"id":"C2","text":"Churn risk 80%: Bo <not-an-email>"}}
{"op":"upsert","key":"C3","hash":"h3","row":{"id":"C3","email":"cy@example.com","plan":"pro"}}
{"op":"delete","key":"C4","hash":"h4","row":{"id":"C4","text":"Churn risk 75%: Di","resolved_text":"No longer at risk: Di"}}
IN

saas_start teams -- --vendor teams --token XXXX --log teams.log
HOOK=$(cat teams.url)/webhookb2/XXXX

test_expect_success 'classic: 200 "1" acks; a failure inside a 200 dead-letters its card' '
	test_expect_code 3 env TEAMS_WEBHOOK_URL=$HOOK rx-push --profile teams-webhook <changes.ndjson >acks 2>err &&
	acked acks >got && printf "C1\nC3\nC4\n" >expect && test_cmp expect got &&
	dead err >got && echo C2 >expect && test_cmp expect got &&
	test_grep "Teams did not deliver the card: Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 400" err &&
	test_grep "\"status\":200" err &&
	fake_records teams | cut -f1 >texts &&
	printf "C3\nChurn risk 91%%: Ada <ada@example.com>\nNo longer at risk: Di\n" >expect &&
	test_cmp expect texts
'

test_expect_success 'classic: the request is one Adaptive Card 1.4; a row without text lists its facts' '
	sed -n 3p teams.log | jq -r .body | jq -c ".attachments[0] | [.contentType, .content.version, .content.body]" >card &&
	echo "[\"application/vnd.microsoft.card.adaptive\",\"1.4\",[{\"type\":\"TextBlock\",\"text\":\"C3\",\"weight\":\"Bolder\",\"wrap\":true},{\"type\":\"FactSet\",\"facts\":[{\"title\":\"id\",\"value\":\"C3\"},{\"title\":\"email\",\"value\":\"cy@example.com\"},{\"title\":\"plan\",\"value\":\"pro\"}]}]]" >expect &&
	test_cmp expect card
'

test_expect_success 'classic: "HTTP error 429" inside a 200 throttles: every request waits, then sends again' '
	saas_start t2 -- --vendor teams --token XXXX --throttle-first 1 &&
	head -n 1 changes.ndjson >one &&
	TEAMS_WEBHOOK_URL=$(cat t2.url)/webhookb2/XXXX TEAMS_THROTTLE_WAIT=1 rx-push --profile teams-webhook --stats stats <one >acks 2>err &&
	test_lines 1 acks && test "$(fake_count t2 throttled)" = 1 &&
	test "$(jq .throttled stats)" = 1
'

test_expect_success 'classic: a refused URL stops the run with exit 1, nothing dead-lettered' '
	test_expect_code 1 env TEAMS_WEBHOOK_URL=$(cat teams.url)/webhookb2/GONE rx-push --profile teams-webhook <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && ! grep -q "^{" err &&
	test_grep "HTTP 404: the destination refused the credentials" err && ! grep -q GONE err
'

test_expect_success 'classic: a card over 28 KB is dead-lettered before it is sent' '
	awk "BEGIN { printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"BIG\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{\\\"text\\\":\\\"\"; for (i = 0; i < 3000; i++) printf \"0123456789\"; print \"\\\"}}\" }" >big &&
	before=$(fake_count teams requests) &&
	test_expect_code 3 env TEAMS_WEBHOOK_URL=$HOOK rx-push --profile teams-webhook <big >acks 2>err &&
	test_grep "over the profile.s max_bytes of 28000" err &&
	test "$(fake_count teams requests)" = "$before"
'

test_expect_success 'at the documented 4 requests a second, no throttling' '
	saas_start t3 -- --vendor teams --token XXXX --rate 4/1 &&
	for i in 1 2 3 4 5 6 7 8 9 10; do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h\",\"row\":{\"text\":\"card $i\"}}"; done >ten &&
	TEAMS_WEBHOOK_URL=$(cat t3.url)/webhookb2/XXXX rx-push --profile teams-webhook <ten >acks &&
	test_lines 10 acks && test "$(fake_count t3 throttled)" = 0
'

test_expect_success 'Workflows: 202 acks every card, even one the flow will fail (all it can know)' '
	saas_start wf -- --vendor teams-workflow --token s1g &&
	TEAMS_WEBHOOK_URL="$(cat wf.url)/workflows/0a1b2c/triggers/manual/paths/invoke?api-version=1&sig=s1g" \
		rx-push --profile teams-webhook <changes.ndjson >acks 2>err &&
	test_lines 4 acks && test_must_be_empty err &&
	test "$(fake_records wf | wc -l)" = 3 &&
	test_expect_code 1 env TEAMS_WEBHOOK_URL="$(cat wf.url)/workflows/0a1b2c/triggers/manual/paths/invoke?api-version=1&sig=bad" \
		rx-push --profile teams-webhook <changes.ndjson >acks 2>err &&
	test_grep "HTTP 401" err && ! grep -q "sig=bad" err
'

dest_examples 15
model_texts () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/churn_audience.sql |
	rx-map -f examples/mappings/churn-alert.jq | rows_of - | jq -r .text
}
saas_start page -- --vendor teams --token XXXX

test_expect_success 'the page command: a working sync against the fake' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try teams-webhook >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model_texts | sort >expect && fake_records page | cut -f1 >got && test_cmp expect got
'

test_expect_success 'a second run with changes and deletes: a card per change, nothing more' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	fake_records page | cut -f1 >before &&
	sqlite3 examples/warehouse.db "
		UPDATE churn_scores SET churn_risk = 0.99 WHERE customer_id = \"C00001\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\"" &&
	sh -e try.sh &&
	{ cat before; model_texts; echo "No longer at risk: Zoë <user2@example.com>"; } | sort -u >expect &&
	fake_records page | cut -f1 >got && test_cmp expect got &&
	n=$(fake_count page requests) && sh -e try.sh && test "$(fake_count page requests)" = "$n"
'

test_expect_success 'killed after a send, the next run posts what is missing' '
	saas_start kill -- --vendor teams --token XXXX &&
	FAKE_URL=$(cat kill.url) && export FAKE_URL && rm -rf examples/state &&
	{ RX_KILL_AT=rx-push:sent:3 sh -e try.sh 2>/dev/null; test $? != 0; } &&
	test_grep "killed at sent" examples/state/teams.dead-letters.ndjson &&
	sh -e try.sh &&
	model_texts | sort >expect && fake_records kill | cut -f1 >got && test_cmp expect got
'

test_done
