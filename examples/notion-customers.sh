#!/bin/bash
# examples/notion-customers.sh - the customer model mirrored into a
# Notion database: a page per customer, created once, then updated by its
# page id (which rx keeps from the create's ack) and archived when the
# customer leaves the model.  The database is shared with the integration
# and has a rich-text property rx_key.
#
#   NOTION_TOKEN=secret_… NOTION_DATABASE_ID=d9824bdc… ./notion-customers.sh
#
# With Notion-Version 2025-09-03 (databases hold data sources), name the
# data source too (GET /v1/databases/ID lists them in data_sources):
#
#   NOTION_VERSION=2025-09-03 NOTION_DATA_SOURCE_ID=1a44be12… NOTION_TOKEN=secret_… \
#   NOTION_DATABASE_ID=d9824bdc… ./notion-customers.sh
#
# docs/destinations/notion-pages.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/notion.jq \
| rx-diff --state "$STATE_DIR/notion.db" --key rx_key --mode mirror --profile notion-pages \
| rx-batch --profile notion-pages \
| rx-push --profile notion-pages 2>>"$STATE_DIR/notion.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/notion.db" --commit
