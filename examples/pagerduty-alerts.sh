#!/bin/bash
# examples/pagerduty-alerts.sh - the churn-risk audience as PagerDuty
# alerts: a customer entering the model triggers one (dedup_key = the
# customer id; critical above 90% risk), a customer leaving it resolves
# it (mirror mode).
#
#   PAGERDUTY_ROUTING_KEY=… ./pagerduty-alerts.sh
#
# docs/destinations/pagerduty-events.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
: "${PAGERDUTY_ROUTING_KEY:?set PAGERDUTY_ROUTING_KEY to the integration key of an Events API v2 service}"
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/churn_audience.sql \
| rx-map -f mappings/churn-alert.jq \
| rx-diff --state "$STATE_DIR/pagerduty.db" --key id --mode mirror --profile pagerduty-events \
| rx-batch --profile pagerduty-events \
| rx-push --profile pagerduty-events 2>>"$STATE_DIR/pagerduty.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/pagerduty.db" --commit
