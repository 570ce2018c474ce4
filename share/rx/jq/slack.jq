# slack.jq - Slack: incoming webhooks (share/rx/destinations/slack-webhook.json)
# and chat.postMessage, chat.update and chat.delete with a bot token
# (slack-chat.json).
#
# Follows Slack's pages: "Sending messages using incoming webhooks"
# (https://api.slack.com/messaging/webhooks), the webhook error strings
# (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks),
# chat.postMessage, chat.update and chat.delete
# (https://api.slack.com/methods/chat.postMessage, .../chat.update,
# .../chat.delete: a message is addressed by its channel and ts) and
# their OpenAPI document (form-encoded; ../shared/conformance/specs/slack-web.json),
# and the rate limits (https://api.slack.com/docs/rate-limits): one message
# per second per channel.  Summarised in destinations.md section 7.
#
# The message is built from the row: its "text" member (write the
# template in your mapping, with jq string interpolation:
#   rx-map -e '{id, text: "Churn risk \(.churn_risk): \(.first_name) <\(.email)>"}'),
# else one line per member.  On the webhook, a delete (mirror mode: the
# row left the model) posts the row's "resolved_text", else "Resolved: "
# and its text; slack-chat edits the message a row posted when the row
# changes, and deletes it when the row leaves the model.
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
    else reduce ($r | keys_unsorted[] | select(_slack_fields[.] != null and $r[.] != null)) as $k ({text: $text}; . + {($k): $r[$k]})
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

# ---- chat.postMessage, chat.update, chat.delete (a bot token; form-encoded, as Slack's spec has it) ----

# A form body from [name, value] pairs: an object of its fields, which
# rx-push form-encodes in C (the profile's content type), a value that is
# not a string as its JSON text.  (Encoded in jq, with @uri and join,
# the form cost two thirds of the body.)
def _slack_form: reduce .[] as $f ({}; . + {($f[0]): $f[1]});

# Which message a record's id names.  The id a post's ack carries is
# "CHANNEL:TS" (C0123456:1700000000.000100): chat.update and chat.delete
# need both.  An id of a ts alone (acks before the channel was kept) is
# taken as a message in the row's channel, else SLACK_CHANNEL's.
def slack_message_ref:
  (.id | tostring) as $id
  | if ($id | test(":")) then {channel: ($id | sub(":.*$"; "")), ts: ($id | sub("^[^:]*:"; ""))}
    else {channel: (.row.channel // $vars.channel), ts: $id} end;

# channel: the row's "channel", else the profile's (SLACK_CHANNEL).
# metadata names the row (event_type "rx_row", the key and the op), so
# the channel's messages can be traced back to the rows that made them.
# (The message's own fields are added as an object: del and to_entries
# cost jq 1.6 twice the rest of the body.)
def slack_chat_body:
  .records[0] as $rec
  | {channel: ($rec.row.channel // $vars.channel)}
    + ($rec | slack_message)
    + {metadata: ({event_type: "rx_row", event_payload: {key: $rec.key, op: $rec.op}} | tojson)};

# chat.update: the message the id names gets the row's text, blocks and
# attachments (sent empty when the row has none, so that blocks the last
# version had do not stay); the message stays in its channel.
def slack_update_body:
  .records[0] as $rec
  | ($rec | slack_message_ref) as $at
  | ($rec | slack_message) as $m
  | [["channel", $at.channel], ["ts", $at.ts], ["text", $m.text],
     ["blocks", ($m.blocks // [])], ["attachments", ($m.attachments // [])]]
  | _slack_form;

# An upsert or update of a record with an id edits its message
# (chat.update); one without (never posted) posts it.  One record a
# request, so the path is chosen per record (the op's path_program).
def slack_write_path: if .records[0].id != null then "/chat.update" else "/chat.postMessage" end;
def slack_write_body: if .records[0].id != null then slack_update_body else slack_chat_body end;

# chat.delete: the message the id names.
def slack_delete_body: .records[0] | slack_message_ref | [["channel", .channel], ["ts", .ts]] | _slack_form;

# Slack Web API answers 200 with {"ok": true, "channel", "ts"} or
# {"ok": false, "error"}; the ack of a post carries "CHANNEL:TS", that of
# an edit the id it had.  A token that is refused stops the run.
#
# chat.update of a message that is gone (message_not_found: a person
# deleted it in Slack) is a dead letter, not a new post: someone removed
# the message on purpose, and posting it again on the row's next change
# would undo that; the dead letter says so, and a delete of the row
# (it leaves the model) acks as gone.
# chat.delete of a message already gone (message_not_found) acks: what
# the delete asked for is true.
def _slack_auth_errors: {not_authed: 1, invalid_auth: 1, account_inactive: 1, token_revoked: 1,
                         token_expired: 1, no_permission: 1, missing_scope: 1, not_allowed_token_type: 1,
                         team_access_not_granted: 1, ekm_access_denied: 1};
def _slack_reply(ok):
  if .status == 200 and (.body | type) == "object" then
    if .body.ok == true then ok
    elif _slack_auth_errors[.body.error // ""] then {action: "auth", message: "Slack refused the token: \(.body.error)"}
    elif .body.error == "ratelimited" or .body.error == "rate_limited" then {action: "throttle", message: .body.error}
    elif .body.error == "message_not_found" and .records[0].op == "delete" then [{ok: true}]
    elif .body.error == "message_not_found" then
      [{ok: false, message: "Slack: message_not_found: the message \(.records[0].id) was deleted in Slack; it is not posted again (a person removed it)"}]
    else [{ok: false, message: "Slack refused the message: \(.body.error // "no error named")"}] end
  elif .status == 200 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
def slack_chat_response:
  _slack_reply(if .body.channel != null and .body.ts != null then [{ok: true, id: "\(.body.channel):\(.body.ts)"}]
               else {action: "reject", message: "a reply rx-push does not understand: no channel or ts"} end);
def slack_write_response:
  if .records[0].id != null then _slack_reply([{ok: true, id: .records[0].id}]) else slack_chat_response end;
def slack_delete_response: _slack_reply([{ok: true}]);
