#!/bin/bash
# examples/sync-klaviyo.sh - the customer model into Klaviyo profiles,
# mirror mode.  Each batch (up to 10,000 profiles) is one bulk import
# job; a record is acked when the job is complete and Klaviyo has not
# named it among its import errors.  Customers that leave the model get
# a data privacy deletion request (by e-mail).
#
#   KLAVIYO_API_KEY=pk_... WAREHOUSE=warehouse.db STATE_DIR=state ./sync-klaviyo.sh
#   ./sync-klaviyo.sh --dry-run --limit 3        what it would send; nothing changes
#   KLAVIYO_URL=http://127.0.0.1:8080 ...        another address (a test server)
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${KLAVIYO_API_KEY:?set KLAVIYO_API_KEY to a private API key with profiles:write}"
url=${KLAVIYO_URL:+--url $KLAVIYO_URL}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/klaviyo.jq \
| rx-diff --state "$STATE_DIR/klaviyo.db" --key external_id --mode mirror --profile klaviyo-profiles $preview \
| rx-batch --profile klaviyo-profiles \
| if [ -n "$try" ]; then
	rx-push --profile klaviyo-profiles $url --dry-run "$@"
  else
	rx-push --profile klaviyo-profiles $url "$@" 2>>"$STATE_DIR/klaviyo.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/klaviyo.db" --commit
  fi
