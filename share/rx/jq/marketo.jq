# marketo.jq - Marketo (Adobe) leads: the programs of
# share/rx/destinations/marketo-leads.json.
#
# Follows Adobe's Marketo REST pages (AdobeDocs/marketo-developer.en,
# help/rest-api/leads.md, error-codes.md, authentication.md), as
# summarised in destinations-2.md section 17:
#   POST /rest/v1/leads.json {"action","lookupField","input":[..300]}
#   POST /rest/v1/leads/delete.json {"input":[{"id"}]}
# Errors come at three levels, nearly all inside an HTTP 200: the request
# ("success": false, "errors":[{"code":"6xx"|"7xx","message"}] -- nothing
# was done: 601/602 a bad or expired token, 606 the 100-calls-in-20-s
# limit, 607 the daily quota, 615 ten calls at once), and the record
# ("success": true, "result" in the input's order, each "created",
# "updated", "deleted" or "skipped" with "reasons":[{"code":"1xxx"}]).
#
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"success":true,"result":[{"id":50,"status":"created"},
#          {"status":"skipped","reasons":[{"code":"1006","message":"Field x not found"}]}]},"records":[{},{}]}' |
#   jq -c -L share/rx/jq 'include "marketo"; marketo_response'

# The bodies are templates in marketo-leads.json: the row is the lead as
# Marketo names its fields (REST API names), sent as its own text, with
# the op's action (insert createOnly, update updateOnly, upsert
# createOrUpdate); $vars.lookup_field finds it (email by default).  A
# delete names the lead by Marketo's own id: the row's "id".

def _marketo_reasons: [(.reasons // [])[] | "\(.code) \(.message)"] | join("; ");

# Request-level errors (success false): what rx-push should do.
def marketo_request_error:
  ((.body.errors // [])[0] // {}) as $e
  | ($e.code | tostring) as $c
  | ("Marketo \($c): \($e.message // "no message")") as $m
  | if $c == "601" or $c == "602" then {action: "auth", message: "\($m) (the access token; check the custom service's client id and secret)"}
    elif $c == "606" then {action: "throttle", message: $m}
    elif $c == "615" then {action: "throttle", wait: 1, message: $m}
    elif $c == "607" then {action: "quota", message: "\($m) (it resets at midnight US Central time)"}
    elif $c == "604" or $c == "608" or $c == "611" or $c == "713" or $c == "502" then {action: "retry", message: $m}
    elif $c == "603" then {action: "auth", message: "\($m) (the API user's role lacks a permission: Read-Write Lead)"}
    else {action: "reject", message: $m}
    end;

def marketo_reply(results):
  if .status == 200 and (.body | type) == "object" then
    if .body.success == true then
      if (.body.result | type) == "array" then results
      else {action: "reject", message: "a reply rx-push does not understand (success without result)"} end
    elif .body.success == false then marketo_request_error
    else {action: "reject", message: "a reply rx-push does not understand (no success member)"}
    end
  else null
  end;

# Positional: result[i] is input[i].
def marketo_response:
  marketo_reply([.body.result[] |
    if .status == "created" or .status == "updated" then {ok: true, id: .id}
    else {ok: false, message: "Marketo \(.status // "did not say"): \(_marketo_reasons)"} end]);

# A lead already gone (1004, not found) is what a delete wants; a record
# without the lead's id cannot be deleted at all.
def marketo_delete_response:
  .records as $recs
  | marketo_reply([.body.result | to_entries[] | .key as $i | .value |
      if $recs[$i].row.id == null then {ok: false, message: "a Marketo delete needs the lead's id (the row's id): this row has none"}
      elif .status == "deleted" then {ok: true}
      elif ((.reasons // [])[0].code | tostring) == "1004" then {ok: true}
      else {ok: false, message: "Marketo \(.status // "did not say"): \(_marketo_reasons)"} end]);
