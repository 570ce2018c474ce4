#!/bin/bash
# examples/sync-salesforce-bulk.sh - the customer model into Salesforce
# Contacts through Bulk API 2.0 ingest jobs, mirror mode: for models large
# enough that 200 records a request (sync-salesforce.sh) costs too many
# API requests.  One job a batch of up to 10,000 contacts, upserted by the
# external id field Warehouse_Id__c (the sync key); a contact is acked
# when the job applied it, with its Salesforce Id, which rx keeps and
# deletes by when a customer leaves the model.
#
#   SALESFORCE_URL=https://MyDomain.my.salesforce.com SALESFORCE_TOKEN=00D... ./sync-salesforce-bulk.sh
#   (or SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, SALESFORCE_REFRESH_TOKEN: tokens refreshed)
#   ./sync-salesforce-bulk.sh --dry-run --limit 3   what it would send (each job's create); nothing changes
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${SALESFORCE_URL:?set SALESFORCE_URL to the instance URL, https://MyDomain.my.salesforce.com}"
profile=${SALESFORCE_PROFILE:-salesforce-bulk}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/salesforce.jq \
| rx-diff --state "$STATE_DIR/salesforce-bulk.db" --key Warehouse_Id__c --mode mirror --profile "$profile" $preview \
| rx-batch --profile "$profile" \
| if [ -n "$try" ]; then
	rx-push --profile "$profile" --url "$SALESFORCE_URL" --dry-run "$@"
  else
	rx-push --profile "$profile" --url "$SALESFORCE_URL" "$@" 2>>"$STATE_DIR/salesforce-bulk.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/salesforce-bulk.db" --commit
  fi
