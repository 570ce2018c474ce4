# t/lib-clickhouse.sh - a throwaway ClickHouse server for a test script.
#
# Sourced after lib.sh:
#
#   . "$RX_TESTS/lib-clickhouse.sh"
#   ch_start
#   test_expect_success '...' 'ch_sql "create table t (id UInt64) engine = Memory" && ...'
#
# Call ch_start at the top level of the script, not inside a test body: a
# body runs in a subshell, and the exported settings and the cleanup must
# outlive it.  It bails out of the script when the server will not start.
#
# ch_start writes a config into the test's temporary directory (data,
# logs, users: everything the server touches lives there), starts
# clickhouse-server in the foreground as a child of the script on free
# loopback ports (HTTP and native), waits for /ping, and exports CH_URL
# (http://127.0.0.1:PORT), CH_PORT, CH_TCP_PORT and CH_PID.  test_cleanup
# stops it.  Users: "default" without a password, "alice" whose password is
# in CH_ALICE_PASSWORD, "reader" (readonly=1: it cannot change settings) and
# "truncated" (readonly=1, and a profile that cuts results at 5 rows with
# result_overflow_mode=break).  The server runs in UTC with query
# logging on (system.query_log), small caches.
# The script is skipped only when no server binary is installed.
#
# As root, the server runs as the "clickhouse" system user the Debian
# package creates (when it exists), owning its directory; the temporary
# directory is opened up so that it can reach it.  setpriv execs the
# server, so CH_PID is the server itself.

ch_bin=
if command -v clickhouse-server >/dev/null 2>&1; then
	ch_bin=$(command -v clickhouse-server)
elif [ -x /usr/sbin/clickhouse-server ]; then
	ch_bin=/usr/sbin/clickhouse-server
fi
[ -n "$ch_bin" ] || test_skip_all 'no clickhouse-server binary (apt-get install clickhouse-server)'
CH_ALICE_PASSWORD=alice-pw-7Hq2
export CH_ALICE_PASSWORD

ch_random_port () {
	echo $(( ($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000) + 20000 ))
}

ch_write_config () {
	cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_DIR/log/server.log</log>
        <errorlog>$CH_DIR/log/error.log</errorlog>
        <console>0</console>
    </logger>
    <http_port>$CH_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>16777216</mark_cache_size>
    <uncompressed_cache_size>16777216</uncompressed_cache_size>
    <max_concurrent_queries>20</max_concurrent_queries>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <flush_interval_milliseconds>500</flush_interval_milliseconds>
    </query_log>
</yandex>
EOF
	cat >"$CH_DIR/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <log_queries>1</log_queries>
        </default>
        <readonly>
            <readonly>1</readonly>
            <log_queries>1</log_queries>
        </readonly>
        <truncating>
            <readonly>1</readonly>
            <max_result_rows>5</max_result_rows>
            <result_overflow_mode>break</result_overflow_mode>
        </truncating>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <alice>
            <password>$CH_ALICE_PASSWORD</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </alice>
        <reader>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>readonly</profile>
            <quota>default</quota>
        </reader>
        <truncated>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>truncating</profile>
            <quota>default</quota>
        </truncated>
    </users>
    <quotas><default></default></quotas>
</yandex>
EOF
}

# ch_wait_ready: until /ping answers (at most ~30 s) or the server exits.
ch_wait_ready () {
	n=0
	while [ $n -lt 300 ]; do
		if curl -s -m 2 "$CH_URL/ping" 2>/dev/null | grep -q '^Ok'; then
			return 0
		fi
		kill -0 "$CH_PID" 2>/dev/null || return 1
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

ch_start () {
	CH_DIR=$TRASH/ch
	mkdir -p "$CH_DIR/log" "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas" || exit 1
	tries=0
	while :; do
		CH_PORT=$(ch_random_port)
		CH_TCP_PORT=$(ch_random_port)
		CH_URL=http://127.0.0.1:$CH_PORT
		ch_write_config
		if [ "$(id -u)" = 0 ] && id clickhouse >/dev/null 2>&1; then
			chmod 755 "$TRASH" && chown -R clickhouse "$CH_DIR" || exit 1
		fi
		# started directly (not through a function, which would fork a
		# subshell): $! is then the server
		if [ "$(id -u)" = 0 ] && id clickhouse >/dev/null 2>&1; then
			setpriv --reuid=clickhouse --regid=clickhouse --init-groups -- \
				"$ch_bin" --config-file="$CH_DIR/config.xml" >"$CH_DIR/log/stdout.log" 2>&1 </dev/null &
		else
			"$ch_bin" --config-file="$CH_DIR/config.xml" >"$CH_DIR/log/stdout.log" 2>&1 </dev/null &
		fi
		CH_PID=$!
		if ch_wait_ready; then
			break
		fi
		kill -9 "$CH_PID" 2>/dev/null
		wait "$CH_PID" 2>/dev/null
		tries=$((tries + 1))
		if [ $tries -ge 5 ]; then
			tail -n 20 "$CH_DIR/log/error.log" "$CH_DIR/log/stdout.log" 2>/dev/null | sed 's/^/# /'
			echo "Bail out! cannot start clickhouse-server"
			exit 1
		fi
	done
	test_cleanup "kill -9 $CH_PID; wait $CH_PID"
	CH_LOG=$CH_DIR/log/server.log
	export CH_URL CH_PORT CH_TCP_PORT CH_PID CH_LOG
	unset CLICKHOUSE_USER CLICKHOUSE_PASSWORD CLICKHOUSE_PASSWORD_FILE CLICKHOUSE_DATABASE
}

# ch_stop: kill the server now (a crash).
ch_stop () {
	kill -9 "$CH_PID" 2>/dev/null
}

# ch_sql SQL [PARAMS]: run one statement, quietly; fail (with the server's
# message on stderr) on an error.  PARAMS are extra URL parameters.
ch_sql () {
	out=$(curl -sS -w '\n%{http_code}' "$CH_URL/?${2:-}" --data-binary "$1") || return 1
	code=$(printf '%s\n' "$out" | tail -n 1)
	if [ "$code" != 200 ]; then
		printf '%s\n' "$out" | sed '$d' >&2
		return 1
	fi
}

# ch_query SQL [PARAMS]: the result as TabSeparated on stdout.
ch_query () {
	curl -sS -f "$CH_URL/?${2:-}" --data-binary "$1"
}
