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
	jq -c "{key, hash, op}"
}

test_expect_success 'a run that read no rows does not record an empty column set' '
	printf "{\"id\":1,\"v\":\"a\"}\n{\"id\":2,\"v\":\"b\"}\n" >rows &&
	rx-diff --state e.db --key id --mode mirror <rows | ack_all | rx-diff --state e.db --commit &&
	rx-diff --state e.db --key id --mode mirror --max-delete-ratio 1 </dev/null >deletes &&
	test_lines 2 deletes &&
	ack_all <deletes | rx-diff --state e.db --commit &&
	rx-diff --state e.db --key id --mode mirror <rows >again 2>err &&
	test_lines 2 again &&
	test_must_be_empty err
'

test_done
