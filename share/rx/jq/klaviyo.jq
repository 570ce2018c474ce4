# klaviyo.jq - the programs of the klaviyo-profiles profile, after
# Klaviyo's API (revision 2026-07-15):
#   https://developers.klaviyo.com/en/reference/bulk_import_profiles
#   https://developers.klaviyo.com/en/reference/get_bulk_profile_import_job
#   https://developers.klaviyo.com/en/reference/get_bulk_profile_import_job_import_errors
#   https://developers.klaviyo.com/en/reference/request_profile_deletion
#   https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling
# and rx's ../shared/reference/destinations-2.md sections 12 and 34.
#
# A batch is one bulk import job (up to 10,000 profiles, 5 MB).  The
# reply only says it was queued; rx polls the job until it is complete,
# and when some profiles failed reads the job's import-errors pages (100
# a page, following links.next) before it answers for each record: a
# failed profile is named by its place in the body (source.pointer
# /data/attributes/profiles/data/N/...), else by the identifiers of its
# original_payload.  "complete" means finished, not succeeded.
#
include "rx";

# Try one on a recorded reply:
#   jq -L share/rx/jq 'include "klaviyo"; klaviyo_job_status' poll-reply.json

# The import's body is a template in klaviyo-profiles.json: each record
# a profile whose external_id is the sync key unless the row has one (so
# a changed e-mail still finds the same profile); the attributes Klaviyo
# knows by name (email, phone_number, first_name, last_name,
# organization, locale, title, image) as text; the location's (address1,
# address2, city, country, region, zip, timezone, ip as text, latitude
# and longitude as they are), with the row's "location" object over
# them; every other member a custom property, with the row's
# "properties" object over them.

# A profile deletion (data privacy): one profile, by e-mail, else phone
# number.  Irreversible; Klaviyo answers 202 and deletes it later.
def klaviyo_delete_body:
  .records[0] as $rec
  | ($rec.row // {}) as $r
  | (if ($r.email // "") != "" then {email: ($r.email | tostring)}
     elif ($r.phone_number // "") != "" then {phone_number: ($r.phone_number | tostring)}
     else error("the deletion of \($rec.key | tojson) needs its email or phone_number: the row has neither") end) as $who
  | {data: {type: "data-privacy-deletion-job",
            attributes: {profile: {data: {type: "profile", attributes: $who}}}}};

# Klaviyo's JSON:API errors, as one line.
def _klaviyo_said:
  [.body.errors[]? | [.title, .detail] | map(select(. != null and . != "")) | join(": ")] | join("; ")
  | if . == "" then null else . end;

# The answers every request shares: throttled (429: Retry-After is
# honoured by rx-push), refused credentials, refused requests.
def klaviyo_common:
  if .status == 429 then {action: "throttle", message: (_klaviyo_said // "throttled")}
  elif .status == 401 or .status == 403 then {action: "auth", message: (_klaviyo_said // "not authenticated")}
  elif .status >= 400 and .status < 500 and .status != 408 then {action: "reject", message: (_klaviyo_said // "HTTP \(.status)")}
  else null end;

# The job a bulk import's reply names (202), else null.
def klaviyo_job_id:
  if (.status == 202 or .status == 200 or .status == 201) and (.body | type) == "object"
     and .body.data.type == "profile-bulk-import-job" then .body.data.id
  else null end;

def klaviyo_response: klaviyo_common;

# The index of the record an import error points at, or null.
def _klaviyo_index:
  (.attributes.source.pointer // "") | capture("^/data/attributes/profiles/data/(?<i>[0-9]+)(/|$)")? | .i | tonumber;

# Per-record results, from the errors carried ({failed, errors: {index:
# message}, by: [[field, value, message]...]}) for a complete job.  The
# rows' members read here, external_id, email and phone_number, are the
# profile's "response_rows": rx-push builds no more of each row for the
# polls (keep the two in step).
def _klaviyo_results($c):
  (.records | length) as $n
  | [.records | to_entries[] | .key as $i | (.value.row // {}) as $r
     | ({external_id: (.value.key | tostring)} + $r) as $ids
     | ($c.errors[$i | tostring]
        // ([$c.by[] | select(.[1] != null and ($ids[.[0]] | tostring) == .[1]) | .[2]] | first)) as $m
     | if $m != null then {ok: false, message: $m} else null end] as $res
  | ([$res[] | select(. != null)] | length) as $named
  | if $named < $c.failed then
      # failures Klaviyo reported but did not point at a record: none of
      # the others can be told good from bad
      [$res[] | . // {ok: false, message: "the import job failed \($c.failed) of \($n) profiles and named \($named) of them; this one may have been applied (sending it again is harmless)"}]
    else [$res[] | . // {ok: true}] end;

# The job's status and, when some profiles failed, its import-errors
# pages, carried from one poll to the next.  A job complete with none
# failed acks the whole request ({"action": "ack"}).
def klaviyo_job_status:
  if .carry == null then
    if .status == 200 and (.body.data | type) == "object" then
      .body.data.attributes as $a
      | if $a.status == "queued" or $a.status == "processing" then {action: "wait"}
        elif $a.status == "complete" then
          if ($a.failed_count // 0) == 0 then {action: "ack"}
          else {action: "wait", wait: 0, next: "/api/profile-bulk-import-jobs/\(.job)/import-errors?page%5Bsize%5D=100",
                carry: {failed: $a.failed_count, errors: {}, by: []}}
          end
        elif $a.status == "cancelled" then {action: "reject", message: "Klaviyo cancelled the import job \(.job)"}
        else {action: "reject", message: "an import job status rx-push does not know: \($a.status)"}
        end
    elif .status == 404 then {action: "reject", message: "the import job \(.job) is gone (Klaviyo keeps jobs until expires_at)"}
    else klaviyo_common
    end
  elif .status == 200 and (.body.data | type) == "array" then
    .carry as $c
    | (reduce (.body.data[] | {i: _klaviyo_index, a: .attributes}) as $e ($c;
        ([$e.a.title, $e.a.detail] | map(select(. != null and . != "")) | join(": ")) as $m
        | if $e.i != null then .errors[$e.i | tostring] = $m
          else .by += [($e.a.original_payload // {}) as $o
                       | ["external_id", "email", "phone_number"][] as $f | select($o[$f] != null)
                       | [$f, ($o[$f] | tostring), $m]]
          end)) as $c2
    | (.body.links.next // null) as $next
    | if $next != null then {action: "wait", wait: 0, next: ($next | rx_url_path), carry: $c2}
      else _klaviyo_results($c2) end
  elif .status == 404 then {action: "reject", message: "the import job \(.job)'s errors are gone"}
  else klaviyo_common
  end;
