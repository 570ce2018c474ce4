#!/bin/bash
# examples/amplitude.sh - the customer model as Amplitude user properties,
# upsert mode: the Identify API does not delete users (Amplitude's User
# Privacy API does, as a job) (docs/destinations/amplitude-identify.md).
#
#   AMPLITUDE_API_KEY=... [AMPLITUDE_ENDPOINT=https://api.eu.amplitude.com] ./amplitude.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./amplitude.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/amplitude.jq \
| rx-diff --state "$STATE_DIR/amplitude.db" --key user_id --mode upsert \
| rx-batch --profile amplitude-identify \
| rx-push --profile amplitude-identify "$@" 2>>"$STATE_DIR/amplitude.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/amplitude.db" --commit
