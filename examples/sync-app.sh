#!/bin/bash
# examples/sync-app.sh - the customer model into the application database
# (SQLite), mirror mode: new and changed customers upserted, customers gone
# from the model deleted.
#
#   WAREHOUSE=warehouse.db APP_DB=app.db STATE_DIR=state ./sync-app.sh
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} APP_DB=${APP_DB:-app.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/app.jq \
| rx-diff --state "$STATE_DIR/app.db" --key id --mode mirror \
| rx-batch --profile sqlite \
| rx-push --profile sqlite --url "$APP_DB" --table customers --key id 2>>"$STATE_DIR/app.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/app.db" --commit
