#!/bin/bash
# examples/customerio.sh - the customer model into Customer.io people, by
# id, mirror mode: people whose customer left the model are deleted
# (docs/destinations/customerio.md).
#
#   CUSTOMERIO_SITE_ID=... CUSTOMERIO_API_KEY=... [CUSTOMERIO_ENDPOINT=https://track-eu.customer.io] ./customerio.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./customerio.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/customerio.jq \
| rx-diff --state "$STATE_DIR/customerio.db" --key id --mode mirror --profile customerio \
| rx-batch --profile customerio \
| rx-push --profile customerio "$@" 2>>"$STATE_DIR/customerio.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/customerio.db" --commit
