#!/bin/bash
# examples/teams-alerts.sh - the churn-risk alerts of slack-alerts.sh, as
# Adaptive Cards in a Microsoft Teams channel (a classic incoming
# webhook, or a Workflows "When a Teams webhook request is received"
# URL), in mirror mode: a customer who leaves the model gets a
# "resolved" card.
#
#   TEAMS_WEBHOOK_URL='https://….webhook.office.com/webhookb2/…' ./teams-alerts.sh
#
# docs/destinations/teams-webhook.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
: "${TEAMS_WEBHOOK_URL:?set TEAMS_WEBHOOK_URL to the URL of the webhook}"
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/churn_audience.sql \
| rx-map -f mappings/churn-alert.jq \
| rx-diff --state "$STATE_DIR/teams.db" --key id --mode mirror --profile teams-webhook \
| rx-batch --profile teams-webhook \
| rx-push --profile teams-webhook 2>>"$STATE_DIR/teams.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/teams.db" --commit
