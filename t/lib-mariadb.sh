# t/lib-mariadb.sh - a throwaway MariaDB server for a test script.
#
# Sourced after lib.sh:
#
#   . "$RX_TESTS/lib-mariadb.sh"
#   my_start              # or: my_start tcp, my_start tcp tls
#   test_expect_success '...' 'my_sql "create table t (id int)" && ...'
#
# Call my_start at the top level of the script, not inside a test body:
# a body runs in a subshell, and the exported settings and the cleanup
# must outlive it.  It bails out of the script when the server will not
# start; the script is skipped only when the server binaries are absent.
#
# my_start runs mariadb-install-db into the test's temporary directory
# and starts mariadbd on a Unix socket there (with "tcp", also on a free
# loopback port; with "tls", with a certificate made for the test, its CA
# in $MY_CA), then exports
#   MY_SOCK   the socket's path
#   MY_PORT   the TCP port (with "tcp")
#   MY_CONN   the rx conninfo of the test database as root:
#             "socket=$MY_SOCK user=root database=rx"
# Database "rx" exists and is the default.  test_cleanup kills the server.
#
# The server reads no option file (--no-defaults), runs as root when the
# test does (--user=root: MariaDB, unlike PostgreSQL, allows it), speaks
# utf8mb4, and trades durability and memory for speed (no doublewrite, a
# commit written to the system but not synced to disk, so that it survives
# a crash of the server and not of the machine, a 32 MB buffer pool,
# small logs): several scripts may each start one at the same time, in
# about a second.  Client option
# files are kept out too: HOME is the test's directory, and MYSQL_PWD,
# MYSQL_HOST, MYSQL_TCP_PORT and MYSQL_UNIX_PORT are unset.

my_bindir=
for d in /usr/sbin /usr/bin /usr/libexec; do
	[ -x "$d/mariadbd" ] && my_bindir=$d && break
done
my_installdb=$(command -v mariadb-install-db 2>/dev/null || command -v mysql_install_db 2>/dev/null)
MYSQL_CLIENT=$(command -v mariadb 2>/dev/null || command -v mysql 2>/dev/null)
if [ -z "$my_bindir" ] || [ -z "$my_installdb" ] || [ -z "$MYSQL_CLIENT" ]; then
	test_skip_all 'no MariaDB server (mariadbd, mariadb-install-db, mariadb: packages mariadb-server, mariadb-client)'
fi

unset MYSQL_PWD MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT MARIADB_UNIX_PORT MYSQL_HOME MARIADB_HOME
HOME=$TRASH
export HOME

# the settings both mariadb-install-db and mariadbd are given: the data
# files' sizes must agree between the two (a benchmark gives the server
# more: MY_BUFFER_POOL, MY_LOG_SIZE); temporary files in the test's own
# directory, since concurrent bootstraps collide on /tmp's names
my_server_opts="--innodb-log-file-size=${MY_LOG_SIZE:-8M} --innodb-buffer-pool-size=${MY_BUFFER_POOL:-32M} --innodb-data-file-path=ibdata1:10M:autoextend --tmpdir=$TRASH/mytmp"

my_random_port () {
	echo $(( ($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000) + 20000 ))
}

# my_tls_files: a CA and a server certificate for 127.0.0.1/localhost.
my_tls_files () {
	mkdir -p "$TRASH/tls" &&
	(
		cd "$TRASH/tls" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=rx-test-ca \
			-keyout ca.key -out ca.pem &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
			-keyout server.key -out server.csr &&
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf &&
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 2 -extfile ext.cnf -out server.pem
	) >"$TRASH/tls.log" 2>&1
}

# my_launch: start mariadbd on the data directory made by my_start, and
# wait until it answers (at most about 30 s).  0, or 1 when it did not.
my_launch () {
	rm -f "$MY_SOCK" "$MY_PID"
	# shellcheck disable=SC2086
	"$my_bindir/mariadbd" --no-defaults --datadir="$MY_DATA" --socket="$MY_SOCK" \
		--pid-file="$MY_PID" --log-error="$MY_LOG" --user="$(id -un)" $my_server_opts \
		$my_listen $my_tls \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		--innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --sync-binlog=0 \
		--skip-log-bin --performance-schema=OFF --max-connections=60 \
		--skip-name-resolve --max-allowed-packet=16M </dev/null >/dev/null 2>&1 &
	my_server_pid=$!
	n=0
	while [ $n -lt 300 ]; do
		if "$MYSQL_CLIENT" --no-defaults --socket="$MY_SOCK" -u root -e 'select 1' >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$my_server_pid" 2>/dev/null || return 1
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

my_start () {
	MY_DATA=$TRASH/mydata
	MY_SOCK=$TRASH/my.sock
	MY_PID=$TRASH/my.pid
	MY_LOG=$TRASH/my.log
	mkdir -p "$TRASH/mytmp" || exit 1
	my_listen=--skip-networking
	my_tls=
	want_tcp=0
	for opt in "$@"; do
		case $opt in
		tcp) want_tcp=1 ;;
		tls)
			my_tls_files || {
				sed 's/^/# /' "$TRASH/tls.log"
				echo "Bail out! cannot make the test's certificates (openssl)"
				exit 1
			}
			MY_CA=$TRASH/tls/ca.pem
			export MY_CA
			my_tls="--ssl-ca=$MY_CA --ssl-cert=$TRASH/tls/server.pem --ssl-key=$TRASH/tls/server.key"
			;;
		esac
	done
	# shellcheck disable=SC2086
	"$my_installdb" --no-defaults --datadir="$MY_DATA" --user="$(id -un)" \
		--auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
		$my_server_opts >"$TRASH/install-db.log" 2>&1 || {
		sed 's/^/# /' "$TRASH/install-db.log"
		echo "Bail out! mariadb-install-db failed"
		exit 1
	}
	tries=0
	while :; do
		if [ $want_tcp = 1 ]; then
			MY_PORT=$(my_random_port)
			my_listen="--port=$MY_PORT --bind-address=127.0.0.1"
		fi
		my_launch && break
		kill -9 "$my_server_pid" 2>/dev/null
		wait "$my_server_pid" 2>/dev/null
		tries=$((tries + 1))
		if [ $want_tcp = 0 ] || [ $tries -ge 5 ]; then
			sed 's/^/# /' "$MY_LOG" | tail -n 30
			echo "Bail out! cannot start MariaDB"
			exit 1
		fi
	done
	test_cleanup 'my_stop'
	MY_CONN="socket=$MY_SOCK user=root database=rx"
	export MY_SOCK MY_CONN
	[ $want_tcp = 1 ] && export MY_PORT
	"$MYSQL_CLIENT" --no-defaults --socket="$MY_SOCK" -u root -e 'create database rx' || {
		echo "Bail out! cannot create the test database"
		exit 1
	}
}

# my_stop [crash]: stop the server now; "crash" kills it with SIGKILL.
my_stop () {
	[ -f "$MY_PID" ] || return 0
	pid=$(cat "$MY_PID")
	if [ "${1:-}" = crash ]; then
		kill -9 "$pid" 2>/dev/null
	else
		kill "$pid" 2>/dev/null
	fi
	n=0
	while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -9 "$pid" 2>/dev/null
	rm -f "$MY_PID"
	return 0
}

# my_restart: start the server again on the same data (after my_stop).
my_restart () {
	my_launch || {
		sed 's/^/# /' "$MY_LOG" | tail -n 30
		return 1
	}
}

# my_client ARGS...: the mariadb client on the test server, as root, in rx,
# in utf8mb4.
my_client () {
	"$MYSQL_CLIENT" --no-defaults --default-character-set=utf8mb4 --socket="$MY_SOCK" -u root "$@" rx
}

# my_sql SQL: run statements, stopping at the first error.
my_sql () {
	my_client -e "$*"
}

# my_query SQL: the result tab-separated, no column names (NULL as NULL).
my_query () {
	my_client -N -B -e "$1"
}
