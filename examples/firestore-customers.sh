#!/bin/bash
# examples/firestore-customers.sh - the customer model as Firestore
# documents, customers/<id>, one per customer, mirror mode: a customer
# gone from the model is deleted.  Auth: a service account's key file.
#
#   GOOGLE_APPLICATION_CREDENTIALS=sa.json FIRESTORE_PROJECT=my-project FIRESTORE_COLLECTION=customers ./firestore-customers.sh
#
# docs/destinations/firestore-batchwrite.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/app.jq \
| rx-diff --state "$STATE_DIR/firestore.db" --key id --mode mirror --profile firestore-batchwrite \
| rx-batch --profile firestore-batchwrite \
| rx-push --profile firestore-batchwrite 2>>"$STATE_DIR/firestore.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/firestore.db" --commit
