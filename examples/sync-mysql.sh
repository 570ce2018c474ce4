#!/bin/bash
# examples/sync-mysql.sh - the customer model into an application database
# in MySQL or MariaDB (the table of app-schema-mysql.sql), mirror mode: new
# and changed customers upserted, customers gone from the model deleted.
#
#   MYSQL_URL='host=app-db user=rx database=app' MYSQL_PWD=... ./sync-mysql.sh
#
# MYSQL_URL is an rx MySQL conninfo (host, port, socket, user, database,
# ssl-mode, ssl-ca...).  The password comes from MYSQL_PWD or an option
# file (defaults-file=FILE in MYSQL_URL, or ~/.my.cnf), never from the
# command line.
set -eu -o pipefail
cd "$(dirname "$0")"
WAREHOUSE=${WAREHOUSE:-warehouse.db} STATE_DIR=${STATE_DIR:-state}
: "${MYSQL_URL:?set MYSQL_URL to the application database, e.g. 'host=db user=rx database=app'}"
mkdir -p "$STATE_DIR"

rx-extract --sqlite "$WAREHOUSE" --query-file models/customers.sql \
| rx-map -f mappings/app.jq \
| rx-diff --state "$STATE_DIR/mysql.db" --key id --mode mirror \
| rx-batch --profile mysql \
| rx-push --profile mysql --url "$MYSQL_URL" --table customers --key id 2>>"$STATE_DIR/mysql.dead-letters.ndjson" \
| rx-diff --state "$STATE_DIR/mysql.db" --commit
