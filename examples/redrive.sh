#!/bin/bash
# examples/redrive.sh - re-drive a dead-letter file after fixing what
# made the destination reject the records.  Dead letters are the changes
# as they were received plus an "error" member, which rx-push ignores, so
# the file goes back in unchanged; acks advance the snapshot.  Records
# rejected again land in a new dead-letter file.
#
#   WEBHOOK_URL=... ./redrive.sh state/fanout-webhook.dead-letters.ndjson state/fanout-webhook.db
set -eu -o pipefail
cd "$(dirname "$0")"
dead=${1:?usage: redrive.sh DEAD-LETTERS.ndjson STATE.db}
state=${2:?usage: redrive.sh DEAD-LETTERS.ndjson STATE.db}
: "${WEBHOOK_URL:?set WEBHOOK_URL to the address of the webhook}"

again=$dead.again
grep '^{' "$dead" \
| rx-push --profile webhook --url "$WEBHOOK_URL" 2>"$again" \
| rx-diff --state "$state" --commit
mv "$again" "$dead"   # what is still rejected (nothing, when the cause is fixed)
