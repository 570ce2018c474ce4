#!/bin/bash
# examples/linkedin-audience.sh - the churn-risk people as a LinkedIn
# Matched Audience (a DMP segment): the e-mail hashed (SHA-256), the
# names in the clear, keyed by the hashed e-mail, mirror mode (people who
# leave the model are removed).
#
#   LINKEDIN_TOKEN=AQV… LINKEDIN_SEGMENT_ID=123456 ./linkedin-audience.sh
#
# docs/destinations/linkedin-audience.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/ad_audience.sql \
| rx-map -f mappings/linkedin-audience.jq --hash SHA256_EMAIL:raw --drop-nulls --pii email=email,phone=phone --profile linkedin-audience \
| rx-diff --state "$STATE_DIR/linkedin.db" --key SHA256_EMAIL --mode mirror --profile linkedin-audience \
| rx-batch --profile linkedin-audience \
| rx-push --profile linkedin-audience 2>>"$STATE_DIR/linkedin.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/linkedin.db" --commit
