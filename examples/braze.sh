#!/bin/bash
# examples/braze.sh - the customer model into Braze user profiles, mirror
# mode: new and changed customers' attributes tracked by external_id,
# customers gone from the model deleted (docs/destinations/braze.md).
#
#   BRAZE_API_KEY=... BRAZE_REST_ENDPOINT=https://rest.fra-01.braze.eu ./braze.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./braze.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/braze.jq \
| rx-diff --state "$STATE_DIR/braze.db" --key external_id --mode mirror --profile braze \
| rx-batch --profile braze \
| rx-push --profile braze "$@" 2>>"$STATE_DIR/braze.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/braze.db" --commit
