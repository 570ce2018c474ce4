#!/bin/bash
# examples/tiktok-audience.sh - the churn-risk people as a TikTok custom
# audience: e-mail and phone normalised and hashed (SHA-256), keyed by
# the hashed e-mail, mirror mode (people who leave the model are removed).
#
#   TIKTOK_ACCESS_TOKEN=… TIKTOK_ADVERTISER_ID=70… TIKTOK_AUDIENCE_ID=12… ./tiktok-audience.sh
#
# docs/destinations/tiktok-audience.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/ad_audience.sql \
| rx-map -f mappings/tiktok-audience.jq --hash EMAIL_SHA256:raw,PHONE_SHA256:raw --drop-nulls \
         --pii email=email,phone=phone --profile tiktok-audience \
| rx-diff --state "$STATE_DIR/tiktok.db" --key EMAIL_SHA256 --mode mirror --profile tiktok-audience \
| rx-batch --profile tiktok-audience \
| rx-push --profile tiktok-audience 2>>"$STATE_DIR/tiktok.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/tiktok.db" --commit
