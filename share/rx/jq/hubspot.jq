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
# e-mail for contacts) with batch/read (companies' domain, which is not
# unique in HubSpot, with the CRM search), then updated by id, or created
# when nothing matches.  So the sync key (say, the warehouse's customer
# id) and the match field (the e-mail) are separate: a changed e-mail
# updates the same contact.
#
# Try a program on a recorded reply with jq itself:
#   jq -L share/rx/jq 'include "hubspot"; hubspot_write_results({match: "email"})' reply.json

# The write bodies are templates in the profiles: batch/create gives
# each input an objectWriteTraceId (the record's idem) to find it in the
# reply, and the associations HubSpot requires (empty); batch/update and
# batch/archive name HubSpot's id.  Property values are strings for
# HubSpot (a number is refused; "{row|strings}" makes them so), and ""
# clears a property (a null in the row).

# An object from a list: key f (a string, or null to leave the item out)
# to value g.
def hubspot_index(f; g):
  reduce .[] as $x ({}; ($x | f) as $k | if $k == null then . else .[$k | tostring] = ($x | g) end);

# The match value of a record, as HubSpot compares it (case-insensitive),
# or "" when the row has none.
def hubspot_match_value($vars):
  .row[$vars.match] // "" | tostring | ascii_downcase;

# batch/read by the match property: the lookup of records without an id.
# HubSpot's schema requires propertiesWithHistory; it refuses a batch
# naming a value twice, and a record without a match value has nothing
# to look up (it is not found: created, for an upsert).
def hubspot_read_body($vars):
  [.records[] | .row[$vars.match] | select(. != null and . != "") | tostring] as $values
  | if $values == [] then null    # nothing to look up: nothing is sent
    else {idProperty: $vars.match, properties: [$vars.match], propertiesWithHistory: [],
          inputs: ($values | unique_by(ascii_downcase) | map({id: .}))} end;

# The throttles: a DAILY 429 is the day's quota (stop: exit 75); the
# rolling ones wait their window.
def hubspot_throttle:
  if .body.policyName == "DAILY" then {action: "quota", message: .body.message}
  elif .body.policyName == "SECONDLY" then {action: "throttle", wait: 1}
  else {action: "throttle", wait: 10}
  end;

# CRM search by the match property: the lookup for a property HubSpot
# does not hold unique (companies' domain: batch/read takes only "unique
# property values", and HubSpot lets two companies share a domain).  One
# filter, the batch's values IN it (lowercased, as HubSpot compares
# them); one page of up to 200 results, only the match property.  Its
# OpenAPI document requires "sorts" and "after" (the first page: "0").
#   https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm
def hubspot_search_body($vars):
  [.records[] | hubspot_match_value($vars) | select(. != "")] | unique as $values
  | if $values == [] then null    # nothing to look up: nothing is sent
    else {filterGroups: [{filters: [{propertyName: $vars.match, operator: "IN", values: $values}]}],
          properties: [$vars.match], sorts: [], limit: 200, after: "0"} end;

# The search's answer: the one company of a record's value, null when
# there is none.  Two companies of one value get neither: rx does not
# choose (an update or an archive of the wrong one has no undo), the
# record is a dead letter naming both.  A search with more results than
# its page (another page could hold a second company of any value)
# decides nothing: every record of it is a dead letter.
def hubspot_search_ids($vars):
  if .status == 200 and (.body | type) == "object" and (.body.results | type) == "array" then
    if .body.paging.next != null or (.body.total != null and .body.total > (.body.results | length)) then
      "HubSpot's search found \(.body.total // "more") \($vars.object) for this batch's \($vars.match) values, more than its page of \(.body.results | length): some values are on several \($vars.object); merge them in HubSpot, or give these rows their HubSpot ids" as $why
      | [.records[] | {error: $why}]
    else
      (reduce (.body.results[] | select(.id != null)
               | {k: (.properties[$vars.match] // "" | tostring | ascii_downcase), id: (.id | tostring)}
               | select(.k != "")) as $x
         ({}; .[$x.k] += [$x.id])) as $found
      | [.records[] | hubspot_match_value($vars) as $m
         | if $m == "" or $found[$m] == null then null
           elif ($found[$m] | length) == 1 then $found[$m][0]
           else {error: "\($found[$m] | length) HubSpot \($vars.object) have the \($vars.match) \($m) (ids \($found[$m] | join(", "))): rx does not choose one; merge them in HubSpot, or give the row its HubSpot id"}
           end]
    end
  elif .status == 429 then hubspot_throttle
  elif .status == 200 then {action: "reject", message: "a reply rx-push does not understand: a search without results"}
  else null
  end;

# The lookup's answer: the id of each record, or null when HubSpot knows
# no record of that match value (an OBJECT_NOT_FOUND error names it).
def hubspot_read_ids($vars):
  if .status == 200 or .status == 207 then
    (.body.results // [] | hubspot_index(.properties[$vars.match] | if . == null then null else tostring | ascii_downcase end; .id)) as $found
    | [.records[] | hubspot_match_value($vars) as $m | if $m == "" then null else $found[$m] // null end]
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
        ($ok | hubspot_index(.objectWriteTraceId; .id)) as $by_trace
        | if ($bad | length) == 0 and all(.records[]; $by_trace[.idem] != null) then
            # every record named by its trace id: the common case
            [.records[] | {ok: true, id: $by_trace[.idem]}]
          else
            ($ok | hubspot_index(.id; .id)) as $by_id
            | ($ok | hubspot_index(.properties[$vars.match] | if . == null then null else tostring | ascii_downcase end; .id)) as $by_match
            | (reduce $bad[] as $e ({}; reduce (($e.context.objectWriteTraceId // [])[], ($e.context.ids // [])[]) as $k
                 (.; .[$k | tostring] = $e.message))) as $errs
            | [.records[]
               | .idem as $t | (.id // "" | tostring) as $i
               | hubspot_match_value($vars) as $m
               | if $errs[$t] then {ok: false, message: $errs[$t]}
                 elif $i != "" and $errs[$i] then {ok: false, message: $errs[$i]}
                 elif $by_trace[$t] then {ok: true, id: $by_trace[$t]}
                 elif $i != "" and $by_id[$i] then {ok: true, id: $by_id[$i]}
                 elif $m != "" and $by_match[$m] then {ok: true, id: $by_match[$m]}
                 else {ok: false, message: "HubSpot's reply does not name this record"}
                 end]
          end
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
