# t/lib-pg.sh - a throwaway PostgreSQL server for a test script.
#
# Sourced after lib.sh:
#
#   . "$RX_TESTS/lib-pg.sh"
#   pg_start              # or: pg_start tcp  (also listen on 127.0.0.1)
#   test_expect_success '...' 'pg_sql "create table t (id int)" && ...'
#
# Call pg_start at the top level of the script, not inside a test body:
# a body runs in a subshell, and the exported settings and the cleanup
# must outlive it.  It bails out of the script when the server will not
# start.
# pg_start runs initdb into the test's temporary directory and starts the
# server on a Unix socket in that directory (and, with "tcp", on a free
# loopback port, password authentication required there), then exports
# PGHOST, PGPORT, PGUSER and PGDATABASE so that libpq clients (rx-extract,
# rx-push, psql) find it with an empty conninfo.  test_cleanup stops it.
# The script is skipped only when the server binaries are absent.
#
# initdb refuses to run as root: then the server runs as the "postgres"
# system user, which owns the data directory; the temporary directory is
# opened up so that it can reach its socket there.  Durability is off
# (fsync, full_page_writes) and memory small: several scripts may each
# start a server at the same time.  PG_SERVER_OPTIONS adds server options
# ("-c shared_buffers=256MB" for a benchmark).

pg_bindir=
for d in /usr/lib/postgresql/*/bin; do
	[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && pg_bindir=$d
done
[ -n "$pg_bindir" ] || test_skip_all 'no PostgreSQL server binaries in /usr/lib/postgresql/*/bin'
PSQL=$pg_bindir/psql
[ -x "$PSQL" ] || PSQL=psql

# pg_as CMD...: run a server command as the server's owner.
pg_as () {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pg_random_port: a loopback TCP port to try (pg_start tries another one
# when the server cannot bind it).
pg_random_port () {
	echo $(( ($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000) + 20000 ))
}

pg_start () {
	PG_DATA=$TRASH/pgdata
	PG_SOCK=$TRASH/pgsock
	PG_LOG=$TRASH/pg.log
	mkdir -p "$PG_DATA" "$PG_SOCK" || exit 1
	if [ "$(id -u)" = 0 ]; then
		chmod 755 "$TRASH" &&
		chown postgres "$PG_DATA" "$PG_SOCK" &&
		touch "$PG_LOG" && chown postgres "$PG_LOG" || exit 1
	fi
	pg_as "$pg_bindir/initdb" -D "$PG_DATA" -U postgres -N -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 >"$TRASH/initdb.log" 2>&1 || {
		sed 's/^/# /' "$TRASH/initdb.log"
		echo "Bail out! initdb failed"
		exit 1
	}
	listen=
	PGPORT=5432
	tries=0
	while :; do
		if [ "${1:-}" = tcp ]; then
			PGPORT=$(pg_random_port)
			listen=127.0.0.1
		fi
		if pg_as "$pg_bindir/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 \
			-o "-p $PGPORT -k $PG_SOCK -c listen_addresses='$listen' -c fsync=off \
-c full_page_writes=off -c synchronous_commit=off -c shared_buffers=16MB \
-c max_connections=20 -c max_wal_senders=0 -c wal_level=minimal ${PG_SERVER_OPTIONS:-}" start >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		if [ "${1:-}" != tcp ] || [ $tries -ge 5 ]; then
			sed 's/^/# /' "$PG_LOG"
			echo "Bail out! cannot start PostgreSQL"
			exit 1
		fi
	done
	test_cleanup "pg_as '$pg_bindir/pg_ctl' -D '$PG_DATA' -m immediate stop"
	PGHOST=$PG_SOCK
	PGUSER=postgres
	PGDATABASE=postgres
	export PGHOST PGPORT PGUSER PGDATABASE
	unset PGPASSWORD PGSERVICE PGOPTIONS PGSSLMODE
}

# pg_stop [MODE]: stop the server now (default: immediate, a crash).
pg_stop () {
	pg_as "$pg_bindir/pg_ctl" -D "$PG_DATA" -m "${1:-immediate}" stop >/dev/null 2>&1
}

# pg_sql SQL...: run statements, quietly, stopping at the first error.
pg_sql () {
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -c "$*" >/dev/null
}

# pg_query SQL: the result unaligned, tuples only, '|' between columns.
pg_query () {
	"$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}
