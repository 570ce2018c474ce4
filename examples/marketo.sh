#!/bin/bash
# examples/marketo.sh - the customers who have an e-mail, as Marketo leads
# matched on email, upsert mode (docs/destinations/marketo-leads.md):
# Marketo deletes leads by its own id, which this warehouse does not hold,
# so a customer who leaves the model stays in Marketo.
#
#   MARKETO_MUNCHKIN_ID=123-ABC-456 MARKETO_CLIENT_ID=... MARKETO_CLIENT_SECRET=... ./marketo.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./marketo.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query "select * from customer_model where email is not null order by id" \
| rx-map -f mappings/marketo.jq \
| rx-diff --state "$STATE_DIR/marketo.db" --key email --mode upsert --profile marketo-leads \
| rx-batch --profile marketo-leads \
| rx-push --profile marketo-leads "$@" 2>>"$STATE_DIR/marketo.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/marketo.db" --commit
