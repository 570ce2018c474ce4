#!/bin/bash
# examples/mixpanel-engage.sh - the customer model into Mixpanel user
# profiles, mirror mode: profiles whose customer left the model are
# deleted (docs/destinations/mixpanel-engage.md).
#
#   MIXPANEL_PROJECT_TOKEN=... [MIXPANEL_ENDPOINT=https://api-eu.mixpanel.com] ./mixpanel-engage.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./mixpanel-engage.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/mixpanel-engage.jq \
| rx-diff --state "$STATE_DIR/mixpanel-engage.db" --key id --mode mirror --profile mixpanel-engage \
| rx-batch --profile mixpanel-engage \
| rx-push --profile mixpanel-engage "$@" 2>>"$STATE_DIR/mixpanel-engage.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/mixpanel-engage.db" --commit
