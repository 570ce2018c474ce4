# segment.jq - Segment identify calls: the programs of
# share/rx/destinations/segment-identify.json.
#
# Follows Segment's HTTP Tracking API page
#   https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/
# (segmentio/segment-docs, .../server/http-api/index.md), as summarised in
# destinations.md section 10: POST /v1/batch {"batch":[{"type":"identify",
# "userId","traits","messageId"}]}, 500 KB a request, 32 KB and 2,500
# calls at most.  Segment answers 200 for everything but an oversized or
# malformed request (400): a call it does not accept (no userId, a wrong
# write key, more than 2,500 calls) is dropped after the 200, visible only
# in Segment's debugger.  messageId deduplicates: the record's idem.
#
# Try it on a recorded reply:
#   echo '{"status":400,"body":{"success":false},"records":[{}]}' |
#   jq -c -L share/rx/jq 'include "segment"; segment_response'

def _segment_text: if type == "string" then . elif . == null then null else tojson end;

# The row is the traits, sent as it is (raw_rows: its own text).
def segment_identify:
  {type: "identify", userId: (.key | _segment_text), traits: .row, messageId: .idem};

def segment_batch_body: {batch: [.records[] | segment_identify]};

# 200: accepted (Segment checks the calls later, silently); 400: the
# request failed whole (too large, bad JSON); 429: wait (Retry-After).
def segment_response:
  if .status == 200 then {action: "ack"}
  elif .status == 401 or .status == 403 then {action: "auth", message: "Segment refused the write key"}
  else null
  end;
