#!/bin/sh
# rx-extract --mysql (and rx-push's mysql driver) over TCP and TLS, and
# when things go wrong: no server, a connection killed and the server
# crashed mid-stream.  Each is one clear line and exit 1; a half-read
# result never ends with the end record.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

command -v openssl >/dev/null || test_skip_all 'no openssl (package openssl) for the test certificates'
my_start tcp tls

slow_model='select seq, if(seq = 3000, sleep(30), 0) as s from seq_1_to_5000'
tcp="host=127.0.0.1 port=$MY_PORT user=rx"

# wait_for_sleep: until a session sleeps in sleep() (at most ~10 s).
wait_for_sleep () {
	n=0
	while [ $n -lt 100 ]; do
		got=$(my_query "select count(*) from information_schema.processlist where state = 'User sleep'")
		[ "$got" = 1 ] && return 0
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

test_expect_success 'setup: a user reached over TCP, with a password' '
	my_sql "create user rx@127.0.0.1 identified by \"pw\"; create user rx@localhost identified by \"pw\"" &&
	MYSQL_PWD=pw rx-extract --mysql "$tcp" --query "select current_user() as u" >actual &&
	printf "%s\n" "{\"u\":\"rx@127.0.0.1\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

ssl_version='select variable_value as v from information_schema.session_status where variable_name = "Ssl_version"'

test_expect_success 'without TLS settings the connection is in clear' '
	MYSQL_PWD=pw rx-extract --mysql "$tcp" --query "$ssl_version" >actual &&
	printf "%s\n" "{\"v\":\"\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'ssl-ca: TLS, the certificate and the host name checked' '
	MYSQL_PWD=pw rx-extract --mysql "$tcp ssl-ca=$MY_CA" --query "$ssl_version" >actual &&
	rows_of actual >v &&
	test_grep "\"v\":\"TLSv1\.[23]\"" v &&
	MYSQL_PWD=pw rx-extract --mysql "$tcp ssl-mode=verify-identity ssl-ca=$MY_CA" --query "$ssl_version" >actual &&
	test_grep "TLSv1" actual
'

test_expect_success 'tls-version restricts the protocol' '
	MYSQL_PWD=pw rx-extract --mysql "$tcp ssl-ca=$MY_CA tls-version=TLSv1.2" --query "$ssl_version" >actual &&
	test_grep "\"v\":\"TLSv1.2\"" actual
'

test_expect_success 'a certificate from another CA is refused' '
	(cd "$TRASH/tls" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=other -keyout other.key -out other.pem) >/dev/null 2>&1 &&
	test_expect_code 1 env MYSQL_PWD=pw rx-extract --mysql "$tcp ssl-ca=$TRASH/tls/other.pem" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: cannot connect to MySQL: .*certificate" err
'

test_expect_success 'rx-push connects with the same TLS settings, and refuses a wrong CA the same way' '
	my_sql "create table tls_dest (id int primary key, v text); grant all on rx.tls_dest to rx@127.0.0.1" &&
	echo "{\"op\":\"upsert\",\"key\":\"1\",\"hash\":\"h\",\"row\":{\"id\":1,\"v\":\"over TLS\"}}" >change &&
	MYSQL_PWD=pw rx-push --profile mysql --url "$tcp database=rx ssl-ca=$MY_CA" --table tls_dest --key id <change >acks &&
	test_lines 1 acks &&
	test "$(my_query "select v from tls_dest")" = "over TLS" &&
	test_expect_code 1 env MYSQL_PWD=pw rx-push --profile mysql --url "$tcp database=rx ssl-ca=$TRASH/tls/other.pem" \
		--table tls_dest --key id <change >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "^rx-push: cannot connect to MySQL: .*certificate" err
'

test_expect_success 'ssl-mode=required encrypts without checking; a bad ssl-mode is refused' '
	MYSQL_PWD=pw rx-extract --mysql "$tcp ssl-mode=required" --query "$ssl_version" >actual &&
	test_grep "TLSv1" actual &&
	test_expect_code 1 rx-extract --mysql "$tcp ssl-mode=verify-ca" --query "select 1" 2>err &&
	test_grep "^rx-extract: conninfo: ssl-mode: .verify-ca. is not disabled, required or verify-identity" err
'

test_expect_success 'no server there: exit 1, one line' '
	test_expect_code 1 rx-extract --mysql "socket=$TRASH/nosuch.sock user=root" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: cannot connect to MySQL: Can.t connect to local server through socket .*nosuch.sock. (2) (error 2002" err
'

test_expect_success 'an unknown database: exit 1' '
	test_expect_code 1 rx-extract --mysql "socket=$MY_SOCK user=root database=nosuch" --query "select 1" 2>err &&
	test_grep "^rx-extract: cannot connect to MySQL: Unknown database .nosuch. (error 1049, SQLSTATE 42000)" err
'

test_expect_success 'the connection killed mid-stream: exit 1, no end record' '
	{ rx-extract --mysql "$MY_CONN" --query "$slow_model" >out 2>err; echo $? >status; } &
	wait_for_sleep &&
	my_sql "select id into @victim from information_schema.processlist where state = \"User sleep\"; kill @victim" &&
	wait &&
	echo 1 >expect &&
	test_cmp expect status &&
	test_lines 1 err &&
	test_grep "^rx-extract: query failed after [0-9]* rows (the output is incomplete): " err &&
	! grep -q "\"\\\$rx\"" out
'

test_expect_success 'the server crashed mid-stream: exit 1, no end record' '
	{ rx-extract --mysql "$MY_CONN" --query "$slow_model" >out 2>err; echo $? >status; } &
	wait_for_sleep &&
	my_stop crash &&
	wait &&
	echo 1 >expect &&
	test_cmp expect status &&
	test_grep "^rx-extract: query failed after [0-9]* rows (the output is incomplete): Lost connection" err &&
	! grep -v "^rx-extract: " err &&
	! grep -q "\"\\\$rx\"" out
'

test_expect_success 'and then refused, over TCP and the socket: exit 1' '
	test_expect_code 1 rx-extract --mysql "$tcp connect-timeout=5" --query "select 1" 2>err &&
	test_grep "^rx-extract: cannot connect to MySQL: Can.t connect to server on .127.0.0.1. (11[15]) (error 2002" err &&
	test_expect_code 1 rx-extract --mysql "$MY_CONN" --query "select 1" 2>err &&
	test_grep "^rx-extract: cannot connect to MySQL: " err
'

test_done
