#!/bin/bash
# examples/sync-hubspot-deals.sh - the orders of a month into HubSpot deals, mirror mode.
# The sync key is the order id, sent as the deal property rx_deal_id
# (unique values); HubSpot finds a deal by it the first time, and by its
# own id from then on.  Deals of orders that leave the model are archived.
#
#   HUBSPOT_TOKEN=pat-... WAREHOUSE=warehouse.db STATE_DIR=state ./sync-hubspot-deals.sh
#   ./sync-hubspot-deals.sh --dry-run --limit 3        what it would send; nothing changes
#   HUBSPOT_URL=http://127.0.0.1:8080 ...        another address (a test server)
#   HUBSPOT_PROFILE=./my-profile.json ...        a copy of the profile (hubspot-objects)
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${HUBSPOT_TOKEN:?set HUBSPOT_TOKEN to the token of a private app with crm.objects.deals.read and .write}"
profile=${HUBSPOT_PROFILE:-hubspot-deals}
name=$(basename "$profile" .json)   # its state and dead letters
url=${HUBSPOT_URL:+--url $HUBSPOT_URL}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/deals.sql \
| rx-map -f mappings/hubspot-deal.jq \
| rx-diff --state "$STATE_DIR/$name.db" --key rx_deal_id --mode mirror --profile "$profile" $preview \
| rx-batch --profile "$profile" \
| if [ -n "$try" ]; then
	rx-push --profile "$profile" $url --dry-run "$@"
  else
	rx-push --profile "$profile" $url "$@" 2>>"$STATE_DIR/$name.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/$name.db" --commit
  fi
