#!/bin/bash
# examples/sync-intercom.sh - the customer model into Intercom contacts,
# mirror mode.  The sync key is the warehouse's customer id (sent as the
# contact's external_id); Intercom's search finds a contact by e-mail the
# first time, and rx uses Intercom's own id from then on: a customer whose
# e-mail changes updates the same contact.  Contacts that leave the model
# are deleted by their ids.
#
#   INTERCOM_TOKEN=dG9rOm... ./sync-intercom.sh
#   ./sync-intercom.sh --dry-run --limit 3        what it would send; nothing changes
#   INTERCOM_API_URL=http://127.0.0.1:8080 ...    another address (a test server)
#
# docs/destinations/intercom-contacts.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${INTERCOM_TOKEN:?set INTERCOM_TOKEN to an Intercom access token that can read and write contacts}"
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/intercom.jq \
| rx-diff --state "$STATE_DIR/intercom.db" --key external_id --mode mirror --profile intercom-contacts $preview \
| rx-batch --profile intercom-contacts \
| if [ -n "$try" ]; then
	rx-push --profile intercom-contacts --dry-run "$@"
  else
	rx-push --profile intercom-contacts "$@" 2>>"$STATE_DIR/intercom.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/intercom.db" --commit
  fi
