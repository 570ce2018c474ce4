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
# A record is the Airtable record whose merge field(s) hold the row's
# values: PATCH merges the row's fields into it, or creates it (a null
# clears its cell, so a value that became null in the model is cleared).  No
# Airtable record id is needed to write; deleting needs one (issue 12).
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"records":[{"id":"rec1","fields":{"Customer ID":"C1"}}]},"records":[{"row":{"Customer ID":"C1"}}]}' |
#   jq -c -L share/rx/jq --argjson vars '{"merge_on":"Customer ID","throttle_wait":"30"}' 'include "airtable"; airtable_response'

def _at_merge: $vars.merge_on | split(",") | map(sub("^\\s+"; "") | sub("\\s+$"; ""));

def airtable_body:
  {performUpsert: {fieldsToMergeOn: _at_merge},
   records: [.records[] | {fields: (.row // {})}],
   typecast: ($vars.typecast == "true")};

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
