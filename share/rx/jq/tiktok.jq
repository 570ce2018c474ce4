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
# sent.  The other members are not sent.
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"code":40100,"message":"Too many requests"}}' |
#   jq -c -L share/rx/jq 'include "tiktok"; tiktok_response'

def _tt_ids: ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "AAID_SHA256"];

def tiktok_schema:
  ([.records[].row // {}] | add) as $present
  | [_tt_ids[] | . as $k | select($present | has($k))];

# Every id of the batch is 64 lowercase hex digits: one regular
# expression over them all end to end (one a value costs more than the
# rest of the body); when it fails, the first bad one is named.
def _tt_check($schema):
  if ([.records[] | (.row // {})[$schema[]] // "" | tostring] | add // "" | test("^(?:[0-9a-f]{64})*$")) then .
  else
    first(.records[] as $rec | $schema[] as $k | ($rec.row[$k] // "") as $v
          | select($v != "" and (($v | type) != "string" or ($v | test("^[0-9a-f]{64}$") | not)))
          | "\($k) of \($rec.key | tojson)") as $bad
    | error("\($bad) is not a SHA-256 hex digest: hash it in the mapping (rx-map --hash)")
  end;

def tiktok_body:
  tiktok_schema as $schema
  | [$vars.audience_id] as $audiences
  | if ($schema | length) == 0 then error("no row of the batch has an identifier (EMAIL_SHA256, PHONE_SHA256, IDFA_SHA256, AAID_SHA256)") else . end
  | _tt_check($schema)
  | {advertiser_ids: [$vars.advertiser_id],
     action: (if .op == "delete" then "delete" else "add" end),
     id_schema: $schema,
     batch_data: [.records[] | (.row // {}) as $r
                  | [$schema[] as $k | ($r[$k] // "") | if . == "" then {} else {id: ., audience_ids: $audiences} end]]};

def _tt_stop: {"40001": 1, "40104": 1, "40105": 1, "40106": 1};

# code 0: the request was taken (every record of it is acked: TikTok
# names no identifier).  40100: throttle.  A bad token or a missing
# permission: stop.  40002 (a bad parameter): the request's records are
# dead-lettered.  5xxxx: TikTok's own trouble, sent again.
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
