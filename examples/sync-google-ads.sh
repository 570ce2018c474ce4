#!/bin/bash
# examples/sync-google-ads.sh - the churn-risk audience as a Google Ads
# Customer Match list: e-mail and phone normalised and hashed (SHA-256)
# before they leave, keyed by the hashed e-mail; mirror mode removes the
# people who leave the model.  Each batch is one offline user data job
# (create, addOperations, run, polled until SUCCESS); a record is acked
# only when its job ended SUCCESS.  --pii makes rx-map refuse to start
# if the mapping would send the e-mail or phone unhashed.
#
#   GOOGLE_ADS_DEVELOPER_TOKEN=… GOOGLE_ADS_CLIENT_ID=… GOOGLE_ADS_CLIENT_SECRET=… \
#   GOOGLE_ADS_REFRESH_TOKEN=… GOOGLE_ADS_CUSTOMER_ID=1234567890 GOOGLE_ADS_USER_LIST_ID=555 \
#   ./sync-google-ads.sh
#
# docs/destinations/google-ads-customer-match.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/ad_audience.sql \
| rx-map -f mappings/google-ads.jq --hash hashedEmail:raw,hashedPhoneNumber:raw --drop-nulls \
         --pii email=email,phone=phone --profile google-ads-customer-match \
| rx-diff --state "$STATE_DIR/google-ads.db" --key hashedEmail --mode mirror --profile google-ads-customer-match \
| rx-batch --profile google-ads-customer-match \
| rx-push --profile google-ads-customer-match --concurrency 1 2>>"$STATE_DIR/google-ads.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/google-ads.db" --commit
