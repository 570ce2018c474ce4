#!/bin/bash
# examples/sync-sendgrid.sh - the customer model into SendGrid Marketing
# Campaigns contacts, mirror mode.  Each batch is one upsert job (matched
# on the e-mail), acked when SendGrid reports it completed; customers that
# leave the model are found by e-mail and deleted by their SendGrid ids.
#
#   SENDGRID_API_KEY=SG.... WAREHOUSE=warehouse.db STATE_DIR=state ./sync-sendgrid.sh
#   ./sync-sendgrid.sh --dry-run --limit 3       what it would send; nothing changes
#   SENDGRID_URL=http://127.0.0.1:8080 ...       another address (a test server)
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${SENDGRID_API_KEY:?set SENDGRID_API_KEY to an API key with Marketing (contacts) full access}"
url=${SENDGRID_URL:+--url $SENDGRID_URL}
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/sendgrid.jq \
| rx-diff --state "$STATE_DIR/sendgrid.db" --key customer_id --mode mirror --profile sendgrid-contacts $preview \
| rx-batch --profile sendgrid-contacts \
| if [ -n "$try" ]; then
	rx-push --profile sendgrid-contacts $url --dry-run "$@"
  else
	rx-push --profile sendgrid-contacts $url "$@" 2>>"$STATE_DIR/sendgrid.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/sendgrid.db" --commit
  fi
