# amplitude.jq - Amplitude user properties: the response program of
# share/rx/destinations/amplitude-identify.json.
#
# Follows Amplitude's Identify API page
#   https://amplitude.com/docs/apis/analytics/identify
# and, for errors and throttling (which it defers to), the HTTP V2 API
# page https://amplitude.com/docs/apis/analytics/http-v2, as summarised
# in destinations-2.md section 18: POST /identify, form-encoded, with
# api_key and identification (a JSON array as a string) of
# {user_id, user_properties: {"$set", "$unset"}}.  200 means applied; a
# 400 may name the identifications it refused by index
# (events_with_invalid_fields, events_with_missing_fields,
# events_with_invalid_id_lengths, silenced_events) -- and then none was
# applied; a 429 throttles users: pause (15 s, says Amplitude) and retry.
#
# Try it on a recorded reply:
#   echo '{"status":400,"body":{"code":400,"events_with_invalid_id_lengths":{"user_id":[1]}},"records":[{},{}]}' |
#   jq -c -L share/rx/jq --argjson vars '{"throttle_wait":"15"}' 'include "amplitude"; amplitude_response'

# The body is a template in amplitude-identify.json, form-encoded by
# rx-push: api_key, and the identification array as JSON, one
# {user_id, device_id, user_properties: {"$set", "$unset"}} a record:
# the user is the row's user_id (else the record's key) and device_id;
# the other members are $set, except its nulls, which are $unset.

def amplitude_response:
  (.records | length) as $n
  | .body as $body
  | if .status == 200 then {action: "ack"}
    elif .status == 400 and (.body | type) == "object" and ((.body.error // "") | test("api.?key"; "i")) then
      {action: "auth", message: "Amplitude refused the API key (\(.body.error | sub(":.*"; "")))"}
    elif .status == 400 and (.body | type) == "object" then
      ([(.body.events_with_invalid_fields, .body.events_with_missing_fields, .body.events_with_invalid_id_lengths)
          | objects | to_entries[] | .key as $f | (.value // [])[] | {key: tostring, value: $f}]
       + [(.body.silenced_events // [])[] | {key: tostring, value: "silenced"}]
       | from_entries) as $bad
      | if ($bad | length) == 0 then null
        else [range(0; $n) | tostring
              | if $bad[.] then {ok: false, message: "Amplitude refused it (\($body.error // "bad request"): \($bad[.]))"}
                else {retry: true, message: "not applied: another identification of its request was refused"} end]
        end
    elif .status == 429 then
      {action: "throttle", wait: ($vars.throttle_wait | tonumber), message: (.body.error // "throttled")}
    else null
    end;
