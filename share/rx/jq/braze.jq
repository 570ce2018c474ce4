# braze.jq - Braze user attributes: the programs of
# share/rx/destinations/braze.json.
#
# Follows Braze's pages
#   https://www.braze.com/docs/api/endpoints/user_data/post_user_track/
#   https://www.braze.com/docs/api/endpoints/user_data/post_user_delete/
#   https://www.braze.com/docs/api/api_limits/  and  .../api/errors/
# as summarised in destinations.md section 3: POST /users/track takes
# {"attributes":[{external_id, ...}]} (75 objects a request), answers 2xx
# {"message":"success", "errors":[{"type","input_array","index"}]} where
# the errors are the objects it refused (the others were processed), and
# a 2xx whose message is not "success" (or "queued", during maintenance)
# processed nothing.  POST /users/delete takes {"external_ids":[..50]}.
#
# Try the response program on a recorded reply with jq itself:
#   echo '{"status":201,"body":{"message":"success","errors":[{"type":"bad email","input_array":"attributes","index":1}]},"count":2}' |
#   jq -c -L share/rx/jq 'include "braze"; braze_response'

# The bodies are templates in braze.json (docs/profiles.md, "Body
# templates"): one user's attributes is the row as the mapping shaped it,
# with its external_id (a string: the rx-diff key, so every row has it),
# sent as its own text; an update adds _update_existing_only, so that it
# only touches users Braze already has; a delete names external_ids.

# The reply to /users/track: per record, by the index of its attributes
# object.  An error naming no attributes index cannot be pinned on a
# record: the whole request is then dead-lettered (never taken for
# success).
def braze_track_results:
  .count as $n
  | [.body.errors[]? ] as $errors
  | if $errors == [] then {action: "ack"}  # every object processed: no per-record work
    elif any($errors[]; .input_array != "attributes" or (.index | type) != "number" or .index < 0 or .index >= $n) then
      {action: "reject", message: "Braze reported an error it does not pin on an attributes object: \($errors | map(.type) | join("; "))"}
    else
      ($errors | map({key: (.index | tostring), value: (.type // "refused")}) | from_entries) as $bad
      | [range(0; $n) | tostring | if $bad[.] then {ok: false, message: $bad[.]} else {ok: true} end]
    end;

# Braze's verdict on the request as a whole, then per record.
def braze_reply(per_record):
  if .status >= 200 and .status < 300 then
    if (.body | type) != "object" then {action: "reject", message: "a reply rx-push does not understand (not a JSON object)"}
    elif .body.message == "success" or .body.message == "queued" then per_record
    else {action: "reject", message: "Braze processed nothing: \(.body.message)"}
    end
  elif .status == 401 or .status == 403 then
    {action: "auth", message: "Braze refused the REST API key (\(.body.message // .status)): it needs the users.track and users.delete permissions"}
  else null
  end;

def braze_response: braze_reply(braze_track_results);

# /users/delete answers {"deleted": N, "message": "success"}: the deletions
# are queued, and every id of the request was taken.
def braze_delete_response: braze_reply(null);
