#!/bin/bash
# examples/parallel.sh - a large model in N shards with GNU parallel, each
# shard with its own state file; the shards' union is exactly the whole.
# Add --sshlogin to spread the shards over hosts (each then needs its
# state files and the programs).
#
#   SHARDS=4 ./parallel.sh
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} APP_DB=${APP_DB:-app.db} STATE_DIR=${STATE_DIR:-state}
SHARDS=${SHARDS:-4}
mkdir -p "$STATE_DIR"
export WAREHOUSE APP_DB STATE_DIR SHARDS

shard () {
	rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql --shard "$1/$SHARDS" --key id \
	| rx-map -f mappings/app.jq \
	| rx-diff --state "$STATE_DIR/shard-$1-of-$SHARDS.db" --key id --mode mirror --shard "$1/$SHARDS" \
	| rx-batch --profile sqlite \
	| rx-push --profile sqlite --url "$APP_DB" --table customers --key id 2>>"$STATE_DIR/shard-$1.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/shard-$1-of-$SHARDS.db" --commit
}
export -f shard

# --halt now,fail=1: one failed shard fails the run (the others finish
# their current work and are retried, like any unacked record, next run)
seq "$SHARDS" | parallel --will-cite --halt soon,fail=1 -j "$SHARDS" shard {}
