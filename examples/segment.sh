#!/bin/bash
# examples/segment.sh - the customer model as Segment identify calls,
# upsert mode: Segment's Tracking API does not delete users
# (docs/destinations/segment-identify.md).
#
#   SEGMENT_WRITE_KEY=... [SEGMENT_ENDPOINT=https://events.eu1.segmentapis.com] ./segment.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./segment.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/segment.jq \
| rx-diff --state "$STATE_DIR/segment.db" --key id --mode upsert \
| rx-batch --profile segment-identify \
| rx-push --profile segment-identify "$@" 2>>"$STATE_DIR/segment.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/segment.db" --commit
