# slack.jq - Slack: incoming webhooks (share/rx/destinations/slack-webhook.json)
# and chat.postMessage with a bot token (slack-chat.json).
#
# Follows Slack's pages: "Sending messages using incoming webhooks"
# (https://api.slack.com/messaging/webhooks), the webhook error strings
# (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks),
# chat.postMessage (https://api.slack.com/methods/chat.postMessage) and
# its OpenAPI document (form-encoded; ../shared/conformance/specs/slack-web.json),
# and the rate limits (https://api.slack.com/docs/rate-limits): one message
# per second per channel.  Summarised in destinations.md section 7.
#
# The message is built from the row: its "text" member (write the
# template in your mapping, with jq string interpolation:
#   rx-map -e '{id, text: "Churn risk \(.churn_risk): \(.first_name) <\(.email)>"}'),
# else one line per member.  A delete (mirror mode: the row left the
# model) posts the row's "resolved_text", else "Resolved: " and its text.
# Try it on a recorded reply with jq itself:
#   echo '{"status":403,"body":"invalid_token"}' | jq -c -L share/rx/jq 'include "slack"; slack_webhook_response'

# The members of a row that are message fields (the rest is the template's
# input, never sent).
def _slack_fields: {blocks: 1, attachments: 1, unfurl_links: 1, unfurl_media: 1, mrkdwn: 1,
                    username: 1, icon_emoji: 1, icon_url: 1};

# The default text: the key in bold, then "• name: value" per member
# (but the message's own members: text, resolved_text, channel, blocks...).
def slack_default_text:
  "*\(.key)*"
  + (.row | to_entries
     | map(select(.key != "text" and .key != "resolved_text" and .key != "channel" and _slack_fields[.key] == null)
           | "\n• \(.key): \(.value | if type == "string" then . else tojson end)")
     | join(""));

# A member that is text to send: a non-empty string (else null).
def _slack_some: if type == "string" and . != "" then . else null end;

# The message of one record, as Slack's JSON: {"text", "blocks"?, ...}.
# A missing, null or empty "text" gets the default text.
def slack_message:
  . as $rec | (.row // {}) as $r
  | (($r.text | _slack_some) // ($rec | slack_default_text)) as $text
  | if .op == "delete" then {text: (($r.resolved_text | _slack_some) // ("Resolved: " + $text))}
    else {text: $text} + ($r | with_entries(select(_slack_fields[.key] != null and .value != null)))
    end;

# ---- incoming webhook: POST the message to the webhook's URL ----

def slack_webhook_body: .records[0] | slack_message;

# 200 "ok" is the one success; errors are plain text.  A refused URL (the
# hook was removed or revoked, its channel archived or gone, posting
# prohibited) fails every message the same way: stop the run (exit 1,
# nothing dead-lettered) rather than dead-letter the backlog.  A 400
# (invalid_payload, no_text, too_many_attachments) is this message's
# fault: dead-letter it.  429 (Retry-After) and 5xx: the defaults.
def slack_webhook_response:
  if .status == 200 then
    if .body == "ok" then {action: "ack"}
    else {action: "reject", message: "a reply rx-push does not understand: \(.body | tostring)"} end
  elif .status == 403 or .status == 404 or .status == 410 then
    {action: "auth", message: "Slack refused the webhook URL (\(.body // "" | tostring)): it was removed or revoked, or its channel archived"}
  elif .status == 400 then
    {action: "reject", message: "Slack refused the message: \(.body // "" | tostring)"}
  else null end;

# ---- chat.postMessage (a bot token; form-encoded, as Slack's spec has it) ----

# channel: the row's "channel", else the profile's (SLACK_CHANNEL).
# metadata names the row (event_type "rx_row", the key and the op), so
# the channel's messages can be traced back to the rows that made them.
def slack_chat_body:
  .records[0] as $rec
  | ($rec | slack_message) as $m
  | [["channel", ($rec.row.channel // $vars.channel)],
     ["text", $m.text],
     (($m | del(.text)) | to_entries[] | [.key, (.value | if type == "string" then . else tojson end)]),
     ["metadata", ({event_type: "rx_row", event_payload: {key: $rec.key, op: $rec.op}} | tojson)]]
  | map("\(.[0])=\(.[1] | tostring | @uri)") | join("&");

# Slack Web API answers 200 with {"ok": true, "ts"} or {"ok": false,
# "error"}; the ack carries the message's ts (chat.update and chat.delete
# address a message by it).  A token that is refused stops the run.
def _slack_auth_errors: {not_authed: 1, invalid_auth: 1, account_inactive: 1, token_revoked: 1,
                         token_expired: 1, no_permission: 1, missing_scope: 1, not_allowed_token_type: 1,
                         team_access_not_granted: 1, ekm_access_denied: 1};
def slack_chat_response:
  if .status == 200 and (.body | type) == "object" then
    if .body.ok == true then [{ok: true, id: .body.ts}]
    elif _slack_auth_errors[.body.error // ""] then {action: "auth", message: "Slack refused the token: \(.body.error)"}
    elif .body.error == "ratelimited" or .body.error == "rate_limited" then {action: "throttle", message: .body.error}
    else [{ok: false, message: "Slack refused the message: \(.body.error // "no error named")"}] end
  elif .status == 200 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
