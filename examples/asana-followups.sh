#!/bin/bash
# examples/asana-followups.sh - an Asana task for each customer at risk
# of churning, kept up to date, and deleted when the customer asks to be
# erased.  Asana addresses each task by its external gid (the customer
# id), so no Asana gid is stored; the three passes are three states:
#   insert  a task for each customer new to the model
#   update  the task of each customer whose row changed
#   delete  the task of each customer in gdpr_requests (tombstones)
#
#   ASANA_TOKEN=… ASANA_PROJECT=1200… ./asana-followups.sh
#
# docs/destinations/asana-tasks.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"
rows=$(mktemp "$STATE_DIR/asana.XXXXXX")
trap 'rm -f "$rows"' EXIT

rx-extract --sqlite "$WAREHOUSE" --query-file models/churn_audience.sql | rx-map -f mappings/asana-task.jq >"$rows"

for mode in insert update; do
	rx-diff --state "$STATE_DIR/asana-$mode.db" --key id --mode $mode <"$rows" \
	| rx-batch --profile asana-tasks \
	| rx-push --profile asana-tasks 2>>"$STATE_DIR/asana.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/asana-$mode.db" --commit
done

rx-extract --sqlite "$WAREHOUSE" --query-file models/gdpr_requests.sql \
| rx-diff --state "$STATE_DIR/asana-delete.db" --key id --mode delete \
| rx-batch --profile asana-tasks \
| rx-push --profile asana-tasks 2>>"$STATE_DIR/asana.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/asana-delete.db" --commit
