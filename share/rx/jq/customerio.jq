# customerio.jq - Customer.io people: the response program of
# share/rx/destinations/customerio.json.
#
# Follows Customer.io's Track API v2 reference
#   https://docs.customer.io/api/track/#operation/batch
# as summarised in destinations-2.md section 14: POST /api/v2/batch takes
# {"batch":[{"type":"person","action":"identify"|"delete",
# "identifiers":{"id"|"email": ..},"attributes":{..}}]}, under 500 KB a
# request and 32 KB an entry; it answers 200 when every entry was
# accepted, and 207 {"errors":[{"batch_index","reason","field","message"}]}
# naming the refused entries by position (the others were accepted).
#
# Try it on a recorded reply:
#   echo '{"status":207,"body":{"errors":[{"batch_index":1,"reason":"required","field":"identifiers","message":"missing"}]},
#          "records":[{},{}]}' | jq -c -L share/rx/jq 'include "customerio"; customerio_response'

# The bodies are templates in customerio.json: an identify entry (the
# row's members, less the identifier, as attributes) or a delete entry,
# the person named by "id" (the record's key) or "email" (the row's), as
# $vars.identifier says.

def customerio_results:
  (.records | length) as $n
  | [(.body.errors // [])[] | select((.batch_index | type) == "number")] as $errors
  | if any($errors[]; .batch_index < 0 or .batch_index >= $n) or ((.body.errors // []) | length) != ($errors | length) then
      {action: "reject", message: "Customer.io reported an error it does not pin on a batch entry"}
    else
      ($errors | map({key: (.batch_index | tostring),
                      value: ([.reason, .field, .message] | map(select(. != null and . != "")) | join(": "))})
               | from_entries) as $bad
      | [range(0; $n) | tostring | if $bad[.] then {ok: false, message: $bad[.]} else {ok: true} end]
    end;

def customerio_response:
  if .status == 200 or .status == 204 then {action: "ack"}
  elif .status == 207 then customerio_results
  elif .status == 401 or .status == 403 then
    {action: "auth", message: "Customer.io refused the site id and Track API key (\(.body.meta.error // .status))"}
  else null
  end;
