#!/bin/bash
# examples/search-index.sh - the customer model as documents of a search
# index (Elasticsearch or OpenSearch, the _bulk API), one per customer,
# _id = the customer id, mirror mode: a customer gone from the model is
# deleted from the index.
#
#   ELASTICSEARCH_URL=https://…:9243 ELASTICSEARCH_API_KEY=… ELASTICSEARCH_INDEX=customers ./search-index.sh
#   SEARCH_PROFILE=opensearch-bulk OPENSEARCH_URL=… OPENSEARCH_USER=… OPENSEARCH_PASSWORD=… OPENSEARCH_INDEX=customers ./search-index.sh
#
# docs/destinations/elasticsearch-bulk.md
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
profile=${SEARCH_PROFILE:-elasticsearch-bulk}
[ -f "$WAREHOUSE" ] || sqlite3 "$WAREHOUSE" <warehouse.sql
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/app.jq \
| rx-diff --state "$STATE_DIR/$profile.db" --key id --mode mirror --profile $profile \
| rx-batch --profile $profile \
| rx-push --profile $profile 2>>"$STATE_DIR/$profile.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/$profile.db" --commit
