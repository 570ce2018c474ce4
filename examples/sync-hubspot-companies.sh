#!/bin/bash
# examples/sync-hubspot-companies.sh - the accounts model (a company a country)
# into HubSpot companies, mirror mode.  The sync key is the country;
# HubSpot finds a company by its domain the first time, and by its own id
# from then on.  Companies that leave the model are archived.
#
#   HUBSPOT_TOKEN=pat-... WAREHOUSE=warehouse.db STATE_DIR=state ./sync-hubspot-companies.sh
#   ./sync-hubspot-companies.sh --dry-run --limit 3        what it would send; nothing changes
#   HUBSPOT_URL=http://127.0.0.1:8080 ...        another address (a test server)
#   HUBSPOT_PROFILE=./my-profile.json ...        a copy of the profile (hubspot-objects)
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${HUBSPOT_TOKEN:?set HUBSPOT_TOKEN to the token of a private app with crm.objects.companies.read and .write}"
profile=${HUBSPOT_PROFILE:-hubspot-companies}
name=$(basename "$profile" .json)   # its state and dead letters
url=${HUBSPOT_URL:+--url $HUBSPOT_URL}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/accounts.sql \
| rx-map -f mappings/hubspot-company.jq \
| rx-diff --state "$STATE_DIR/$name.db" --key country --mode mirror --profile "$profile" $preview \
| rx-batch --profile "$profile" \
| if [ -n "$try" ]; then
	rx-push --profile "$profile" $url --dry-run "$@"
  else
	rx-push --profile "$profile" $url "$@" 2>>"$STATE_DIR/$name.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/$name.db" --commit
  fi
