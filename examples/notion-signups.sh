#!/bin/bash
# examples/notion-signups.sh - a page in a Notion database for every new
# customer (insert mode: a page is created once; updating it needs its
# page id, see the page).  The database is shared with the integration.
#
#   NOTION_TOKEN=secret_… NOTION_DATABASE_ID=d9824bdc… ./notion-signups.sh
#
# docs/destinations/notion-pages.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/notion.jq \
| rx-diff --state "$STATE_DIR/notion.db" --key rx_key --mode insert \
| rx-batch --profile notion-pages \
| rx-push --profile notion-pages 2>>"$STATE_DIR/notion.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/notion.db" --commit
