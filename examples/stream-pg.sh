#!/bin/bash
# examples/stream-pg.sh - stream one PostgreSQL table to a webhook as its
# changes commit (docs/streaming.md), and keep doing it: run it from
# examples/systemd/rx-stream.service.
#
#   PG='host=db dbname=app user=rx' TABLE=customers KEY=id \
#   WEBHOOK_URL=https://hooks.example.com/rx ./stream-pg.sh
#   FOLLOW=updated_at ... ./stream-pg.sh   poll that column instead of a slot
#
# What it does:
#  1. once, for a replication stream: a publication of the table and a
#     logical replication slot (the slot first, so that nothing committed
#     from then on is missed; "wal_level = logical" on the server);
#  2. a full sync in mirror mode when the last one is older than a day
#     (FULL_EVERY minutes; the first time, always): it sends what a stream
#     cannot know (deletes a polling follower cannot see, a truncate, a
#     dead letter fixed at the source) and it takes the state while it
#     runs, so it runs before the stream, not beside it;
#  3. the stream, until SIGTERM or a failure.  SIGTERM goes to rx-extract
#     alone: it finishes the transaction it reads, and every stage after
#     it drains and exits 0.  Any stage failing ends the pipeline with a
#     non-zero status, for the service manager to start it again: the
#     stream resumes from the last position the state stored.
set -u -o pipefail
cd "$(dirname "$0")"
PG=${PG-}
TABLE=${TABLE:-customers}
KEY=${KEY:-id}
WEBHOOK_URL=${WEBHOOK_URL:?set WEBHOOK_URL (the token, if any, in RX_WEBHOOK_TOKEN)}
STATE_DIR=${STATE_DIR:-state}
SLOT=${SLOT:-rx_$TABLE}
PUBLICATION=${PUBLICATION:-rx_$TABLE}
FULL_EVERY=${FULL_EVERY:-1440}
state=$STATE_DIR/stream-$TABLE.db
dead=$STATE_DIR/stream-$TABLE.dead-letters.ndjson
mkdir -p "$STATE_DIR"

if [ -z "${FOLLOW:-}" ]; then
	psql "$PG" -X -q -v ON_ERROR_STOP=1 -v pub="$PUBLICATION" -v tab="$TABLE" <<-'SQL' || exit 1
	SELECT NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = :'pub') AS new_pub \gset
	\if :new_pub
	CREATE PUBLICATION :"pub" FOR TABLE :"tab";
	\endif
	SQL
	psql "$PG" -X -q -v ON_ERROR_STOP=1 -c "SELECT pg_create_logical_replication_slot('$SLOT', 'pgoutput')
		WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT')" >/dev/null || exit 1
fi

stamp=$state.full
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +"$FULL_EVERY")" ]; then
	rx-extract --postgres "$PG" --table "$TABLE" \
	| rx-diff --state "$state" --key "$KEY" --mode mirror \
	| rx-batch --profile webhook \
	| rx-push --profile webhook --url "$WEBHOOK_URL" 2>>"$dead" \
	| rx-diff --state "$state" --commit || exit
	touch "$stamp"
fi

if [ -n "${FOLLOW:-}" ]; then
	feed=(rx-extract --postgres "$PG" --table "$TABLE" --follow "$FOLLOW" --every 200 --state "$state")
else
	feed=(rx-extract --postgres "$PG" --table "$TABLE" --slot "$SLOT" --publication "$PUBLICATION" --state "$state")
fi
fifo=$(mktemp -u "$STATE_DIR/.stream-$TABLE.XXXXXX")
mkfifo "$fifo" || exit 1
trap 'rm -f "$fifo"' EXIT
"${feed[@]}" >"$fifo" &
extract=$!
trap 'kill -TERM $extract 2>/dev/null' TERM INT
rx-diff --state "$state" --key "$KEY" --mode mirror --stream <"$fifo" \
| rx-batch --linger 0 --profile webhook \
| rx-push --profile webhook --url "$WEBHOOK_URL" 2>>"$dead" \
| rx-diff --state "$state" --commit &
pipeline=$!
# a trapped signal interrupts wait: wait again until the pipeline is done
while :; do
	wait $pipeline
	status=$?
	kill -0 $pipeline 2>/dev/null || break
done
wait $extract
extract_status=$?
[ $status -eq 0 ] && status=$extract_status
exit $status
