# webhook.jq - the response program of the webhook profile
# (share/rx/destinations/webhook.json): rx's own receiver contract,
# docs/profiles.md "The webhook contract".
#
# Try it on a recorded reply with jq itself:
#   echo '{"status":200,"body":{"results":[{"ok":true,"id":"a"},{"ok":false,"error":"bad"}]}}' |
#   jq -c -L share/rx/jq 'include "webhook"; webhook_response'

# {"results": [...]} in the records' order: ok, rejected, or retry.  An ok
# result may say "created": true (a new record) or false (an update), as
# HubSpot's batch upsert does with "new": rx-push counts them.
def webhook_result:
  if .ok == true then {ok: true, id: .id} + (if (.created | type) == "boolean" then {created: .created} else {} end)
  elif .retry == true then {retry: true, message: (.error // "retry")}
  else {ok: false, message: (.error // .message // "rejected")}
  end;

# The whole reply: a 429 naming the DAILY policy is a quota; a 2xx with
# "results" answers per record, and a "results" that is not an array is
# not understood (it acks nothing); any other reply is left to its status
# (null), so a 2xx without "results" acks the batch.
def webhook_response:
  if .status == 429 and (.body | type) == "object" and .body.policyName == "DAILY" then
    {action: "quota", message: .body.message}
  elif .status >= 200 and .status < 300 and (.body | type) == "object" and (.body | has("results")) then
    if (.body.results | type) == "array" then [.body.results[] | webhook_result]
    else {action: "reject", message: "a reply rx-push does not understand: \"results\" is not an array"}
    end
  else null
  end;
