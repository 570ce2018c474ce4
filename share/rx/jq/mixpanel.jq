# mixpanel.jq - Mixpanel user profiles and events: the programs of
# share/rx/destinations/mixpanel-engage.json and mixpanel-import.json.
#
# Follows Mixpanel's Ingestion API reference (its OpenAPI document,
# ../shared/conformance/specs/mixpanel-ingestion.yaml, and
#   https://developer.mixpanel.com/reference/profile-batch-update
#   https://developer.mixpanel.com/reference/import-events)
# as summarised in destinations.md section 4:
#   POST /engage?verbose=1  [{"$token","$distinct_id","$set":{..}} | {.., "$delete":"null"}]
#     up to 2000 updates; answers 200 even when they failed: with verbose=1
#     {"status":1,"error":null} or {"status":0,"error":"why"}, for the whole
#     request (no detail per update).
#   POST /import?strict=1&project_id=..  [{"event","properties":{"time",
#     "distinct_id","$insert_id",..}}] up to 2000 events; 200, or 400 with
#     "failed_records":[{"index","insert_id" or "$insert_id","field","message"}]
#     -- and then the events it does not name WERE imported.
#
# Try it on a recorded reply:
#   echo '{"status":400,"body":{"code":400,"num_records_imported":1,"failed_records":[{"index":1,"message":"bad time"}]},
#          "records":[{},{}]}' | jq -c -L share/rx/jq 'include "mixpanel"; mixpanel_import_response'

# ---- /engage: profiles ----

# The bodies are templates in mixpanel-engage.json: $set the row's
# members (their own text) on the profile named by the record's key; a
# delete deletes the profile ($ignore_alias: the key is the profile's own
# distinct_id, never an alias of another).

def mixpanel_engage_response:
  if .status == 200 then
    if (.body | type) == "object" and .body.status == 1 and .body.error == null then {action: "ack"}
    elif (.body | type) == "object" and .body.status == 0 then
      if ((.body.error // "") | test("token"; "i")) then
        {action: "auth", message: "Mixpanel refused the project token: \(.body.error)"}
      else {action: "reject", message: "Mixpanel refused the request: \(.body.error // "no reason given")"} end
    else {action: "reject", message: "a reply rx-push does not understand (not {\"status\":1})"}
    end
  elif .status == 401 or .status == 403 then {action: "auth", message: "Mixpanel refused the credentials (\(.body.error // .status))"}
  else null
  end;

# ---- /import: events ----

# The body is a template in mixpanel-import.json: the row's "event"
# and "time" (seconds or milliseconds since the epoch), its
# "distinct_id", and every other member a property.  The insert id
# deduplicates retries: the row's own "$insert_id", else the record's key
# when Mixpanel allows it as one (36 characters of [A-Za-z0-9-]), else
# the record's idem.

# 400 with failed_records: those (by index) failed, the others were
# imported.  A 400 without them failed whole.
def mixpanel_import_response:
  (.records | length) as $n
  | if .status == 200 then {action: "ack"}
    elif .status == 400 and (.body | type) == "object" and (.body.failed_records | type) == "array" then
      [.body.failed_records[] | select((.index | type) == "number")] as $failed
      | if ($failed | length) != (.body.failed_records | length) or any($failed[]; .index < 0 or .index >= $n) then
          {action: "reject", message: "Mixpanel named failed events it does not pin on an index"}
        else
          ($failed | map({key: (.index | tostring), value: ([.field, .message] | map(select(. != null)) | join(": "))}) | from_entries) as $bad
          | [range(0; $n) | tostring | if $bad[.] then {ok: false, message: $bad[.]} else {ok: true} end]
        end
    elif .status == 401 or .status == 403 then
      {action: "auth", message: "Mixpanel refused the service account (\(.body.error // .status)): it needs the Owner or Admin role in the project"}
    else null
    end;
