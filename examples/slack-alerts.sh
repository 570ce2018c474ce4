#!/bin/bash
# examples/slack-alerts.sh - tell a Slack channel when a customer becomes
# likely to churn (mirror mode).  Through the webhook, a changed churn
# score posts a new message and a row that leaves the model posts its
# "resolved_text"; with a bot token (slack-chat), the channel keeps one
# message per customer at risk: a changed score edits it (chat.update),
# a customer no longer at risk has it deleted (chat.delete).
#
#   SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T…/B…/… ./slack-alerts.sh
#   SLACK_BOT_TOKEN=xoxb-… SLACK_CHANNEL=C0123456 ./slack-alerts.sh   (chat.postMessage, chat.update, chat.delete)
#
# docs/destinations/slack-webhook.md and slack-chat.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
if [ -n "${SLACK_BOT_TOKEN:-}" ]; then profile=slack-chat
else : "${SLACK_WEBHOOK_URL:?set SLACK_WEBHOOK_URL (or SLACK_BOT_TOKEN and SLACK_CHANNEL)}"; profile=slack-webhook
fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/churn_audience.sql \
| rx-map -f mappings/churn-alert.jq \
| rx-diff --state "$STATE_DIR/$profile.db" --key id --mode mirror --profile $profile \
| rx-batch --profile $profile \
| rx-push --profile $profile 2>>"$STATE_DIR/$profile.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/$profile.db" --commit
