#!/bin/bash
# examples/sheets-mirror.sh - a Google Sheet that mirrors the customers:
# one row per customer (mapped by mappings/sheet-row.jq, the key in
# column A), rewritten in place when the customer changes, cleared when
# the customer leaves the model (mirror mode).  Auth: a service
# account's key file, the sheet shared with its client_email as an
# editor.  The sheet is rx's: sorting it, or inserting or deleting rows
# by hand, moves rows under the addresses rx keeps.
#
#   GOOGLE_APPLICATION_CREDENTIALS=sa.json SHEETS_SPREADSHEET_ID=1BxiM… SHEETS_SHEET=Customers ./sheets-mirror.sh
#
# docs/destinations/google-sheets-rows.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/sheet-row.jq \
| rx-diff --state "$STATE_DIR/sheets-rows.db" --key id --mode mirror --profile google-sheets-rows \
| rx-batch --profile google-sheets-rows \
| rx-push --profile google-sheets-rows 2>>"$STATE_DIR/sheets-rows.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/sheets-rows.db" --commit
