#!/bin/sh
# rx-diff hashes rows on several threads (--threads).  Whatever the
# number, a run must read exactly as one thread would: the same changes,
# the same dead letters in input order, the same first bad line.  The
# model here spans many of the 256 KB batches the threads share out.
. "$(dirname "$0")/lib.sh"

# 20000 rows of about 200 bytes, with null keys, missing keys and
# duplicates spread through it, and member order varying: 19948 rows
# with a good key, 52 dead letters

make_model () {
	awk 'BEGIN {
		for (i = 1; i <= 20000; i++) {
			id = i
			if (i % 997 == 0) id = "null"
			if (i % 1499 == 0) id = i - 700
			pad = sprintf("%0120d", i)
			if (i % 3 == 0)
				printf "{\"pad\":\"%s\",\"n\":%d.50,\"id\":%s}\n", pad, i, id
			else if (i % 2311 == 0)
				printf "{\"pad\":\"%s\",\"n\":%d.5}\n", pad, i
			else
				printf "{\"id\":%s,\"n\":%d.5e0,\"pad\":\"%s\"}\n", id, i, pad
		}
	}'
}

# dead letters without their time stamps
strip_at () {
	sed 's/,"at":"[^"]*"//' "$1"
}

test_expect_success 'setup: a model of many batches' '
	make_model >model &&
	test $(wc -c <model) -gt 2000000
'

for t in 1 2 3 8; do
	test_expect_success "--threads $t: same changes and dead letters as one thread" "
		rx-diff --state s$t.db --key id --threads $t <model >changes$t 2>dead$t
		test \$? = 3 &&
		test_lines 19948 changes$t &&
		test_lines 52 dead$t &&
		norun changes1 >c1 && norun changes$t >c$t &&
		test_cmp c1 c$t &&
		strip_at dead1 >d1 && strip_at dead$t >d$t &&
		test_cmp d1 d$t
	"
done

test_expect_success 'merged from many sorted runs (small chunks): the same result' '
	for t in 1 4; do
		RX_DIFF_CHUNK=20000 rx-diff --state c$t.db --key id --threads $t <model >cchanges$t 2>cdead$t
		test $? = 3 &&
		norun cchanges$t >cc$t &&
		test_cmp c1 cc$t &&
		strip_at cdead$t >cd$t &&
		test_cmp d1 cd$t || return 1
	done
'

test_expect_success 'and the same on the run after, against a snapshot (rows in the spool)' '
	jq -c "{key, hash, run, op}" <cchanges1 | rx-diff --state c1.db --commit &&
	sed "s/\"pad\":\"0000/\"pad\":\"1111/" model >model2 &&
	rx-diff --state c1.db --key id --threads 1 <model2 >next1 2>/dev/null
	test $? = 3 &&
	jq -c "{key, hash, run, op}" <cchanges4 | rx-diff --state c4.db --commit &&
	RX_DIFF_CHUNK=20000 rx-diff --state c4.db --key id --threads 4 <model2 >next4 2>/dev/null
	test $? = 3 &&
	test_lines 19948 next4 &&
	norun next1 >n1 && norun next4 >n4 &&
	test_cmp n1 n4
'

test_expect_success 'keyless rows are dead-lettered in input order, each naming its line' '
	jq -r ".error.message | select(test(\"missing or null\")) | capture(\"^line (?<n>[0-9]+):\").n" \
		<dead1 >lines &&
	test_lines 26 lines &&
	sort -n lines >sorted &&
	test_cmp sorted lines &&
	head -n 1 lines >first &&
	echo 997 >expect &&
	test_cmp expect first
'

test_expect_success 'a second run with 3 threads against the 1-thread state: nothing changed' '
	jq -c "{key, hash, run, op}" <changes1 | rx-diff --state s1.db --commit &&
	rx-diff --state s1.db --key id --threads 3 <model >again 2>/dev/null
	test $? = 3 &&
	test_must_be_empty again
'

test_expect_success 'a bad row deep in the input: its line is named, nothing is emitted' '
	sed "15321s/.*/{\"id\":15321,oops}/" model >bad &&
	for t in 1 4; do
		test_expect_code 65 rx-diff --state bad$t.db --key id --threads $t <bad >out$t 2>err$t &&
		test_must_be_empty out$t &&
		grep "^rx-diff: line 15321: cannot parse the row" err$t || return 1
	done &&
	strip_at err1 >e1 && strip_at err4 >e4 &&
	test_cmp e1 e4
'

test_expect_success '--max-invalid stops at the same row whatever the threads' '
	for t in 1 4; do
		test_expect_code 65 rx-diff --state mi$t.db --key id --threads $t --max-invalid 10 <model >out$t 2>err$t &&
		test_must_be_empty out$t || return 1
	done &&
	strip_at err1 >e1 && strip_at err4 >e4 &&
	test_cmp e1 e4 &&
	grep -c "\"stage\":\"rx-diff\"" err1 >count &&
	echo 11 >expect &&
	test_cmp expect count
'

test_expect_success 'a line over --max-line: named once, nothing emitted, whatever the threads' '
	awk "BEGIN { for (i = 1; i <= 3000; i++) printf \"{\\\"id\\\":%d,\\\"v\\\":\\\"%0*d\\\"}\\n\", i, (i == 2500 ? 2000 : 10), i }" >long &&
	echo "rx-diff: line 2500: longer than the limit of 1000 bytes (see --max-line)" >expect &&
	for t in 1 4; do
		test_expect_code 65 rx-diff --state long$t.db --key id --threads $t --max-line 1000 <long >out 2>err &&
		test_must_be_empty out &&
		test_cmp expect err || return 1
	done
'

test_expect_success '--threads must be a number from 1 to 64' '
	test_expect_code 2 rx-diff --state x.db --key id --threads 0 </dev/null 2>err &&
	grep "^rx-diff: --threads" err &&
	test_expect_code 2 rx-diff --state x.db --key id --threads lots </dev/null 2>err &&
	grep "^rx-diff: --threads" err
'

test_done
