#!/bin/bash
# examples/sync-dataverse.sh - customers into Dynamics 365 / Dataverse
# contacts, mirror mode, one record a request: each upserted by the
# alternate key rx_customerid, deleted by its GUID when it leaves the
# model.  SYNC_LIMIT takes the first N customers (default 40).
#
#   DATAVERSE_URL=https://ORG.crm.dynamics.com DATAVERSE_TOKEN=eyJ0eX... ./sync-dataverse.sh
#   ./sync-dataverse.sh --dry-run --limit 3        what it would send; nothing changes
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${DATAVERSE_URL:?set DATAVERSE_URL to the environment URL, https://ORG.crm.dynamics.com}"
: "${DATAVERSE_TOKEN:?set DATAVERSE_TOKEN to an access token for it (az account get-access-token --resource \$DATAVERSE_URL)}"
preview= try=
if [ "${1:-}" = --dry-run ]; then preview=--preview try=1; shift; fi
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query "select * from customer_model order by id limit ${SYNC_LIMIT:-40}" \
| rx-map -f mappings/dataverse.jq \
| rx-diff --state "$STATE_DIR/dataverse.db" --key rx_customerid --mode mirror --profile dataverse $preview \
| rx-batch --profile dataverse \
| if [ -n "$try" ]; then
	rx-push --profile dataverse --url "$DATAVERSE_URL" --dry-run "$@"
  else
	rx-push --profile dataverse --url "$DATAVERSE_URL" "$@" 2>>"$STATE_DIR/dataverse.dead-letters.ndjson" \
	| rx-diff --state "$STATE_DIR/dataverse.db" --commit
  fi
