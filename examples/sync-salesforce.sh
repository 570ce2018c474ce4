#!/bin/bash
# examples/sync-salesforce.sh - the customer model into Salesforce Contacts,
# mirror mode.  Contacts are upserted by the external id field
# Warehouse_Id__c (the sync key), 200 a request; Salesforce answers each
# with its Id, which rx keeps and deletes by when a customer leaves the
# model.
#
#   SALESFORCE_URL=https://MyDomain.my.salesforce.com SALESFORCE_TOKEN=00D... ./sync-salesforce.sh
#   (or SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, SALESFORCE_REFRESH_TOKEN: tokens refreshed)
#   ./sync-salesforce.sh --dry-run --limit 3        what it would send; nothing changes
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${SALESFORCE_URL:?set SALESFORCE_URL to the instance URL, https://MyDomain.my.salesforce.com}"
profile=${SALESFORCE_PROFILE:-salesforce}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/salesforce.jq \
| rx-diff --state "$STATE_DIR/salesforce.db" --key Warehouse_Id__c --mode mirror --profile "$profile" $preview \
| rx-batch --profile "$profile" \
| if [ -n "$try" ]; then
	rx-push --profile "$profile" --url "$SALESFORCE_URL" --dry-run "$@"
  else
	rx-push --profile "$profile" --url "$SALESFORCE_URL" "$@" 2>>"$STATE_DIR/salesforce.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/salesforce.db" --commit
  fi
