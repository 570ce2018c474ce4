#!/bin/bash
# examples/mixpanel-import.sh - orders as Mixpanel events, insert mode: an
# order is sent once (an event is never changed nor deleted by /import;
# a re-sent one is deduplicated on its $insert_id)
# (docs/destinations/mixpanel-import.md).
#
#   MIXPANEL_SERVICE_ACCOUNT=... MIXPANEL_SERVICE_ACCOUNT_SECRET=... MIXPANEL_PROJECT_ID=... ./mixpanel-import.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./mixpanel-import.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query "select id, customer_id, amount, ordered_at from orders order by id" \
| rx-map -f mappings/mixpanel-import.jq \
| rx-diff --state "$STATE_DIR/mixpanel-import.db" --key id --mode insert \
| rx-batch --profile mixpanel-import \
| rx-push --profile mixpanel-import "$@" 2>>"$STATE_DIR/mixpanel-import.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/mixpanel-import.db" --commit
