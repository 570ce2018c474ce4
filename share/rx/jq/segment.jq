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

# The body is a template in segment-identify.json: an identify call per
# record, its userId the key (as text), its traits the row (its own
# text), its messageId the record's idem.

# 200: accepted (Segment checks the calls later, silently); 400: the
# request failed whole (too large, bad JSON); 429: wait (Retry-After).
def segment_response:
  if .status == 200 then {action: "ack"}
  elif .status == 401 or .status == 403 then {action: "auth", message: "Segment refused the write key"}
  else null
  end;
