# tiktok.jq - TikTok Ads custom audiences: members added and removed
# through the segment API (share/rx/destinations/tiktok-audience.json).
#
# Follows TikTok's API for Business pages on audience segments
# (https://business-api.tiktok.com/portal/docs: /segment/mapping/ with
# advertiser_ids, action add or delete, id_schema and batch_data, one
# object per id_schema entry a row, {} for a missing id), its return
# codes (0 OK; 40001 no permission, 40002 a bad parameter, 40100 too many
# requests, 40105 a bad access token; 5xxxx TikTok's own errors), as
# summarised in destinations-2.md section 27 and used by Segment's and
# RudderStack's connectors.  Every reply is HTTP 200; what happened is in
# "code".  TikTok reports no result per identifier.
#
# A row is a person: its members EMAIL_SHA256, PHONE_SHA256,
# IDFA_SHA256, AAID_SHA256 are sent, as 64 hex digits of SHA-256
# (hashed by the mapping); anything else in them is refused before it is
# sent (by the profile's template).  The other members are not sent.
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"code":40100,"message":"Too many requests"}}' |
#   jq -c -L share/rx/jq 'include "tiktok"; tiktok_response'

# The body is a template in tiktok-audience.json (one for add, one for
# delete): id_schema is the identifiers any row of the batch has
# ({columns:...}), batch_data one array a row, an object per id_schema
# entry ({} where the row has none), every id refused unless 64
# lowercase hex digits.

def _tt_stop: {"40001": 1, "40104": 1, "40105": 1, "40106": 1};

# code 0: the request was taken (every record of it is acked: TikTok
# names no identifier).  40100: throttle.  A bad token or a missing
# permission: stop.  40002 (a bad parameter): the request's records are
# dead-lettered.  5xxxx: TikTok's own trouble, sent again.  (The
# profile's "success" acks code 0 in C, without this.)
def tiktok_response:
  if .status == 200 and (.body | type) == "object" and (.body.code | type) == "number" then
    (.body.code | tostring) as $c
    | "TikTok code \($c): \(.body.message // "")" as $said
    | if $c == "0" then {action: "ack"}
      elif $c == "40100" then {action: "throttle", message: $said}
      elif _tt_stop[$c] then {action: "auth", message: $said}
      elif ($c | startswith("5")) then {action: "retry", message: $said}
      else {action: "reject", message: $said} end
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
