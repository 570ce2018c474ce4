#!/bin/sh
# rx-push builds .records for a response, job status or lookup program
# only when it reads them (docs/profiles.md "Response programs"): its own
# text names them, or a function of the profile's modules it calls does,
# or one that function calls.  A function of the same module that reads
# none gets no records (they cost a parse each); one that reads them
# through a helper, however it names them, gets them all.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

cat >two.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","row":{"email":"a@x.com"}}
{"op":"upsert","key":"K2","hash":"h2","row":{"email":"b@x.com"}}
EOF

# m.jq: one function reads the records through a helper (of the module
# h.jq that m.jq includes) that names them without a dot, one reads them
# itself, one reads none (it says which members of its input are empty
# arrays: "records" when none were built).
cat >h.jq <<\EOF
def _m_n: .["records"] | length;
EOF
cat >m.jq <<\EOF
include "rx";
include "h";
def _m_indirect: _m_n;
def m_through_helper:   # calls a function that calls one reading them
  if _m_indirect == .count then [range(0; .count) | {ok: true}]
  else {action: "reject", message: "records not built: \(_m_indirect) of \(.count)"} end;
def m_itself: [.records[] | {ok: true, id: .key}];
def m_none:   # reads no .records: a comment does not count
  {action: "reject", message: "empty: \([to_entries[] | select(.value == []) | .key] | join(","))"};
EOF
profile () { # RESPONSE
	cat >t.json <<-EOF
	{"jq": "m", "max_records": 10, "response": "$1", "ops": {"*": {"template": {"rows": ["{row}"]}}}}
	EOF
}

test_expect_success 'a function reading the records through the functions it calls gets them' '
	reply_start ok -- --status 200 &&
	profile m_through_helper &&
	rx-push --profile ./t.json --url "$(fake_url ok)" <two.ndjson >acks 2>err &&
	test_lines 2 acks
'

test_expect_success 'a function reading them itself gets them' '
	profile m_itself &&
	rx-push --profile ./t.json --url "$(fake_url ok)" <two.ndjson >acks 2>err &&
	jq -r .id acks >ids &&
	printf "K1\nK2\n" >expect &&
	test_cmp expect ids
'

test_expect_success 'a function of the same module that reads none gets none built' '
	profile m_none &&
	test_expect_code 3 rx-push --profile ./t.json --url "$(fake_url ok)" <two.ndjson >acks 2>dead &&
	jq -r .error.message dead | sort -u >msg &&
	echo "HTTP 200: empty: records" >expect &&
	test_cmp expect msg
'

test_expect_success 'a job status program follows the same rule' '
	cat >j.json <<-\EOF &&
	{"jq": "m", "max_records": 10,
	 "ops": {"*": {"template": {"rows": ["{row}"]},
	               "job": {"id": "\"J1\"", "poll": {"path": "/job/{job}"}, "status": "m_through_helper",
	                       "interval": 0.01}}}}
	EOF
	rx-push --profile ./j.json --url "$(fake_url ok)" <two.ndjson >acks 2>err &&
	test_lines 2 acks
'

test_done
