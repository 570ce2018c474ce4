#!/bin/bash
# examples/sheets-customers.sh - every new customer appended as a row of
# a Google Sheet (insert mode: a row is never rewritten, and a customer
# who changes is not appended again).  Auth: a service account's key
# file, the sheet shared with its client_email as an editor.
#
#   GOOGLE_APPLICATION_CREDENTIALS=sa.json SHEETS_SPREADSHEET_ID=1BxiM… SHEETS_RANGE=Customers ./sheets-customers.sh
#
# docs/destinations/google-sheets-append.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/sheet-row.jq \
| rx-diff --state "$STATE_DIR/sheets.db" --key id --mode insert \
| rx-batch --profile google-sheets-append \
| rx-push --profile google-sheets-append 2>>"$STATE_DIR/sheets.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/sheets.db" --commit
