# salesforce.jq - the programs of the salesforce profile, after Salesforce's
# REST API sObject Collections and SOQL query resources:
#   https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html
#   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm
#   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm  (Sforce-Limit-Info)
#   https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
# and rx's ../shared/reference/destinations.md section 2 and
# destinations-2.md section 33.
#
# A record is upserted by its external id ($vars.external_id, a field of
# the sObject $vars.sobject marked External ID): the row's value of that
# field, or the sync key when the row has none.  Salesforce answers 200
# with one result per record, in order, each naming the record's Id; rx
# keeps it (the ack's id) and deletes by it later (DELETE ?ids=).  A
# record to delete or update without a known Id is first found by its
# external id with SOQL (GET /query?q=SELECT Id, ... WHERE ... IN (...)).
#
#   jq -L share/rx/jq 'include "salesforce"; salesforce_results' reply.json

# The external id value of a record.
def salesforce_external_id($vars): .row[$vars.external_id] // .key | tostring;

# A SOQL string literal: backslash and quote escaped.
def salesforce_soql_string: "'" + (tostring | gsub("\\\\"; "\\\\") | gsub("'"; "\\'")) + "'";

# PATCH composite/sobjects/{sobject}/{external_id}: at most 200 records of
# one type, each with attributes.type and its external id; never an Id.
def salesforce_upsert_body($vars):
  {allOrNone: false,
   records: [.records[] | salesforce_external_id($vars) as $x
             | {attributes: {type: $vars.sobject}} + (.row | delpaths([["Id"], ["id"]])) + {($vars.external_id): $x}]};

# PATCH composite/sobjects: an update by Salesforce Id (the field is "id").
def salesforce_update_body($vars):
  {allOrNone: false,
   records: [.records[] | {attributes: {type: $vars.sobject}} + (.row | delpaths([["Id"], ["id"], [$vars.external_id]]))
             + {id: (.id | tostring)}]};

# The lookup: the Ids of records by their external ids, one SOQL query
# (GET: these are its query parameters).
def salesforce_lookup_body($vars):
  {q: ("SELECT Id, \($vars.external_id) FROM \($vars.sobject) WHERE \($vars.external_id) IN ("
       + ([.records[] | salesforce_external_id($vars) | salesforce_soql_string] | unique | join(", ")) + ")")};

# Salesforce's errors of a record, as one line.
def salesforce_message:
  [.errors[]? | "\(.statusCode // "ERROR"): \(.message // "")" + (if (.fields // []) | length > 0 then " (\(.fields | join(", ")))" else "" end)]
  | if length == 0 then "Salesforce refused the record (no error given)" else join("; ") end;

# A whole request refused: [{"message","errorCode"}] (or an object).
def salesforce_request_error:
  (if (.body | type) == "array" then .body[0] elif (.body | type) == "object" then .body else {} end) as $e
  | ($e.errorCode // $e.error // "") as $code
  | if .status == 401 or $code == "INVALID_SESSION_ID" then {action: "auth", message: ($e.message // "Session expired or invalid")}
    elif $code == "REQUEST_LIMIT_EXCEEDED" then {action: "quota", message: "REQUEST_LIMIT_EXCEEDED: \($e.message // "")"}
    elif .status == 503 or $code == "SERVER_UNAVAILABLE" then {action: "retry", message: ($e.message // "SERVER_UNAVAILABLE")}
    else {action: "reject", message: "\($code): \($e.message // "Salesforce refused the request")"}
    end;

# Per-record failures worth another try: a row locked by another
# transaction.
def salesforce_retryable: [.errors[]?.statusCode] | any(. == "UNABLE_TO_LOCK_ROW");

# The answer to an upsert or an update: one result per record, in order.
def salesforce_results:
  if .status == 200 and (.body | type) == "array" then
    [.body[] | if .success == true then {ok: true, id: .id} + (if .created == null then {} else {created: .created} end)
               elif salesforce_retryable then {retry: true, message: salesforce_message}
               else {ok: false, message: salesforce_message} end]
  else salesforce_request_error
  end;

# The answer to a delete by Ids, in the order of ?ids=: a record already
# deleted (in the recycle bin) is gone, as asked.
def salesforce_delete_results:
  if .status == 200 and (.body | type) == "array" then
    [.body[] | if .success == true then {ok: true}
               elif [.errors[]?.statusCode] | any(. == "ENTITY_IS_DELETED") then {ok: true}
               elif salesforce_retryable then {retry: true, message: salesforce_message}
               else {ok: false, message: salesforce_message} end]
  else salesforce_request_error
  end;

# The lookup's answer: each record's Id, or null when no record has its
# external id (compared as Salesforce does, without regard to case).
def salesforce_lookup_ids($vars):
  if .status == 200 and (.body | type) == "object" then
    ([.body.records[]? | {key: (.[$vars.external_id] | tostring | ascii_downcase), value: .Id}] | from_entries) as $found
    | [.records[] | $found[salesforce_external_id($vars) | ascii_downcase] // null]
  else salesforce_request_error
  end;
