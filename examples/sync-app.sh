#!/bin/bash
# examples/sync-app.sh - the customer model into the application database
# (SQLite), mirror mode: new and changed customers upserted, customers gone
# from the model deleted.
#
#   WAREHOUSE=warehouse.db APP_DB=app.db STATE_DIR=state ./sync-app.sh
#   ./sync-app.sh --dry-run [--limit N]   what it would send; nothing changes
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} APP_DB=${APP_DB:-app.db} STATE_DIR=${STATE_DIR:-state}
try=
if [ "${1:-}" = --dry-run ]; then try=1; shift; fi

if [ -n "$try" ]; then
	# the changes a run would emit (no run opened, the state untouched) and
	# the requests rx-push would make of them (nothing sent)
	rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
	| rx-map -f mappings/app.jq \
	| rx-diff --state "$STATE_DIR/app.db" --key id --mode mirror --preview \
	| rx-batch --profile sqlite \
	| rx-push --profile sqlite --url "$APP_DB" --table customers --key id --dry-run "$@"
	exit
fi

mkdir -p "$STATE_DIR"
rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/app.jq \
| rx-diff --state "$STATE_DIR/app.db" --key id --mode mirror --profile sqlite --count-record \
| rx-batch --profile sqlite \
| rx-push --profile sqlite --url "$APP_DB" --table customers --key id "$@" 2>>"$STATE_DIR/app.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/app.db" --commit
