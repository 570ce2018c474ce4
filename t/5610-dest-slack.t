#!/bin/sh
# Slack: the slack-webhook and slack-chat profiles against the Slack fakes
# (t/fake/fake-saas.py --vendor slack-webhook | slack-api): success, a
# refused message, throttling, a refused URL or token, deletes as
# "resolved" messages (webhook) or chat.delete (slack-chat, whose changed
# rows edit their message by the CHANNEL:TS an ack carried), a kill in
# the middle, a whole sync twice with changes and deletes, and the
# command of each page.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

cat >changes.ndjson <<'IN'
{"op":"upsert","key":"C1","hash":"h1","row":{"id":"C1","text":"Churn risk 91%: Ada <ada@example.com>"}}
{"op":"upsert","key":"C2","hash":"h2","row":{"id":"C2","text":"Churn risk 80%: Bo <not-an-email>"}}
{"op":"upsert","key":"C3","hash":"h3","row":{"id":"C3","email":"cy@example.com","plan":"pro"}}
{"op":"delete","key":"C4","hash":"h4","row":{"id":"C4","text":"Churn risk 75%: Di","resolved_text":"No longer at risk: Di"}}
IN

saas_start hook -- --vendor slack-webhook --token XXXX --log hook.log
HOOK=$(cat hook.url)/services/T000/B000/XXXX

test_expect_success 'webhook: each record is one message; a refused one is dead-lettered' '
	test_expect_code 3 env SLACK_WEBHOOK_URL=$HOOK rx-push --profile slack-webhook <changes.ndjson >acks 2>err &&
	acked acks >got && printf "C1\nC3\nC4\n" >expect && test_cmp expect got &&
	dead err >got && echo C2 >expect && test_cmp expect got &&
	test_grep "\"status\":400" err && test_grep "invalid_payload" err &&
	fake_records hook | cut -f1 >texts &&
	cat >expect <<-\EOF &&
	*C3*
	• id: C3
	• email: cy@example.com
	• plan: pro
	Churn risk 91%: Ada <ada@example.com>
	No longer at risk: Di
	EOF
	test_cmp expect texts &&
	test "$(fake_count hook requests)" = 4
'

test_expect_success 'webhook: the request is the message as JSON, to the URL, nothing else' '
	head -n 1 hook.log >first &&
	test_grep "\"path\": \"/services/T000/B000/XXXX\"" first &&
	test_grep "\"content-type\": \"application/json\"" first &&
	test_grep "\"body\": \"{\\\\\"text\\\\\":\\\\\"Churn risk 91%: Ada <ada@example.com>\\\\\"}\"" first
'

test_expect_success 'webhook: the URL is a secret: a dry run shows ***' '
	SLACK_WEBHOOK_URL=$HOOK rx-push --profile slack-webhook --dry-run <changes.ndjson >dry &&
	test_lines 4 dry && test_grep "\"url\":\"\\*\\*\\*\"" dry &&
	! grep -q XXXX dry
'

test_expect_success 'webhook: without SLACK_WEBHOOK_URL it says so' '
	test_expect_code 1 env -u SLACK_WEBHOOK_URL rx-push --profile slack-webhook <changes.ndjson >acks 2>err &&
	test_grep "no base URL: \$SLACK_WEBHOOK_URL is not set (or give --url)" err
'

test_expect_success 'webhook: a refused URL stops the run (exit 1), nothing dead-lettered' '
	test_expect_code 1 env SLACK_WEBHOOK_URL=$(cat hook.url)/services/T000/B000/WRONG \
		rx-push --profile slack-webhook <changes.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	! grep -q "^{" err &&
	test_grep "HTTP 403: the destination refused the credentials (it says: invalid_token)" err &&
	test_grep "left unacked" err &&
	! grep -q WRONG err
'

test_expect_success 'webhook: 429 with Retry-After: waited, sent again, all delivered' '
	saas_start hook2 -- --vendor slack-webhook --token XXXX --throttle-first 2 &&
	head -n 1 changes.ndjson >one &&
	SLACK_WEBHOOK_URL=$(cat hook2.url)/services/T000/B000/XXXX rx-push --profile slack-webhook <one >acks 2>err &&
	test_lines 1 acks &&
	test "$(fake_count hook2 throttled)" = 2 &&
	test "$(fake_count hook2 violations)" = 0
'

test_expect_success 'webhook: at the documented 1 message a second, no 429' '
	saas_start hook3 -- --vendor slack-webhook --token XXXX --rate 1/1 &&
	for i in 1 2 3 4; do
		echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h\",\"row\":{\"text\":\"message $i\"}}"
	done >four &&
	SLACK_WEBHOOK_URL=$(cat hook3.url)/services/T000/B000/XXXX rx-push --profile slack-webhook <four >acks 2>err &&
	test_lines 4 acks &&
	test "$(fake_count hook3 throttled)" = 0
'

# The example sync, as a user runs it, on a small warehouse.
dest_examples 10
model_texts () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/churn_audience.sql |
	rx-map -f examples/mappings/churn-alert.jq | rows_of - | jq -r .text
}

test_expect_success 'the page command: a working sync against the fake' '
	saas_start page -- --vendor slack-webhook --token XXXX &&
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try slack-webhook >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model_texts | sort >expect && fake_records page | cut -f1 >got &&
	test_cmp expect got && test_lines 3 got
'

test_expect_success 'a second run with changes and deletes: one message per change' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	fake_records page | cut -f1 >before &&
	sqlite3 examples/warehouse.db "
		UPDATE churn_scores SET churn_risk = 0.99 WHERE customer_id = \"C00001\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\";
		UPDATE churn_scores SET churn_risk = 0.95 WHERE customer_id = \"C00004\"" &&
	sh -e try.sh &&
	{ cat before; model_texts; echo "No longer at risk: Zoë <user2@example.com>"; } | sort -u >expect &&
	fake_records page | cut -f1 >got &&
	test_cmp expect got &&
	test "$(fake_count page requests)" = 6 &&
	sh -e try.sh && test "$(fake_count page requests)" = 6
'

test_expect_success 'killed after a send, the next run posts what is missing' '
	saas_start kill -- --vendor slack-webhook --token XXXX &&
	FAKE_URL=$(cat kill.url) && export FAKE_URL &&
	rm -rf examples/state &&
	{ RX_KILL_AT=rx-push:sent:2 sh -e try.sh 2>kill.err; test $? != 0; } &&
	test_grep "killed at sent" examples/state/slack-webhook.dead-letters.ndjson &&
	test "$(fake_count kill requests)" -lt 3 &&
	sh -e try.sh &&
	model_texts | sort >expect && fake_records kill | cut -f1 >got &&
	test_cmp expect got
'

# chat.postMessage, chat.update, chat.delete
saas_start chat -- --vendor slack-api --token xoxb-test --log chat.log
chat () {
	chat_url=$(cat "$1.url")
	shift
	env SLACK_BOT_TOKEN=xoxb-test SLACK_CHANNEL=C0123 SLACK_API_URL=$chat_url rx-push --profile slack-chat "$@"
}

test_expect_success 'chat: form-encoded messages; the ack carries CHANNEL:TS; a refused one, a delete without an id are dead-lettered' '
	test_expect_code 3 env SLACK_BOT_TOKEN=xoxb-test SLACK_CHANNEL=C0123 SLACK_API_URL=$(cat chat.url) \
		rx-push --profile slack-chat <changes.ndjson >acks 2>err &&
	acked acks >got && printf "C1\nC3\n" >expect && test_cmp expect got &&
	grep "\"key\":\"C1\"" acks >c1 && test_grep "\"id\":\"C0123:[0-9]*\.[0-9]*\"" c1 &&
	dead err >got && printf "C2\nC4\n" >expect && test_cmp expect got &&
	test_grep "Slack refused the message: invalid_blocks" err &&
	test_grep "\"status\":200" err &&
	test_grep "delete needs the record.s id at the destination" err &&
	fake_records chat | cut -f1 >keys && printf "C1\nC3\n" >expect && test_cmp expect keys
'

test_expect_success 'chat: the request: bearer and token headers, channel, text, metadata' '
	head -n 1 chat.log >first &&
	test_grep "\"authorization\": \"Bearer xoxb-test\"" first &&
	test_grep "\"token\": \"xoxb-test\"" first &&
	test_grep "application/x-www-form-urlencoded" first &&
	test_grep "channel=C0123&text=Churn%20risk%2091%25%3A%20Ada%20%3Cada%40example.com%3E&metadata=%7B%22event_type%22%3A%22rx_row%22" first
'

test_expect_success 'chat: an upsert with an id edits its message in place (chat.update, channel and ts from the id)' '
	id=$(grep "\"key\":\"C1\"" acks | jq -r .id) && ts=${id#C0123:} &&
	jq -c --arg id "$id" "{op:\"upsert\",key:\"C1\",hash:\"h9\",id:\$id,row:{id:\"C1\",text:\"Churn risk 99%: Ada\"}}" -n >edit &&
	chat chat <edit >acks2 2>err &&
	jq -c "{key,id}" acks2 >got && echo "{\"key\":\"C1\",\"id\":\"$id\"}" >expect && test_cmp expect got &&
	tail -n 1 chat.log >last &&
	test_grep "\"path\": \"/chat.update\"" last &&
	test_grep "\"body\": \"channel=C0123&ts=$ts&text=Churn%20risk%2099%25%3A%20Ada&blocks=%5B%5D&attachments=%5B%5D\"" last &&
	fake_records chat >recs && grep "^C1	" recs | cut -f2 | jq -r .text >got &&
	echo "Churn risk 99%: Ada" >expect && test_cmp expect got &&
	test "$(fake_state chat | jq ".messages | length")" = 2
'

test_expect_success 'chat: a delete removes its message (chat.delete); one already gone acks; an edit of a gone one is a dead letter' '
	id=$(grep "\"key\":\"C3\"" acks | jq -r .id) &&
	jq -c --arg id "$id" -n "{op:\"delete\",key:\"C3\",hash:\"h3\",id:\$id,row:{id:\"C3\"}}" >del &&
	chat chat <del >acks3 2>err && acked acks3 >got && echo C3 >expect && test_cmp expect got &&
	tail -n 1 chat.log | jq -r .path >got && echo /chat.delete >expect && test_cmp expect got &&
	fake_records chat | cut -f1 >keys && echo C1 >expect && test_cmp expect keys &&
	chat chat <del >acks4 2>err && acked acks4 >got && echo C3 >expect && test_cmp expect got &&
	jq -c --arg id "$id" -n "{op:\"upsert\",key:\"C3\",hash:\"h8\",id:\$id,row:{id:\"C3\",text:\"back\"}}" >gone &&
	test_expect_code 3 chat chat <gone >acks5 2>err && test_must_be_empty acks5 &&
	dead err >got && echo C3 >expect && test_cmp expect got &&
	test_grep "message_not_found: the message $id was deleted in Slack; it is not posted again" err &&
	fake_records chat | cut -f1 >keys && echo C1 >expect && test_cmp expect keys
'

test_expect_success 'chat: an id of a ts alone (an older ack) is a message in the row'"'"'s channel' '
	id=$(grep "\"key\":\"C1\"" acks | jq -r .id) &&
	jq -c --arg ts "${id#C0123:}" -n "{op:\"update\",key:\"C1\",hash:\"h7\",id:\$ts,row:{id:\"C1\",text:\"old id\"}}" >old &&
	chat chat <old >acks6 2>err && test_lines 1 acks6 &&
	fake_records chat | grep "^C1	" | cut -f2 | jq -r .text >got && echo "old id" >expect && test_cmp expect got
'

test_expect_success 'chat: a refused token stops the run with exit 1' '
	head -n 3 changes.ndjson >three &&
	test_expect_code 1 env SLACK_BOT_TOKEN=xoxb-wrong SLACK_CHANNEL=C0123 SLACK_API_URL=$(cat chat.url) \
		rx-push --profile slack-chat <three >acks 2>err &&
	test_must_be_empty acks && test_grep "refused the credentials (it says: invalid_auth)" err &&
	! grep -q "^{" err && ! grep -q xoxb-wrong err
'

test_expect_success 'chat: ratelimited (429, Retry-After): waited and sent again' '
	saas_start chat2 -- --vendor slack-api --token xoxb-test --throttle-first 1 &&
	head -n 1 changes.ndjson >one &&
	SLACK_BOT_TOKEN=xoxb-test SLACK_CHANNEL=C0123 SLACK_API_URL=$(cat chat2.url) \
		rx-push --profile slack-chat <one >acks 2>err &&
	test_lines 1 acks && test "$(fake_count chat2 throttled)" = 1 && test "$(fake_count chat2 violations)" = 0
'

# the channel as the fake holds it: one message per key, its text
chat_texts () {
	fake_records "$1" | cut -f2 | jq -r .text | sort
}
test_expect_success 'chat: the page command (mirror sync of the example) against the fake' '
	saas_start chatpage -- --vendor slack-api --token xoxb-test &&
	FAKE_URL=$(cat chatpage.url) && export FAKE_URL &&
	rm -rf examples/state &&
	dest_examples 10 &&
	dest_try slack-chat >try-chat.sh && test_lines 1 try-chat.sh &&
	sh -e try-chat.sh &&
	model_texts | sort >expect && chat_texts chatpage >got && test_cmp expect got && test_lines 3 got
'

test_expect_success 'chat: a second run with changes and deletes: messages edited, deleted, posted; the channel equals the model' '
	FAKE_URL=$(cat chatpage.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE churn_scores SET churn_risk = 0.99 WHERE customer_id = \"C00001\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\";
		UPDATE churn_scores SET churn_risk = 0.95 WHERE customer_id = \"C00004\"" &&
	n=$(fake_count chatpage requests) &&
	sh -e try-chat.sh &&
	model_texts | sort >expect && chat_texts chatpage >got && test_cmp expect got &&
	! grep -q "^{" examples/state/slack-chat.dead-letters.ndjson &&
	test "$(fake_state chatpage | jq ".messages | length")" = 4 &&
	test "$(fake_count chatpage requests)" = $((n + 3)) &&
	sh -e try-chat.sh && test "$(fake_count chatpage requests)" = $((n + 3))
'

# A post whose reply the kill lost is posted again (not idempotent: at most
# one copy more, never a message missing); the rows' messages equal the model.
test_expect_success 'chat: killed after a send, the next runs make the channel equal the model' '
	saas_start chatkill -- --vendor slack-api --token xoxb-test &&
	FAKE_URL=$(cat chatkill.url) && export FAKE_URL &&
	rm -rf examples/state &&
	{ RX_KILL_AT=rx-push:sent:2 sh -e try-chat.sh 2>kill.err; test $? != 0; } &&
	test_grep "killed at sent" examples/state/slack-chat.dead-letters.ndjson &&
	sh -e try-chat.sh &&
	model_texts | sort >expect && chat_texts chatkill >got && test_cmp expect got &&
	test "$(fake_state chatkill | jq ".messages | length")" -le 4 &&
	sqlite3 examples/warehouse.db "UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00001\"" &&
	sh -e try-chat.sh &&
	model_texts | sort >expect && chat_texts chatkill >got && test_cmp expect got
'

# Killed after Slack answered a post (the message is in the channel, its
# ack lost): the next run posts it again.  The rows' messages equal the
# model, and the first copy stays, unknown to rx (the page says so).
test_expect_success 'chat: killed after a post was answered: posted again, one orphan copy in the channel' '
	saas_start chatkill2 -- --vendor slack-api --token xoxb-test &&
	FAKE_URL=$(cat chatkill2.url) && export FAKE_URL &&
	rm -rf examples/state &&
	{ RX_KILL_AT=rx-push:replied:2 sh -e try-chat.sh 2>kill.err; test $? != 0; } &&
	test "$(fake_state chatkill2 | jq ".messages | length")" = 2 &&
	sh -e try-chat.sh &&
	model_texts | sort >expect && chat_texts chatkill2 >got && test_cmp expect got &&
	test "$(fake_state chatkill2 | jq ".messages | length")" = $(($(wc -l <expect) + 1))
'

test_done
