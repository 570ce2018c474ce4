#!/bin/bash
# examples/sync-attio.sh - customers into Attio people, mirror mode, one
# record a request (Attio has no batch write): each is asserted by the
# unique attribute rx_customer_id, and deleted by its record_id when it
# leaves the model.  SYNC_LIMIT takes the first N customers (default 40).
#
#   ATTIO_TOKEN=... ./sync-attio.sh
#   ./sync-attio.sh --dry-run --limit 3        what it would send; nothing changes
#   ATTIO_URL=http://127.0.0.1:8080 ...        another address (a test server)
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${ATTIO_TOKEN:?set ATTIO_TOKEN to an Attio API key with record read-write access}"
url=${ATTIO_URL:+--url $ATTIO_URL}
profile=${ATTIO_PROFILE:-./attio-people.json}
[ -e "$profile" ] || [ -n "${ATTIO_PROFILE:-}" ] || {
	echo "sync-attio.sh: no $profile: make it from the shipped profile, matching on your unique attribute:" >&2
	echo "  jq '.vars.match = \"rx_customer_id\"' share/rx/destinations/attio-records.json >examples/attio-people.json" >&2
	exit 2
}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query "select * from customer_model order by id limit ${SYNC_LIMIT:-40}" \
| rx-map -f mappings/attio.jq \
| rx-diff --state "$STATE_DIR/attio.db" --key rx_customer_id --mode mirror --profile "$profile" $preview \
| rx-batch --profile "$profile" \
| if [ -n "$try" ]; then
	rx-push --profile "$profile" $url --dry-run "$@"
  else
	rx-push --profile "$profile" $url "$@" 2>>"$STATE_DIR/attio.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/attio.db" --commit
  fi
