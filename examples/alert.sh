#!/bin/bash
# examples/alert.sh - tell Slack and PagerDuty about every sync that is not
# healthy: never succeeded, stale (no success for MAX_AGE), its last run
# aborted or failed, or more than MAX_ERROR_RATE of its rows or changes
# dead-lettered (rx-diff --health).  The alerts are sent by rx-push itself,
# so they get its retries, rate limits and dead letters.
#
#   ./alert.sh [STATE|DIR...]        (default: $STATE_DIR, i.e. state/)
#   make -C examples alert           the same, from the Makefile
#   systemd: rx-sync.service has OnFailure=rx-alert.service, which runs it
#
# Environment:
#   SLACK_WEBHOOK_URL    a Slack incoming webhook (none: no Slack alert)
#   PAGERDUTY_URL        PagerDuty's Events API v2 endpoint, or a relay
#                        (none: no page)
#   SLACK_PROFILE, PAGERDUTY_PROFILE
#                        the rx-push profiles (default: webhook).  Until
#                        rx ships slack and pagerduty profiles, the webhook
#                        profile is used: it posts rx's webhook contract,
#                        {"op":"upsert","records":[{"key","hash","op","row"}]},
#                        whose row is the Slack message ({"text":...}) or the
#                        PagerDuty event ({"event_action","dedup_key",
#                        "payload":{...}}); a relay (or a Slack workflow)
#                        takes records[0].row.  A profile whose body is the
#                        row posts it as the vendor expects.
#   RX_WEBHOOK_TOKEN     the webhook profile's bearer token, if the receiver
#                        wants one (PagerDuty's routing key goes in the
#                        pagerduty profile, from the environment, never here)
#   MAX_AGE              stale after this long without a success (default 2h)
#   MAX_ERROR_RATE       (default 0.05)
#
# Exit: 0 every sync healthy (nothing sent), 1 alerts were sent for the
# unhealthy ones, or rx-push's status when an alert could not be sent.
set -u -o pipefail
cd "$(dirname "$0")"
STATE_DIR=${STATE_DIR:-state}
[ $# -gt 0 ] || set -- "$STATE_DIR"

health=$(rx-diff --health --json --max-age "${MAX_AGE:-2h}" --max-error-rate "${MAX_ERROR_RATE:-0.05}" "$@")
case $? in
0) exit 0 ;;
1) ;;
*) exit 1 ;;
esac

host=$(hostname)
# one change per unhealthy sync: key the sync, hash the problem (a repeat
# of the same alert carries the same Idempotency-Key)
changes () {
	jq -c --arg host "$host" --arg to "$1" '
		select(.healthy == false)
		| .status as $s
		| ("rx sync \($s.sync) (\($s.destination // "no destination")) is unhealthy: \(.problems)") as $text
		| {op: "upsert", key: $s.sync,
		   row: (if $to == "slack" then {text: $text}
		         else {event_action: "trigger", dedup_key: "rx-\($s.sync)",
		               payload: {summary: $text, source: $host, severity: "error", component: $s.sync,
		                         custom_details: $s}} end)}' |
	while IFS= read -r change; do
		hash=$(printf '%s' "$change" | sha256sum | cut -c1-64)
		printf '%s\n' "$change" | jq -c --arg hash "$hash" '. + {hash: $hash}'
	done
}

status=1
if [ -n "${SLACK_WEBHOOK_URL:-}" ]; then
	printf '%s\n' "$health" | changes slack |
	rx-push --profile "${SLACK_PROFILE:-webhook}" --url "$SLACK_WEBHOOK_URL" >/dev/null || status=$?
fi
if [ -n "${PAGERDUTY_URL:-}" ]; then
	printf '%s\n' "$health" | changes pagerduty |
	rx-push --profile "${PAGERDUTY_PROFILE:-webhook}" --url "$PAGERDUTY_URL" >/dev/null || status=$?
fi
printf '%s\n' "$health" | jq -r 'select(.healthy == false) | "rx alert: \(.status.sync): \(.problems)"' >&2
exit $status
