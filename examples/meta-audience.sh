#!/bin/bash
# examples/meta-audience.sh - the churn-risk audience as a Meta Custom
# Audience: e-mail, phone, names and country normalised and hashed
# (SHA-256) before they leave, keyed by the hashed e-mail; mirror mode
# removes the people who leave the model.  --pii makes rx-map refuse to
# start if the mapping would send any of those columns unhashed.
#
#   META_ACCESS_TOKEN=EAAB… META_AUDIENCE_ID=2385… ./meta-audience.sh
#
# docs/destinations/meta-custom-audience.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/ad_audience.sql \
| rx-map -f mappings/meta-audience.jq --hash EMAIL:raw,PHONE:raw,FN:raw,LN:raw,COUNTRY:raw --drop-nulls \
         --pii email=email,phone=phone,first_name=name,last_name=name --profile meta-custom-audience \
| rx-diff --state "$STATE_DIR/meta.db" --key EMAIL --mode mirror --profile meta-custom-audience \
| rx-batch --profile meta-custom-audience \
| rx-push --profile meta-custom-audience 2>>"$STATE_DIR/meta.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/meta.db" --commit
