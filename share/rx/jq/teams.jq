# teams.jq - Microsoft Teams: incoming webhooks, classic (Office 365
# connectors) and Workflows (share/rx/destinations/teams-webhook.json).
#
# Follows Microsoft Learn's "Create an Incoming Webhook"
# (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook:
# 28 KB a message, more than 4 requests a second are throttled), "Create
# incoming webhooks with Workflows" (Adaptive Cards only), and what the
# msteams-docs issues #400, #402, #1810, #4145, #7425, #7576, #7635 say
# of its replies: a classic webhook answers 200 even when delivery fails,
# with the failure in the text ("... returned HTTP error 429 ..."), and
# "1" on success; a Workflows URL answers 202 with no body, whatever
# becomes of the card.  Summarised in destinations-2.md section 22.
#
# The card is built from the row as Slack's message is (slack.jq): its
# "text" (a template in your mapping), else its key and a fact per
# member; a delete posts "resolved_text".  A row with a "card" member (a
# whole Adaptive Card) sends that card as it is.
# Try it on a recorded reply:
#   echo '{"status":200,"body":"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId x"}' |
#   jq -c -L share/rx/jq --argjson vars '{"throttle_wait":"15"}' 'include "teams"; teams_response'

def _teams_some: if type == "string" and . != "" then . else null end;

def _teams_facts:
  .row // {} | to_entries
  | map(select(.key != "text" and .key != "resolved_text" and .key != "card")
        | {title: .key, value: (.value | if type == "string" then . else tojson end)});

# The Adaptive Card (version 1.4, which Workflows are known to render).
def teams_card:
  . as $rec | (.row // {}) as $r
  | (($r.text | _teams_some) // null) as $text
  | if .op != "delete" and ($r.card | type) == "object" then $r.card
    else {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", type: "AdaptiveCard", version: "1.4",
          body: (if .op == "delete" then
                   [{type: "TextBlock", wrap: true,
                     text: (($r.resolved_text | _teams_some) // ("Resolved: " + ($text // ($rec.key | tostring))))}]
                 elif $text != null then [{type: "TextBlock", text: $text, wrap: true}]
                 else [{type: "TextBlock", text: ($rec.key | tostring), weight: "Bolder", wrap: true},
                       {type: "FactSet", facts: ($rec | _teams_facts)}]
                 end)}
    end;

def teams_body:
  {type: "message",
   attachments: [{contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null,
                  content: (.records[0] | teams_card)}]};

# Classic: 200 "1" is delivered; 200 with any other text is a failure the
# status hides: "HTTP error 429" throttles (Microsoft: wait 10 to 15 s),
# any other "HTTP error" (400 a bad card, 413 too large) is this card's
# fault.  Workflows: 202, no body: accepted, and that is all anyone
# learns.  A URL that is refused (gone, disabled, a bad sig) fails every
# card: stop the run.
def teams_response:
  if .status == 200 then
    (.body | if type == "string" then . else tojson end) as $t
    | if $t == "1" then {action: "ack"}
      elif ($t | test("HTTP error 429")) then {action: "throttle", wait: ($vars.throttle_wait | tonumber), message: $t}
      else {action: "reject", message: "Teams did not deliver the card: \($t)"} end
  elif .status == 202 then {action: "ack"}
  elif .status == 401 or .status == 403 or .status == 404 or .status == 410 then
    {action: "auth", message: "Teams refused the webhook URL"}
  elif .status == 400 or .status == 413 then {action: "reject", message: "Teams refused the card: \(.body | tostring)"}
  else null end;
