#!/bin/bash
# examples/sync-pipedrive.sh - customers into Pipedrive persons, mirror
# mode, one person a request (Pipedrive has no batch write).  A person is
# found by e-mail the first time and written by its Pipedrive id after;
# persons that leave the model are deleted by id.  A new sync of a large
# model is slow by Pipedrive's design (20 requests per 2 s on Essential):
# SYNC_LIMIT takes the first N customers (the example takes 40).
#
#   PIPEDRIVE_TOKEN=... ./sync-pipedrive.sh
#   ./sync-pipedrive.sh --dry-run --limit 3        what it would send; nothing changes
#   PIPEDRIVE_URL=http://127.0.0.1:8080 ...        another address (a test server)
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${PIPEDRIVE_TOKEN:?set PIPEDRIVE_TOKEN to your API token (Settings, Personal preferences, API)}"
url=${PIPEDRIVE_URL:+--url $PIPEDRIVE_URL}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query "select * from customer_model order by id limit ${SYNC_LIMIT:-40}" \
| rx-map -f mappings/pipedrive.jq \
| rx-diff --state "$STATE_DIR/pipedrive.db" --key _rx_id --mode mirror --profile pipedrive-persons $preview \
| rx-batch --profile pipedrive-persons \
| if [ -n "$try" ]; then
	rx-push --profile pipedrive-persons $url --dry-run "$@"
  else
	rx-push --profile pipedrive-persons $url "$@" 2>>"$STATE_DIR/pipedrive.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/pipedrive.db" --commit
  fi
