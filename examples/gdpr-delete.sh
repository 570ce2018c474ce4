#!/bin/bash
# examples/gdpr-delete.sh - erasure requests as tombstones: every row of
# the model is a key to delete at the destination (rx-diff --mode delete).
# A key already deleted (and acked) is not sent again.
#
#   WAREHOUSE=warehouse.db APP_DB=app.db STATE_DIR=state ./gdpr-delete.sh
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} APP_DB=${APP_DB:-app.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/gdpr_requests.sql \
| rx-diff --state "$STATE_DIR/gdpr.db" --key id --mode delete \
| rx-batch --profile sqlite \
| rx-push --profile sqlite --url "$APP_DB" --table customers --key id 2>>"$STATE_DIR/gdpr.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/gdpr.db" --commit
