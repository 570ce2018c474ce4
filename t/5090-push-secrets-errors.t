#!/bin/sh
# Secrets never leave in what rx-push writes; permanent errors are exit 1,
# not "try again later"; and the small ways a record could be lost or a
# stream broken (issue 11, cases 11 to 13).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

mkdir -p profiles
export RX_PROFILE_PATH=$TRASH/profiles
for kind in bearer basic header query; do
	case $kind in
	bearer) auth='{"type":"bearer","token_env":"T_SECRET"}' ;;
	basic) auth='{"type":"basic","user":"api","password_env":"T_SECRET"}' ;;
	header) auth='{"type":"header","name":"X-Api-Key","value_env":"T_SECRET"}' ;;
	query) auth='{"type":"query","name":"key","value_env":"T_SECRET"}' ;;
	esac
	echo "{\"auth\":$auth,\"retry_statuses\":[]}" >profiles/$kind.json
done
change () { printf '{"op":"upsert","key":"%s","hash":"%064d","row":{"id":"%s"}}\n' "$1" 0 "$1"; }
change K1 >one

reply_start echo -- --status 400 --echo-headers || exit 1
reply_start says -- --status 401 --body '{"message":"the token WSECRET123/x is not valid"}' || exit 1

for kind in bearer basic header query; do
	test_expect_success "a server that echoes the request's headers: the $kind secret is not in the dead letter" "
		{ T_SECRET='WSECRET123/x' rx-push --profile $kind --url \"\$(cat echo.url)\" <one >acks 2>err; test \$? = 3; } &&
		test_grep 'you_sent' err &&
		! grep -q 'WSECRET123' err &&
		! grep -q 'V1NFQ1JFVDEyMy94\|YXBpOldTRUNSRVQxMjMveA\|WSECRET123%2Fx' err &&
		test_grep '\*\*\*' err
	"
done

test_expect_success 'a 401 names what the destination said, without the secret' '
	test_expect_code 1 env T_SECRET=WSECRET123/x rx-push --profile bearer --url "$(cat says.url)" <one 2>err &&
	test_grep "refused the credentials (it says: the token \*\*\* is not valid)" err &&
	! grep -q WSECRET123 err
'

test_expect_success 'a secret with a line break is refused: exit 1, nothing sent' '
	: >echo.log &&
	test_expect_code 1 env T_SECRET="abc
X-Injected: 1" rx-push --profile bearer --url "$(cat echo.url)" <one 2>err &&
	test_grep "contains a line break (CR or LF): refusing it" err &&
	test_must_be_empty echo.log
'

test_expect_success 'rx-push leaves no core dump (it holds tokens)' '
	mkfifo in &&
	{ T_SECRET=WSECRET123 rx-push --profile bearer --url "$(cat echo.url)" <in >/dev/null 2>&1 & } &&
	exec 3>in &&
	pid=$(pgrep -n -f "rx-push --profile bearer") &&
	grep "^Max core file size" /proc/$pid/limits >limits &&
	exec 3>&- &&
	wait &&
	test_grep "Max core file size *0 " limits
'

test_expect_success '--insecure says on stderr that certificates are not verified' '
	T_SECRET=WSECRET123 rx-push --profile bearer --url "$(cat echo.url)" --insecure </dev/null 2>err &&
	test_grep "^rx-push: warning: --insecure: TLS certificates are not verified" err
'

test_expect_success 'a URL that is not http or https is refused: exit 1, the file not read' '
	test_expect_code 1 rx-push --profile webhook --url file:///etc/hostname <one >acks 2>err &&
	test_grep "is not http or https" err &&
	! grep -q "$(cat /etc/hostname)" err acks
'

test_expect_success 'a malformed URL: exit 1, not 75' '
	test_expect_code 1 rx-push --profile webhook --url "http://[::1" <one 2>err &&
	test_grep "is malformed" err
'

test_expect_success 'a certificate that does not verify: exit 1, the records unacked' '
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost \
		>/dev/null 2>&1 &&
	reply_start tls -- --tls cert.pem key.pem &&
	url=$(sed s/^http:/https:/ tls.url) &&
	test_expect_code 1 rx-push --profile webhook --url "$url" --retry-base 1 <one >acks 2>err &&
	test_grep "permanent error: not retried" err &&
	test_grep "1 record left unacked" err &&
	rx-push --profile webhook --url "$url" --insecure <one >acks 2>/dev/null &&
	test_lines 1 acks
'

test_expect_success 'a line over --max-line: that line dead-lettered, the rest delivered, exit 65' '
	reply_start ok -- --status 200 &&
	{ change K1 && printf "{\"op\":\"upsert\",\"key\":\"BIG\",\"hash\":\"h\",\"row\":{\"pad\":\"%05000d\"}}\n" 0 &&
	  change K3; } >long &&
	test_expect_code 65 rx-push --profile webhook --url "$(cat ok.url)" --max-line 1024 <long >acks 2>err &&
	test_lines 2 acks &&
	test_grep "line 2: longer than the limit of 1024 bytes" err &&
	grep "^{" err >dead &&
	test_lines 1 dead &&
	jq -e ".record | length == 1024" dead
'

test_expect_success 'and into rx-diff --commit: said, skipped, the acks after it applied, exit 65' '
	{ echo "{\"id\":\"A\"}" && echo "{\"id\":\"B\"}" && echo "{\"\$rx\":\"end\"}"; } >m &&
	rx-diff --state s.db --key id <m >changes &&
	jq -c "{key,hash,run,op}" changes >a &&
	{ head -n 1 a && printf "{\"pad\":\"%05000d\"}\n" 0 && tail -n 1 a; } >acks.long &&
	test_expect_code 65 rx-diff --state s.db --commit --max-line 1024 <acks.long 2>err &&
	test_grep "line 2: longer than the limit" err &&
	test "$(sqlite3 s.db "select count(*) from snapshot")" = 2
'

test_expect_success 'a change without a hash is malformed, the others delivered' '
	{ change K1 && echo "{\"op\":\"upsert\",\"key\":\"K2\",\"row\":{}}"; } >nohash &&
	test_expect_code 65 rx-push --profile webhook --url "$(cat ok.url)" <nohash >acks 2>err &&
	test_lines 1 acks &&
	test_grep "a change without a \"hash\"" err
'

test_expect_success 'a reply that is not UTF-8: the dead letter is still valid JSON' '
	printf "\377\376 refused \300\n" >bad-reply &&
	reply_start binary -- --status 422 --body-file bad-reply &&
	{ rx-push --profile webhook --url "$(cat binary.url)" <one >acks 2>err; test $? = 3; } &&
	grep "^{" err >dead &&
	python3 -c "import json; d = json.loads(open(\"dead\", \"rb\").read().decode(\"utf-8\")); assert \"refused\" in d[\"error\"][\"body\"]"
'

test_expect_success '429s stop the run after --max-throttles, exit 75, the record unacked' '
	reply_start busy -- --status 429 --header "Retry-After: 0" &&
	test_expect_code 75 rx-push --profile webhook --url "$(cat busy.url)" --max-throttles 3 <one >acks 2>err &&
	test_grep "3 times for one request: --max-throttles" err &&
	test "$(wc -l <busy.log)" = 3
'

test_expect_success 'a --budget file is made 0600, like the state' '
	rx-push --profile webhook --url "$(cat ok.url)" --budget b.budget <one >/dev/null &&
	test "$(stat -c %a b.budget)" = 600
'

test_expect_success 'a damaged row dictionary is caught: nothing emitted, nothing sent on it' '
	awk "BEGIN { for (i = 1; i <= 50; i++) printf \"{\\\"id\\\":%d,\\\"v\\\":\\\"row %d\\\"}\\n\", i, i }" >m50 &&
	echo "{\"\$rx\":\"end\"}" >>m50 &&
	rx-diff --state d.db --key id --mode mirror <m50 >c50 &&
	jq -c "{key,hash,run,op}" c50 | rx-diff --state d.db --commit &&
	sqlite3 d.db "update meta set value = zeroblob(length(value)) where name = \"row_dict\"" &&
	grep -v "\"id\":7," m50 >m49 &&
	test_expect_code 1 rx-diff --state d.db --key id --mode mirror <m49 >out 2>err &&
	test_must_be_empty out &&
	test_grep "row dictionary is damaged" err
'

test_done
