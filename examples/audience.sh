#!/bin/bash
# examples/audience.sh - an audience: customers likely to churn, mirrored
# into the app database's churn_audience table.  Members who leave the
# audience (their risk fell, or they lost their e-mail) are deleted there.
#
#   WAREHOUSE=warehouse.db APP_DB=app.db STATE_DIR=state ./audience.sh
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} APP_DB=${APP_DB:-app.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/churn_audience.sql \
| rx-diff --state "$STATE_DIR/audience.db" --key id --mode mirror --profile sqlite \
| rx-batch --profile sqlite \
| rx-push --profile sqlite --url "$APP_DB" --table churn_audience --key id 2>>"$STATE_DIR/audience.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/audience.db" --commit
