#!/bin/sh
# rx-extract --mysql streams: 1,000,000 rows (about 130 MB of NDJSON)
# pass through in a few megabytes, and every row arrives.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

[ -x /usr/bin/time ] || test_skip_all 'no /usr/bin/time (package time)'

my_start

# under ASan (make check-asan) freed memory sits in a quarantine of 256 MB
# by default: keep it small so that the figure measures the program
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
export ASAN_OPTIONS

model="select seq as id, concat('user', seq, '@example.com') as email, seq * 1.5 as ltv,
  repeat('x', 60) as pad, seq % 2 = 0 as active from seq_1_to_1000000"

test_expect_success '1,000,000 rows stream with flat memory' '
	{ /usr/bin/time -f %M -o rss rx-extract --mysql "$MY_CONN" --query "$model"; echo $? >status; } |
		tail -n 2 >last2 &&
	head -n 1 last2 >last &&
	tail -n 1 last2 >end &&
	test_end 1000000 end &&
	echo 0 >expect &&
	test_cmp expect status &&
	echo "{\"id\":1000000,\"email\":\"user1000000@example.com\",\"ltv\":1500000.0,\"pad\":\"$(printf "%060d" 0 | tr 0 x)\",\"active\":1}" >expect &&
	test_cmp expect last &&
	rss=$(tail -n 1 rss) &&
	echo "peak RSS: $rss KB" &&
	test "$rss" -lt 100000
'

test_expect_success 'and the count is exact' '
	{ rx-extract --mysql "$MY_CONN" --query "$model"; echo $? >status; } | wc -l >count &&
	echo 0 >expect &&
	test_cmp expect status &&
	echo 1000001 >expect &&
	tr -d " " <count >count2 &&
	test_cmp expect count2
'

test_done
