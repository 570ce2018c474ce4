#!/bin/bash
# examples/fanout.sh - one model, two destinations, each with its own
# state: the app database (SQLite) and a webhook.  The model is extracted
# once; each destination diffs it against its own snapshot, so one that
# was down catches up alone next run.
#
#   WEBHOOK_URL=https://hooks.example.com/rx ./fanout.sh
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} APP_DB=${APP_DB:-app.db} STATE_DIR=${STATE_DIR:-state}
: "${WEBHOOK_URL:?set WEBHOOK_URL to the address of the webhook}"
mkdir -p "$STATE_DIR"
rows=$(mktemp "$STATE_DIR/rows.XXXXXX")
trap 'rm -f "$rows"' EXIT

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql | rx-map -f mappings/app.jq >"$rows"

status=0
rx-diff --state "$STATE_DIR/fanout-app.db" --key id --mode mirror <"$rows" \
| rx-batch --profile sqlite \
| rx-push --profile sqlite --url "$APP_DB" --table customers --key id 2>>"$STATE_DIR/fanout-app.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/fanout-app.db" --commit || status=$?

rx-diff --state "$STATE_DIR/fanout-webhook.db" --key id --mode upsert <"$rows" \
| rx-batch --profile webhook \
| rx-push --profile webhook --url "$WEBHOOK_URL" 2>>"$STATE_DIR/fanout-webhook.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/fanout-webhook.db" --commit || status=$?
exit $status
