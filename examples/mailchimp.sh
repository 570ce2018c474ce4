#!/bin/bash
# examples/mailchimp.sh - the customers who have an e-mail, as members of a
# Mailchimp audience, mirror mode: members whose customer left the model
# are archived (docs/destinations/mailchimp-members.md).
#
#   MAILCHIMP_API_KEY=...-us6 MAILCHIMP_DC=us6 MAILCHIMP_LIST_ID=... ./mailchimp.sh
#   WAREHOUSE=warehouse.db STATE_DIR=state ./mailchimp.sh [RX-PUSH OPTIONS]
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query "select * from customer_model where email is not null order by id" \
| rx-map -f mappings/mailchimp.jq \
| rx-diff --state "$STATE_DIR/mailchimp.db" --key email_address --mode mirror --profile mailchimp-members \
| rx-batch --profile mailchimp-members \
| rx-push --profile mailchimp-members "$@" 2>>"$STATE_DIR/mailchimp.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/mailchimp.db" --commit
