#!/bin/bash
# examples/sync-redis.sh - the customer model into a Redis cache, one hash
# per customer under customer:ID, mirror mode (customers gone from the
# model are deleted).  A cache can lose keys rx-diff believes are there
# (a TTL, eviction, a restart without persistence): FULL_RESYNC=1 sends
# every row again and rebuilds the snapshot from the acks (docs/redis.md).
#
#   REDIS_URL=redis://127.0.0.1:6379/0 STATE_DIR=state ./sync-redis.sh
#   FULL_RESYNC=1 ./sync-redis.sh
#
# A schedule: every 15 minutes, and a full resync at night.
#   */15 * * * * cd /srv/rx/examples && ./sync-redis.sh
#   30 3 * * *   cd /srv/rx/examples && FULL_RESYNC=1 ./sync-redis.sh
# The password, if the server wants one, comes from RX_REDIS_PASSWORD (or
# RX_REDIS_PASSWORD_FILE), never from the URL.
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"
resync=()
[ -n "${FULL_RESYNC:-}" ] && resync=(--full-resync)

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/app.jq \
| rx-diff --state "$STATE_DIR/redis.db" --key id --mode mirror "${resync[@]}" \
| rx-batch --profile redis \
| rx-push --profile redis --url "$REDIS_URL" --table 'customer:{key}' 2>>"$STATE_DIR/redis.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/redis.db" --commit
