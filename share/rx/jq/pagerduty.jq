# pagerduty.jq - PagerDuty Events API v2 (share/rx/destinations/pagerduty-events.json).
#
# Follows PagerDuty's "Events API v2" pages
# (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/,
# .../resolve-events/, and the Events API rate limits: 120 events a minute
# per routing key), as summarised in destinations-2.md section 24.
#
# A row in the model is an open alert: upsert triggers it, with
# dedup_key = the record's key, so a re-sent or re-triggered row folds
# into the same alert; a delete (mirror mode: the row left the model)
# resolves it.  The routing key is the credential and travels in the
# body ($vars.routing_key, a secret: *** in everything rx-push writes).
#
# Try it on a recorded reply:
#   echo '{"status":400,"body":{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key"]}}' |
#   jq -c -L share/rx/jq 'include "pagerduty"; pagerduty_response'

# Row members with a meaning to PagerDuty; the others are custom_details.
# (Written with reduce and object addition: jq 1.6's with_entries,
# through from_entries, cost ten times more, and delpaths of these
# thirteen paths a third of the body.)
def _pd_fields: {summary: 1, text: 1, resolved_text: 1, source: 1, severity: 1, component: 1, group: 1,
                 class: 1, timestamp: 1, links: 1, images: 1, client_url: 1, custom_details: 1};
def _pd_details: . as $r | reduce (keys_unsorted[] | select(_pd_fields[.] == null)) as $k ({}; . + {($k): $r[$k]});

def _pd_some: if type == "string" and . != "" then . else null end;

# The members of $r named in $names that are not null.
def _pd_pick($r; $names): reduce ($names[] | select($r[.] != null)) as $k ({}; . + {($k): $r[$k]});

def pagerduty_event:
  (.row // {}) as $r | (.key | tostring) as $dk
  | if .op == "delete" then {routing_key: $vars.routing_key, event_action: "resolve", dedup_key: $dk}
    else
      {routing_key: $vars.routing_key, event_action: "trigger", dedup_key: $dk,
       payload: ({summary: ((($r.summary | _pd_some) // ($r.text | _pd_some) // "\($dk): \($r | tojson)") | .[0:1024]),
                  source: (($r.source | _pd_some) // $vars.source),
                  severity: (($r.severity | _pd_some) // $vars.severity),
                  custom_details: ($r.custom_details // ($r | _pd_details))}
                 + _pd_pick($r; ["component", "group", "class", "timestamp"])),
       client: "rx"}
      + _pd_pick($r; ["links", "images", "client_url"])
    end;

def pagerduty_body: .records[0] | pagerduty_event;

# 202 {"status": "success", "dedup_key"}: queued (PagerDuty makes the
# alert after; the ack carries the dedup_key).  400 "invalid event" names
# what is wrong in "errors": this event's fault, unless it is the routing
# key, which every event shares: then stop.  429 has no body and no hint:
# rx-push backs off.
def pagerduty_response:
  if .status == 202 and (.body | type) == "object" and .body.status == "success" then
    [{ok: true, id: .body.dedup_key}]
  elif .status == 400 and (.body | type) == "object" then
    ((.body.errors // []) | map(tostring) | join("; ")) as $why
    | if ($why | test("routing.key"; "i")) then {action: "auth", message: "PagerDuty refused the routing key: \($why)"}
      else [{ok: false, message: "\(.body.message // "invalid event"): \($why)"}] end
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
