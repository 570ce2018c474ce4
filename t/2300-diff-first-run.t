#!/bin/sh
# The first run of a pipeline opens a state file that does not exist yet
# from both ends at once (the stage and the commit); neither may see it
# half-made.
. "$(dirname "$0")/lib.sh"

test_expect_success 'stage and commit creating one state at the same time, 40 times' '
	printf "{\"id\":1}\n{\"id\":2}\n" >rows &&
	i=0 &&
	while [ $i -lt 40 ]; do
		i=$((i + 1))
		rx-diff --state s$i.db --key id <rows >changes$i 2>err-stage$i &
		rx-diff --state s$i.db --commit </dev/null 2>err-commit$i &
		wait || return 1
		test_lines 2 changes$i || return 1
		test_must_be_empty err-stage$i || return 1
	done
'

test_expect_success 'neither side ever reported a half-made file' '
	! grep -l "not an rx-diff state" err-* /dev/null
'

# acks for every change, as a destination that takes everything would send
ack_all () {
	jq -c "{key, hash, run, op}"
}

test_expect_success 'a run that read no rows does not record an empty column set' '
	printf "{\"id\":1,\"v\":\"a\"}\n{\"id\":2,\"v\":\"b\"}\n" >rows &&
	rx-diff --state e.db --key id --mode mirror --assume-complete <rows | ack_all | rx-diff --state e.db --commit &&
	rx-diff --state e.db --key id --mode mirror --assume-complete --max-delete-ratio 1 </dev/null >deletes &&
	test_lines 2 deletes &&
	ack_all <deletes | rx-diff --state e.db --commit &&
	rx-diff --state e.db --key id --mode mirror --assume-complete <rows >again 2>err &&
	test_lines 2 again &&
	test_must_be_empty err
'

test_expect_success 'the hash ignores member order, also from one row to the next' '
	printf "%s\n" "{\"id\":1,\"a\":1,\"b\":2}" "{\"id\":2,\"b\":2,\"a\":1}" "{\"id\":3,\"a\":1,\"b\":2}" \
		"{\"id\":4,\"a\":2,\"b\":1}" "{\"id\":5,\"a\\u0062\":1,\"b\":2}" "{\"b\":2,\"id\":6,\"a\":1}" \
		"{\"id\":7,\"a\":1.0,\"b\":2e0}" >order.ndjson &&
	rx-diff --state o.db --key id --ignore id <order.ndjson >changes &&
	jq -r .hash changes | sort | uniq -c | awk "{ print \$1 }" | sort -n | tr "\n" " " >counts &&
	printf "1 1 5 " >expect &&
	test_cmp expect counts
'

test_done
