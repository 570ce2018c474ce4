#!/bin/bash
# examples/sync-hubspot.sh - the customer model into HubSpot contacts,
# mirror mode.  The sync key is the warehouse's customer id; HubSpot
# matches a contact by e-mail the first time (a lookup), and by its own
# id from then on: a customer whose e-mail changes updates the same
# contact.  Contacts that leave the model are archived by their ids.
#
#   HUBSPOT_TOKEN=pat-... WAREHOUSE=warehouse.db STATE_DIR=state ./sync-hubspot.sh
#   ./sync-hubspot.sh --dry-run --limit 3        what it would send; nothing changes
#   HUBSPOT_URL=http://127.0.0.1:8080 ...        another address (a test server)
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${HUBSPOT_TOKEN:?set HUBSPOT_TOKEN to the token of a private app with crm.objects.contacts.read and .write}"
url=${HUBSPOT_URL:+--url $HUBSPOT_URL}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/hubspot.jq \
| rx-diff --state "$STATE_DIR/hubspot.db" --key rx_customer_id --mode mirror --profile hubspot-contacts $preview \
| rx-batch --profile hubspot-contacts \
| if [ -n "$try" ]; then
	rx-push --profile hubspot-contacts $url --dry-run "$@"
  else
	rx-push --profile hubspot-contacts $url "$@" 2>>"$STATE_DIR/hubspot.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/hubspot.db" --commit
  fi
