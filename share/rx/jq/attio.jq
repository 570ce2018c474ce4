# attio.jq - the programs of the attio-records profile, after Attio's REST
# API v2 records endpoints:
#   https://docs.attio.com/rest-api/endpoint-reference/records/assert-a-record
#   https://docs.attio.com/rest-api/endpoint-reference/records/list-records  (query, filter)
#   https://docs.attio.com/rest-api/endpoint-reference/records/delete-a-record
#   https://docs.attio.com/rest-api/guides/rate-limiting  (Retry-After: an HTTP date)
# and rx's ../shared/reference/destinations-2.md section 32.
#
# A record is asserted (created or updated) by its matching attribute
# ($vars.match, a unique attribute of the object: email_addresses for
# people, domains for companies), one a request; Attio answers with its
# record_id, which rx keeps and deletes by.  A delete whose record_id rx
# does not know is first found by a query on the matching attribute.
#
#   jq -L share/rx/jq 'include "attio"; attio_result' reply.json

# The row as Attio values: each attribute a list of values (a list is
# kept, a single value wrapped, null or "" clears the attribute).
# (Written with reduce over the members that are not lists yet, not with
# with_entries and |=: jq 1.6's path tracking cost several times more.)
def attio_values:
  . as $r | reduce (keys_unsorted[] | select($r[.] | type != "array")) as $k (.;
    . + {($k): ($r[$k] | if . == null or . == "" then [] else [.] end)});

def attio_assert_body: {data: {values: (.records[0].row | attio_values)}};

# The record's value of the matching attribute (the first, for a list).
def attio_match_value($vars):
  .row[$vars.match] | if type == "array" then .[0] else . end
  | if type == "object" then (.email_address // .domain // .value // null) else . end;

# The lookup (for a delete rx has no record_id for): null, so that
# nothing is sent, when the record has no value to match on.
def attio_query_body($vars):
  (.records[0] | attio_match_value($vars)) as $v
  | if $v == null or $v == "" then null else {filter: {($vars.match): $v}, limit: 2} end;

def attio_error: .body.message // "Attio refused the request";

def attio_common:
  if .status == 429 then {action: "throttle"}
  elif .status == 401 or .status == 403 then {action: "auth", message: attio_error}
  elif .status == 409 then {action: "retry", message: attio_error}
  else null
  end;

def attio_result:
  if .status == 200 and (.body.data.id.record_id | type) == "string" then [{ok: true, id: .body.data.id.record_id}]
  elif .status == 400 or .status == 404 or .status == 422 then [{ok: false, message: "\(.body.code // .status): \(attio_error)"}]
  else attio_common
  end;

def attio_query_ids($vars):
  if (.records[0] | attio_match_value($vars)) == null then [null]
  elif .status == 200 then
    [.body.data[]?.id.record_id] as $ids
    | if ($ids | length) <= 1 then [$ids[0]]
      else [{error: "\($ids | length) Attio records match: which one is meant is not guessed"}] end
  else attio_common
  end;

# A delete: done, or already gone (404).
def attio_delete_result:
  if .status == 200 or .status == 204 or .status == 404 then {action: "ack"}
  else attio_common
  end;
