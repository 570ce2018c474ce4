#!/bin/bash
# examples/iterable.sh - the customers who have an e-mail, as Iterable
# users matched by e-mail, mirror mode: users whose customer left the
# model are deleted (docs/destinations/iterable-users.md).
#
#   ITERABLE_API_KEY=... [ITERABLE_ENDPOINT=https://api.eu.iterable.com] ./iterable.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./iterable.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query "select * from customer_model where email is not null order by id" \
| rx-map -f mappings/iterable.jq \
| rx-diff --state "$STATE_DIR/iterable.db" --key email --mode mirror --profile iterable-users \
| rx-batch --profile iterable-users \
| rx-push --profile iterable-users "$@" 2>>"$STATE_DIR/iterable.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/iterable.db" --commit
