# hubspot.jq - the programs of the HubSpot profiles (hubspot-contacts,
# hubspot-companies, hubspot-deals, hubspot-objects), after HubSpot's CRM v3
# object batch API:
#   https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
#   https://developers.hubspot.com/docs/api-reference/error-handling  (207 multi-status, objectWriteTraceId)
#   https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines  (rate limits)
# and rx's ../shared/reference/destinations.md section 1 and
# destinations-2.md section 33.
#
# HubSpot addresses a record by its own id.  rx keeps it (the ack's id,
# committed into the snapshot) and sends it with every later change; a
# record without one is first found by its match property ($vars.match,
# e-mail for contacts) with batch/read, then updated by id, or created
# when nothing matches.  So the sync key (say, the warehouse's customer
# id) and the match field (the e-mail) are separate: a changed e-mail
# updates the same contact.
#
# Try a program on a recorded reply with jq itself:
#   jq -L share/rx/jq 'include "hubspot"; hubspot_write_results({match: "email"})' reply.json

# Property values are strings for HubSpot (a number is refused); null
# clears the property.
def hubspot_properties:
  with_entries(.value |= (if . == null then "" elif type == "string" then . else tojson end));

# batch/create: no id, an objectWriteTraceId per input to find it in
# the reply; associations are required (empty).
def hubspot_create_body:
  {inputs: [.records[] | {properties: (.row | hubspot_properties), associations: [], objectWriteTraceId: .idem}]};

# batch/update by HubSpot id.
def hubspot_update_body:
  {inputs: [.records[] | {id: (.id | tostring), properties: (.row | hubspot_properties), objectWriteTraceId: .idem}]};

# batch/archive takes HubSpot ids only.
def hubspot_archive_body:
  {inputs: [.records[] | {id: (.id | tostring)}]};

# batch/read by the match property: the lookup of records without an id.
def hubspot_read_body($vars):
  {idProperty: $vars.match, properties: [$vars.match],
   inputs: [.records[] | {id: (.row[$vars.match] | tostring)}]};

# The throttles: a DAILY 429 is the day's quota (stop: exit 75); the
# rolling ones wait their window.
def hubspot_throttle:
  if .body.policyName == "DAILY" then {action: "quota", message: .body.message}
  elif .body.policyName == "SECONDLY" then {action: "throttle", wait: 1}
  else {action: "throttle", wait: 10}
  end;

# The lookup's answer: the id of each record, or null when HubSpot knows
# no record of that match value (an OBJECT_NOT_FOUND error names it).
def hubspot_read_ids($vars):
  if .status == 200 or .status == 207 then
    ([.body.results[]? | select(.properties[$vars.match] != null)
      | {key: (.properties[$vars.match] | tostring | ascii_downcase), value: .id}] | from_entries) as $found
    | [.records[] | $found[(.row[$vars.match] // "" | tostring | ascii_downcase)] // null]
  elif .status == 429 then hubspot_throttle
  else null
  end;

# The answer to a create or an update: results (in no set order) and
# errors, matched to the records by objectWriteTraceId (our idem), by
# HubSpot id, or by the match property.  A 2xx naming no record wrote
# nothing (HubSpot's silent no-op).
def hubspot_write_results($vars):
  if .status == 200 or .status == 201 or .status == 207 then
    (.body.results // []) as $ok | (.body.errors // []) as $bad
    | if ($ok | length) == 0 and ($bad | length) == 0 then
        {action: "reject", message: "HubSpot answered without naming any record: nothing was written"}
      else
        ([$ok[] | select(.objectWriteTraceId != null) | {key: .objectWriteTraceId, value: .id}] | from_entries) as $by_trace
        | ([$ok[] | {key: (.id | tostring), value: .id}] | from_entries) as $by_id
        | ([$ok[] | select(.properties[$vars.match] != null)
            | {key: (.properties[$vars.match] | tostring | ascii_downcase), value: .id}] | from_entries) as $by_match
        | ([$bad[] | .message as $m | (.context.objectWriteTraceId[]?, .context.ids[]?)
            | {key: tostring, value: $m}] | from_entries) as $errs
        | [.records[]
           | .idem as $t | (.id // "" | tostring) as $i
           | (.row[$vars.match] // "" | tostring | ascii_downcase) as $m
           | if $errs[$t] then {ok: false, message: $errs[$t]}
             elif $i != "" and $errs[$i] then {ok: false, message: $errs[$i]}
             elif $by_trace[$t] then {ok: true, id: $by_trace[$t]}
             elif $i != "" and $by_id[$i] then {ok: true, id: $by_id[$i]}
             elif $m != "" and $by_match[$m] then {ok: true, id: $by_match[$m]}
             else {ok: false, message: "HubSpot's reply does not name this record"}
             end]
      end
  elif .status == 429 then hubspot_throttle
  else null
  end;

# batch/archive answers 204 whatever was there: every record is gone.
def hubspot_archive_result:
  if .status == 204 or .status == 200 then {action: "ack"}
  elif .status == 429 then hubspot_throttle
  else null
  end;
