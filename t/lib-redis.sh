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
# REDIS_* variables, the others' are in NAME.redis-sockpath and
# NAME.redis-port).
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
	_rname=redis
	_rtcp=
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		case $1 in
		tcp) _rtcp=1 ;;
		*) _rname=$1 ;;
		esac
		shift
	done
	[ "${1:-}" = "--" ] && shift
	_rdir=$TRASH/$_rname.redis-data
	mkdir -p "$_rdir" || exit 1
	_rtries=0
	while :; do
		_rport=0
		[ -n "$_rtcp" ] && _rport=$(redis_random_port)
		{
			echo "port $_rport"
			echo "bind 127.0.0.1"
			echo "unixsocket $TRASH/$_rname.redis-sock"
			echo "unixsocketperm 700"
			echo "dir $_rdir"
			echo "save \"\""
			echo "appendonly no"
			echo "daemonize yes"
			echo "pidfile $TRASH/$_rname.redis-pid"
			echo "logfile $TRASH/$_rname.redis-log"
			echo "databases 4"
			for _rline in "$@"; do echo "$_rline"; done
		} >"$TRASH/$_rname.redis-conf"
		rm -f "$TRASH/$_rname.redis-sock"
		redis-server "$TRASH/$_rname.redis-conf" >/dev/null 2>&1
		_ri=0
		while [ $_ri -lt 100 ] && ! [ -S "$TRASH/$_rname.redis-sock" ]; do
			sleep 0.05
			_ri=$((_ri + 1))
		done
		[ -S "$TRASH/$_rname.redis-sock" ] && break
		_rtries=$((_rtries + 1))
		if [ -z "$_rtcp" ] || [ $_rtries -ge 5 ]; then
			sed 's/^/# /' "$TRASH/$_rname.redis-log" 2>/dev/null
			echo "Bail out! cannot start redis-server"
			exit 1
		fi
	done
	echo "$TRASH/$_rname.redis-sock" >"$TRASH/$_rname.redis-sockpath"
	echo "$_rport" >"$TRASH/$_rname.redis-port"
	if [ "$_rname" = redis ]; then
		REDIS_SOCK=$TRASH/redis.redis-sock
		REDIS_URL=$REDIS_SOCK
		REDIS_PORT=$_rport
		export REDIS_SOCK REDIS_URL REDIS_PORT
	fi
	unset RX_REDIS_PASSWORD RX_REDIS_PASSWORD_FILE RX_REDIS_USER REDISCLI_AUTH
}

redis_cli () {
	_rn=$1
	shift
	redis-cli -s "$(cat "$TRASH/$_rn.redis-sockpath")" --no-auth-warning "$@"
}

rcli () {
	redis_cli redis "$@"
}

redis_stop () {
	_rn=${1:-redis}
	if [ -s "$TRASH/$_rn.redis-pid" ]; then
		_rpid=$(cat "$TRASH/$_rn.redis-pid")
		kill -9 "$_rpid" 2>/dev/null
		_ri=0
		while [ $_ri -lt 100 ] && kill -0 "$_rpid" 2>/dev/null &&
			[ "$(cut -d" " -f3 "/proc/$_rpid/stat" 2>/dev/null)" != Z ]; do
			sleep 0.05
			_ri=$((_ri + 1))
		done
		rm -f "$TRASH/$_rn.redis-pid" "$TRASH/$_rn.redis-sock"
	fi
}

redis_dump () {
	_rn=${1:-redis}
	_rpattern=${2:-*}
	# shellcheck disable=SC2016
	redis_cli "$_rn" --raw EVAL '
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
		return out' 0 "$_rpattern" | LC_ALL=C sort
}
