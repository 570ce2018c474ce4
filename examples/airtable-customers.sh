#!/bin/bash
# examples/airtable-customers.sh - the customer model mirrored into an
# Airtable table: upserted, matched on its "Customer ID" field, and
# deleted by the Airtable record id (rx keeps it from the upsert's ack)
# when the customer leaves the model.
#
#   AIRTABLE_TOKEN=pat… AIRTABLE_BASE_ID=app… AIRTABLE_TABLE=Customers AIRTABLE_MERGE_ON="Customer ID" ./airtable-customers.sh
#
# docs/destinations/airtable-upsert.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/airtable.jq \
| rx-diff --state "$STATE_DIR/airtable.db" --key "Customer ID" --mode mirror --profile airtable-upsert \
| rx-batch --profile airtable-upsert \
| rx-push --profile airtable-upsert 2>>"$STATE_DIR/airtable.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/airtable.db" --commit
