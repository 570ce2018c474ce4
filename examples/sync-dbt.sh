#!/bin/bash
# examples/sync-dbt.sh - the dbt model rx_customers (examples/dbt) into the
# application database, mirror mode.  rx-extract finds the model's
# relation in dbt/target/manifest.json (written by dbt parse, run or
# build) and reads it; the exposure app_customers_sync in
# dbt/models/exposures.yml names this sync.
#
#   WAREHOUSE=warehouse.db APP_DB=app.db STATE_DIR=state ./sync-dbt.sh
#
# Without dbt installed, the view that `dbt run` would build is made from
# the model's SQL here (the model uses no Jinja, so its SQL is the view's).
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} APP_DB=${APP_DB:-app.db} STATE_DIR=${STATE_DIR:-state}

if command -v dbt >/dev/null 2>&1; then
	(cd dbt && dbt run --profiles-dir . --select rx_customers >&2)
else
	sqlite3 "$WAREHOUSE" "CREATE VIEW IF NOT EXISTS rx_customers AS $(grep -v '^--' dbt/models/rx_customers.sql)"
fi

mkdir -p "$STATE_DIR"
rx-extract --sqlite "$WAREHOUSE" --dbt-model rx_customers --dbt-project dbt \
| rx-map -f mappings/app.jq \
| rx-diff --state "$STATE_DIR/app-dbt.db" --key id --mode mirror --profile sqlite --count-record \
| rx-batch --profile sqlite \
| rx-push --profile sqlite --url "$APP_DB" --table customers --key id "$@" 2>>"$STATE_DIR/app-dbt.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/app-dbt.db" --commit
