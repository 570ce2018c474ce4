#!/bin/bash
# examples/linkedin-companies.sh - the accounts at risk as a LinkedIn
# Matched Audience of companies (a company DMP segment): names,
# industries and countries in the clear, keyed by the company name,
# mirror mode (accounts that leave the model are removed).
#
#   LINKEDIN_TOKEN=AQV… LINKEDIN_SEGMENT_ID=123456 ./linkedin-companies.sh
#
# docs/destinations/linkedin-companies.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/ad_companies.sql \
| rx-map -f mappings/linkedin-companies.jq --profile linkedin-companies \
| rx-diff --state "$STATE_DIR/linkedin-companies.db" --key companyName --mode mirror --profile linkedin-companies \
| rx-batch --profile linkedin-companies \
| rx-push --profile linkedin-companies 2>>"$STATE_DIR/linkedin-companies.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/linkedin-companies.db" --commit
