#!/bin/sh
# slack-chat against Slack's own OpenAPI document (Stoplight Prism, via
# t/lib-prism.sh): every request rx-push builds for the profile, for
# every op (chat.postMessage, chat.update and chat.delete, by the
# CHANNEL:TS an ack carries or a ts alone) and for awkward rows (unicode,
# big numbers, nulls, empty strings, blocks, a long text), must validate.  Slack's spec covers
# only the Web API, form-encoded (the webhook is not in it).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"

prism_start slack-web.json || exit 1

cat >awkward.ndjson <<'IN'
{"op":"upsert","key":"C1","hash":"h1","row":{"id":"C1","text":"Churn risk 91%: Zoë Ólafsdóttir 李 Иванова <ada+tag@example.com> & <@U123> 🚀"}}
{"op":"insert","key":"C2","hash":"h2","row":{"id":"C2","ltv":"12345678901234567890","score":0.1234567890123456,"orders":0,"vip":false}}
{"op":"update","key":"C3","hash":"h3","id":"C0123456:1503435956.000247","row":{"id":"C3","text":null,"email":null,"plan":""}}
{"op":"upsert","key":"C4","hash":"h4","row":{"id":"C4","text":"","channel":"C0SPECIAL"}}
{"op":"upsert","key":"C5","hash":"h5","id":"1503435956.000248","row":{"id":"C5","text":"with blocks","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*bold* & more"}}],"unfurl_links":false,"username":"rx"}}
{"op":"delete","key":"C6","hash":"h6","id":"C0123456:1503435956.000249","row":{"id":"C6","text":"Churn risk 75%: Di","resolved_text":"No longer at risk: Di"}}
{"op":"delete","key":"C7","hash":"h7","id":"1503435956.000250","row":{"id":"C7","email":"e@example.com"}}
IN
awk 'BEGIN { printf "{\"op\":\"upsert\",\"key\":\"L1\",\"hash\":\"h\",\"row\":{\"text\":\""; for (i = 0; i < 3900; i++) printf "long text "; print "\"}}" }' >>awkward.ndjson

test_expect_success 'every op and awkward row: each request validates against Slack'"'"'s spec' '
	SLACK_BOT_TOKEN=xoxb-1234-5678-abcdef SLACK_CHANNEL=C0123456 SLACK_API_URL=$PRISM_URL \
		rx-push --profile slack-chat --rate 50/s <awkward.ndjson >acks 2>err &&
	test_lines 8 acks &&
	prism_clean slack-web
'

test_expect_success 'the requests were the ones meant (the dry run of the same input)' '
	SLACK_BOT_TOKEN=xoxb-1234-5678-abcdef SLACK_CHANNEL=C0123456 rx-push --profile slack-chat --dry-run <awkward.ndjson >dry &&
	test_lines 8 dry &&
	grep "%22key%22%3A%22C2%22" dry >c2 &&
	test_grep "ltv%3A%2012345678901234567890%0A%E2%80%A2%20score%3A%200.1234567890123456%0A%E2%80%A2%20orders%3A%200%0A%E2%80%A2%20vip%3A%20false&" c2 &&
	test_grep "text=%2AC3%2A%0A%E2%80%A2%20id%3A%20C3%0A%E2%80%A2%20email%3A%20null%0A%E2%80%A2%20plan%3A%20&" dry &&
	test_grep "channel=C0SPECIAL&text=%2AC4%2A%0A%E2%80%A2%20id%3A%20C4&" dry &&
	test_grep "\"url\":\"https://slack.com/api/chat.update\".*\"body\":\"channel=C0123456&ts=1503435956.000247&text=" dry &&
	test_grep "\"body\":\"channel=C0123456&ts=1503435956.000248&text=with%20blocks&blocks=%5B%7B%22type%22" dry &&
	test_grep "\"url\":\"https://slack.com/api/chat.delete\".*\"body\":\"channel=C0123456&ts=1503435956.000249\"" dry &&
	test_grep "\"body\":\"channel=C0123456&ts=1503435956.000250\"" dry
'

test_done
