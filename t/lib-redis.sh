# t/lib-redis.sh - a throwaway Redis server for a test script.
#
# Sourced after lib.sh:
#
#   . "$RX_TESTS/lib-redis.sh"
#   redis_start               # or: redis_start tcp  (also a loopback port)
#   redis_start NAME [tcp] -- 'requirepass s3cret' 'maxmemory 2mb'
#   test_expect_success '...' 'rcli HGETALL customer:1 >actual && ...'
#
# Call redis_start at the top level of the script, not inside a test
# body: a body runs in a subshell, and the exported settings and the
# cleanup must outlive it.  It bails out of the script when the server
# will not start; the script is skipped only when redis-server is absent.
#
# The server runs from a config file in the test's temporary directory:
# a Unix socket there (REDIS_SOCK; REDIS_URL names it for rx-push), with
# "tcp" also a free loopback port (REDIS_PORT), no persistence, and any
# extra config lines given after "--".  Several servers can run at once
# under different NAMEs (the first one is "redis"; its settings are the
# REDIS_* variables, the others' are in NAME.sock and NAME.port).
# test_cleanup stops them all.
#
#   rcli ARGS...          redis-cli on the first server (raw output)
#   redis_cli NAME ARGS...  the same on a named one
#   redis_stop [NAME]     stop it now (SIGKILL: a crash, nothing saved)
#   redis_dump [NAME] [PATTERN]  every key matching PATTERN (default *),
#                         sorted, one line each: KEY<TAB>TYPE<TAB>VALUE,
#                         a hash's fields sorted as f=v;f=v, a string as is

command -v redis-server >/dev/null 2>&1 || test_skip_all 'no redis-server (Debian package redis-server)'
command -v redis-cli >/dev/null 2>&1 || test_skip_all 'no redis-cli (Debian package redis-tools)'

test_cleanup 'for f in "$TRASH"/*.redis-pid; do [ -f "$f" ] && kill -9 "$(cat "$f")"; done'

redis_random_port () {
	echo $(( ($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000) + 20000 ))
}

redis_start () {
	name=redis
	tcp=
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		case $1 in
		tcp) tcp=1 ;;
		*) name=$1 ;;
		esac
		shift
	done
	[ "${1:-}" = "--" ] && shift
	dir=$TRASH/$name.data
	mkdir -p "$dir" || exit 1
	tries=0
	while :; do
		port=0
		[ -n "$tcp" ] && port=$(redis_random_port)
		{
			echo "port $port"
			echo "bind 127.0.0.1"
			echo "unixsocket $TRASH/$name.sock"
			echo "unixsocketperm 700"
			echo "dir $dir"
			echo "save \"\""
			echo "appendonly no"
			echo "daemonize yes"
			echo "pidfile $TRASH/$name.redis-pid"
			echo "logfile $TRASH/$name.log"
			echo "databases 4"
			for line in "$@"; do echo "$line"; done
		} >"$TRASH/$name.conf"
		rm -f "$TRASH/$name.sock"
		redis-server "$TRASH/$name.conf" >/dev/null 2>&1
		i=0
		while [ $i -lt 100 ] && ! [ -S "$TRASH/$name.sock" ]; do
			sleep 0.05
			i=$((i + 1))
		done
		[ -S "$TRASH/$name.sock" ] && break
		tries=$((tries + 1))
		if [ -z "$tcp" ] || [ $tries -ge 5 ]; then
			sed 's/^/# /' "$TRASH/$name.log" 2>/dev/null
			echo "Bail out! cannot start redis-server"
			exit 1
		fi
	done
	echo "$TRASH/$name.sock" >"$TRASH/$name.sockpath"
	echo "$port" >"$TRASH/$name.port"
	if [ "$name" = redis ]; then
		REDIS_SOCK=$TRASH/redis.sock
		REDIS_URL=$REDIS_SOCK
		REDIS_PORT=$port
		export REDIS_SOCK REDIS_URL REDIS_PORT
	fi
	unset RX_REDIS_PASSWORD RX_REDIS_PASSWORD_FILE RX_REDIS_USER REDISCLI_AUTH
}

redis_cli () {
	n=$1
	shift
	redis-cli -s "$(cat "$TRASH/$n.sockpath")" --no-auth-warning "$@"
}

rcli () {
	redis_cli redis "$@"
}

redis_stop () {
	n=${1:-redis}
	if [ -s "$TRASH/$n.redis-pid" ]; then
		pid=$(cat "$TRASH/$n.redis-pid")
		kill -9 "$pid" 2>/dev/null
		i=0
		while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null &&
			[ "$(cut -d" " -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
			sleep 0.05
			i=$((i + 1))
		done
		rm -f "$TRASH/$n.redis-pid" "$TRASH/$n.sock"
	fi
}

redis_dump () {
	n=${1:-redis}
	pattern=${2:-*}
	# shellcheck disable=SC2016
	redis_cli "$n" --raw EVAL '
		local out, cursor = {}, "0"
		repeat
			local r = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
			cursor = r[1]
			for _, k in ipairs(r[2]) do
				local t = redis.call("TYPE", k).ok
				local v
				if t == "hash" then
					local h, pairs_ = redis.call("HGETALL", k), {}
					for i = 1, #h, 2 do pairs_[#pairs_ + 1] = h[i] .. "=" .. h[i + 1] end
					table.sort(pairs_)
					v = table.concat(pairs_, ";")
				elseif t == "string" then
					v = redis.call("GET", k)
				else
					v = "(" .. t .. ")"
				end
				out[#out + 1] = k .. "\t" .. t .. "\t" .. v
			end
		until cursor == "0"
		return out' 0 "$pattern" | LC_ALL=C sort
}
