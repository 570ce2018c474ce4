# airtable.jq - Airtable Web API, "Update multiple records" with
# performUpsert (share/rx/destinations/airtable-upsert.json).
#
# Follows Airtable's reference (https://airtable.com/developers/web/api/update-multiple-records:
# PATCH with performUpsert.fieldsToMergeOn, 1 to 3 fields; at most 10
# records a request; the reply's records with their ids, createdRecords
# and updatedRecords) and its rate limits
# (https://airtable.com/developers/web/api/rate-limits: 5 requests a
# second per base; a 429 means waiting 30 seconds), as summarised in
# destinations-2.md section 20.
#
# Deleting follows "Delete multiple records"
# (https://airtable.com/developers/web/api/delete-multiple-records:
# DELETE with records[] naming up to 10 record ids) and the lookup "List
# records" (https://airtable.com/developers/web/api/list-records:
# filterByFormula, pageSize of at most 100, an offset for the next page).
#
# A record is the Airtable record whose merge field(s) hold the row's
# values: PATCH merges the row's fields into it, or creates it (a null
# clears its cell, so a value that became null in the model is cleared).  No
# Airtable record id is needed to write; deleting needs one: the upsert's
# ack carries it, rx keeps it, and a delete sends it (a delete without one
# is first looked up by its merge values, airtable_lookup_query).
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"records":[{"id":"rec1","fields":{"Customer ID":"C1"}}]},"records":[{"row":{"Customer ID":"C1"}}]}' |
#   jq -c -L share/rx/jq --argjson vars '{"merge_on":"Customer ID","throttle_wait":"30"}' 'include "airtable"; airtable_response'

def _at_merge: $vars.merge_on | split(",") | map(sub("^\\s+"; "") | sub("\\s+$"; ""));

# The upserts' body is a template (airtable-upsert.json):
# {performUpsert: {fieldsToMergeOn: _at_merge}, records: [{fields: .row
# // {}} for each record], typecast: ($vars.typecast == "true")}, the
# merge fields split and trimmed as _at_merge does when the profile loads.

# 200: every record merged or created; each ack carries its Airtable
# record id, found by its merge values (whether the reply keeps the
# request's order is not documented).  One bad record fails the whole
# request (422, without naming the record): its records are
# dead-lettered, and re-driving them one at a time (rx-push
# --max-records 1 < dead-letters) finds the bad one.  429: everyone waits
# Airtable's 30 s.
def airtable_response:
  if .status == 200 and (.body | type) == "object" and (.body.records | type) == "array" then
    _at_merge as $m
    | (.body.records | map({key: ([.fields[$m[]]] | tojson), value: .id}) | from_entries) as $ids
    | if (.body.records | length) != (.records | length) then
        {action: "reject", message: "a reply rx-push does not understand: \(.body.records | length) records for \(.records | length)"}
      else [.records[] | ([.row[$m[]]] | tojson) as $k
            | if $ids[$k] then {ok: true, id: $ids[$k]}
              else {ok: false, message: "the reply does not name this record (its \($m | join(", ")) is \($k))"} end]
      end
  elif .status == 429 then {action: "throttle", wait: ($vars.throttle_wait | tonumber), message: "RATE_LIMIT_REACHED"}
  elif .status == 401 or .status == 403 or .status == 404 then
    {action: "auth", message: (.body.error | if type == "object" then "\(.type): \(.message // "")" else tostring end)}
  elif .status == 422 or .status == 400 then
    {action: "reject", message: "Airtable refused the request (\(.body.error | if type == "object" then "\(.type): \(.message // "")" else tostring end)); one of its records is bad: re-drive the dead letters with --max-records 1 to find which"}
  elif .status == 413 then {action: "reject", message: "the request is too large for Airtable"}
  else null end;

# The merge values of a record as Airtable compares them in a formula:
# {Field}='text' (quotes and backslashes escaped), a number as itself, a
# boolean as TRUE()/FALSE(); null when a merge field has no value (such a
# record has nothing to be found by).
def _at_literal:
  if type == "string" then "'" + (gsub("\\\\"; "\\\\") | gsub("'"; "\\'")) + "'"
  elif type == "number" then tostring
  elif type == "boolean" then (if . then "TRUE()" else "FALSE()" end)
  else null end;

def _at_condition($m):
  (.row // {}) as $r
  | [$m[] | . as $f | ($r[$f] | _at_literal) as $v | if $v == null then null else "{\($f)}=\($v)" end]
  | if any(.[]; . == null) then null elif length == 1 then .[0] else "AND(\(join(",")))" end;

# The lookup of records rx has no Airtable id for (a delete of a record
# synced before rx kept ids): "List records" (GET /v0/BASE/TABLE, its
# query parameters from this object) with filterByFormula matching the
# merge fields; null (nothing sent, not found) when no record has them.
def airtable_lookup_query:
  _at_merge as $m
  | [.records[] | _at_condition($m) | select(. != null)]
  | if length == 0 then null
    else {filterByFormula: (if length == 1 then .[0] else "OR(\(join(",")))" end), pageSize: "100"}
    end;

# Its answer: each record's id by its merge values; null when none
# matches; an error when two records of the table match (which one to
# delete is not guessed), or when the reply has another page (offset)
# and the record is not on this one.
def airtable_lookup_ids:
  if .status == 200 and (.body | type) == "object" and (.body.records | type) == "array" then
    _at_merge as $m
    | (.body.offset != null) as $more
    | (reduce .body.records[] as $r ({}; .[[$r.fields[$m[]]] | tojson] += [$r.id])) as $by
    | [.records[] | ([.row[$m[]]?] | tojson) as $k | ($by[$k] // []) as $ids
       | if _at_condition($m) == null then null
         elif ($ids | length) == 1 then $ids[0]
         elif ($ids | length) > 1 then {error: "\($ids | length) Airtable records have \($m | join(", ")) = \($k) (\($ids | join(", "))): which one to delete is not guessed"}
         elif $more then {error: "the lookup's reply has more pages than one"}
         else null end]
  elif .status == 429 then {action: "throttle", wait: ($vars.throttle_wait | tonumber), message: "RATE_LIMIT_REACHED"}
  elif .status == 401 or .status == 403 or .status == 404 then
    {action: "auth", message: (.body.error | if type == "object" then "\(.type): \(.message // "")" else tostring end)}
  elif .status == 422 then
    {action: "reject", message: "Airtable refused the lookup's formula (\(.body.error | if type == "object" then "\(.type): \(.message // "")" else tostring end))"}
  else null end;

# "Delete multiple records" (DELETE /v0/BASE/TABLE?records[]=rec…): 200
# {"records": [{"deleted": true, "id": "rec…"}]}, as recorded from the
# live API (grouparoo/grouparoo, plugins/@grouparoo/airtable/__tests__/
# fixtures/*/export-records.js, January 2022).  A record is acked when the
# reply lists its id as deleted; one the reply does not list, or lists
# with "deleted" other than true (no source shows such a reply), is not
# taken for deleted: a dead letter saying so.
#
# A record already gone: Airtable's errors page says a 404 is "returned
# ... if the resource doesn't exist (e.g. has been deleted)", and the
# recorded reply for a deleted record's id (GET, same fixtures) is 404
# {"error": {"type": "MODEL_ID_NOT_FOUND", "message": "Record not found"}},
# naming no id; whether DELETE with records[] answers the same is not
# documented.  So a 404 MODEL_ID_NOT_FOUND whose message is about a
# record (not a table, base, view or field: a table id is a model id too)
# to a request of one record acks it (that record is the one not found).  To a request of several, a
# record whose id the message names is acked (gone) and the others are
# sent again without it; when the message names none, which record is
# gone is unknown (and nothing says the others were deleted): all are
# dead letters, to be re-driven one a request (--max-records 1), where
# each gets a certain answer.  Any other 404 (no such base or table, a
# route), 401 and 403 stop the run.
def airtable_delete_response:
  if .status == 200 and (.body | type) == "object" and (.body.records | type) == "array" then
    (.body.records | map(select(type == "object" and (.id | type) == "string") | {key: .id, value: .deleted}) | from_entries) as $done
    | [.records[] | (.id | tostring) as $id
       | if $done[$id] == true then {ok: true}
         elif $done | has($id) then {ok: false, message: "Airtable did not delete \($id) (its reply says deleted: \($done[$id] | tojson))"}
         else {ok: false, message: "a reply rx-push does not understand: it does not name \($id) as deleted"} end]
  elif .status == 404 and (.body.error | type) == "object" and .body.error.type == "MODEL_ID_NOT_FOUND"
       and (.body.error.message // "" | tostring | test("record|row"; "i") and (test("table|base|view|field"; "i") | not)) then
    (.body.error.message // "" | tostring) as $msg
    | if (.records | length) == 1 then {action: "ack"}
      else [.records[] | (.id | tostring) as $id | .id != null and ($msg | contains($id))] as $named
      | if ($named | any | not) then
          [.records[] | {ok: false, message: "Airtable found no record for one of this request's ids (\($msg)) and does not say which: re-drive the dead letters with --max-records 1 (a record already gone is then acked)"}]
        else [$named[] | if . then {ok: true} else {retry: true, message: $msg} end]
        end
      end
  elif .status == 429 then {action: "throttle", wait: ($vars.throttle_wait | tonumber), message: "RATE_LIMIT_REACHED"}
  elif .status == 401 or .status == 403 or .status == 404 then
    {action: "auth", message: (.body.error | if type == "object" then "\(.type): \(.message // "")" else tostring end)}
  elif .status == 422 or .status == 400 then
    (.body.error | if type == "object" then "\(.type): \(.message // "")" else tostring end) as $why
    | [.records[] | {ok: false, message: "Airtable refused the delete (\($why))"}]
  else null end;
