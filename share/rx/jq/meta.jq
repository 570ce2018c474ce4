# meta.jq - Meta (Facebook) Custom Audiences: users added and removed
# (share/rx/destinations/meta-custom-audience.json).
#
# Follows Meta's Marketing API pages: the Custom Audience users edge
# (https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users:
# POST adds, DELETE removes, a payload {schema, data} of at most 10,000
# users, an optional session), the customer-file hashing and
# normalisation table
# (https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences),
# the Graph error codes and rate limiting
# (https://developers.facebook.com/docs/marketing-api/overview/rate-limiting:
# Business Use Case limits, the X-Business-Use-Case-Usage header, codes
# 4, 17, 32, 613, 80003).  Summarised in destinations.md section 8.
#
# A row is a person: its members named like Meta's keys (EMAIL, PHONE,
# FN, LN, FI, GEN, DOBY, DOBM, DOBD, CT, ST, ZIP, COUNTRY, MADID,
# EXTERN_ID) are sent, normalised and hashed by the mapping (rx-map
# --hash; docs/destinations/meta-custom-audience.md); the others are
# not.  Every key but MADID and EXTERN_ID must arrive as 64 hex digits
# of SHA-256: a request with anything else is refused before it is sent
# (by the profile's template), so raw PII never reaches Meta by mistake.
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"num_received":2,"num_invalid_entries":0},"records":[{},{}]}' |
#   jq -c -L share/rx/jq 'include "meta"; meta_response'

def _meta_keys: ["EMAIL", "PHONE", "FN", "LN", "FI", "GEN", "DOBY", "DOBM", "DOBD", "CT", "ST", "ZIP",
                 "COUNTRY", "MADID", "EXTERN_ID"];
# The schema of a batch: Meta's keys that any of its rows has, in
# Meta's order.
def meta_schema:
  ([.records[].row // {}] | add) as $present
  | [_meta_keys[] | . as $k | select($present | has($k))];

# One row as sent (the template in meta-custom-audience.json builds the
# body; the response program finds the rows Meta's samples show by it):
# aligned with the schema, "" for a missing value, MADID lowercased.
def meta_row($schema; $madid):
  (.row // {}) as $r
  | if $madid then [$schema[] as $k | ($r[$k] // "") | if $k == "MADID" then tostring | ascii_downcase else . end]
    else [$schema[] as $k | $r[$k] // ""] end;
def _meta_madid($schema): [$schema[] | select(. == "MADID")] | length > 0;

# The body is a template in meta-custom-audience.json: {columns:...} is
# the schema (meta_schema), one row a record aligned with it, "" for a
# missing value, MADID lowercased, every other value refused unless 64
# lowercase hex digits or ""; the session named by the first record's
# idem.

# The wait a throttle asks for: the largest estimated_time_to_regain_access
# (minutes) in X-Business-Use-Case-Usage, in seconds; null when none.
def _meta_regain:
  (.headers["x-business-use-case-usage"] // "{}")
  | (try fromjson catch {}) | [.[]?[]? | .estimated_time_to_regain_access // 0] | max // 0
  | if . > 0 then . * 60 else null end;

def _meta_throttle_codes: {"4": 1, "17": 1, "32": 1, "613": 1, "80003": 1, "80004": 1};
def _meta_stop_codes: {"10": 1, "102": 1, "190": 1, "200": 1, "294": 1, "368": 1, "1487301": 1, "1487366": 1, "2655": 1};

# 200 {num_received, num_invalid_entries, invalid_entry_samples}: Meta
# says how many rows it dropped, and shows some of them by value, never
# which.  No invalid entry: every record is acked.  Some: the records
# showing a sampled value are dead-lettered with its reason, and the
# others acked, if the samples name them all; when Meta dropped rows it
# does not show, no record can be told good from bad and the request's
# records are dead-lettered together (they are sent again next run:
# re-adding is harmless).  The profile's "success" acks the usual reply
# (no invalid entry, as many received as sent) in C, without this.
def meta_response:
  if .status == 200 and (.body | type) == "object" and (.body.num_received | type) == "number" then
    (.body.num_invalid_entries // 0) as $bad
    | (.body.invalid_entry_samples // {}) as $samples
    | if .body.num_received != (.records | length) then
        {action: "reject", message: "a reply rx-push does not understand: Meta received \(.body.num_received) rows of \(.records | length)"}
      elif $bad == 0 then {action: "ack"}
      else
        meta_schema as $schema
        | _meta_madid($schema) as $madid
        | [.records[] | meta_row($schema; $madid) | map(select(. != "" and $samples[.] != null)) | .[0]] as $hit
        | if ([$hit[] | select(. != null)] | length) < $bad then
            {action: "reject", message: "Meta dropped \($bad) of \(.records | length) rows as invalid and showed \($samples | length) of them: which rows is unknown (\($samples | to_entries | map("\(.key): \(.value)") | join("; ")))"}
          else [$hit[] | if . == null then {ok: true} else {ok: false, message: "Meta dropped the row: \($samples[.]) (\(.))"} end]
          end
      end
  elif (.body | type) == "object" and (.body.error | type) == "object" then
    (.body.error.code | tostring) as $code
    | "(#\($code)) \(.body.error.message // "")" as $said
    | if _meta_throttle_codes[$code] then {action: "throttle", message: $said} + (if _meta_regain then {wait: _meta_regain} else {} end)
      elif _meta_stop_codes[$code] then {action: "auth", message: $said}
      # an app with "Require App Secret" refuses calls without a good
      # appsecret_proof (#100): every call would, so the run stops
      elif $code == "100" and ($said | test("appsecret_proof")) then
        {action: "auth", message: "\($said) (set $META_APP_SECRET to the app's secret: rx-push then sends the proof)"}
      elif $code == "1" or $code == "2" or $code == "2650" then {action: "retry", message: $said}
      else {action: "reject", message: $said} end
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
