# intercom.jq - the programs of the intercom-contacts profile, after
# Intercom's REST API 2.14 (contacts):
#   https://developers.intercom.com/docs/references/rest-api/api.intercom.io/contacts
#   https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting
#   https://developers.intercom.com/docs/references/rest-api/errors/error-objects
# and rx's ../shared/reference/destinations.md section 6 and
# destinations-2.md (lookups: no upsert, search then PUT or POST).
#
# Intercom writes one contact a request and addresses it by its own id.
# rx keeps that id (the ack's id, committed into the snapshot) and sends
# every later change by it (PUT /contacts/{id}, DELETE /contacts/{id}); a
# contact without one is first searched for by its match field
# ($vars.match, e-mail by default: POST /contacts/search, up to 50
# values a request), then updated by the id found, or created (POST
# /contacts) when none is.  A delete is only ever sent with the id rx
# got from Intercom itself: a delete rx has no id for is a dead letter,
# never a delete of whatever the search finds.
#
# Every failure is {"type":"error.list","errors":[{"code","message"}]};
# a reply that is not what a success looks like (a contact, the id that
# was asked for) is never taken for one.
#
# Try a program on a recorded reply with jq itself:
#   jq -L share/rx/jq 'include "intercom"; intercom_write_result' reply.json

# The fields of Intercom's contact object; every other member of the row
# is a custom attribute (it must exist in Intercom's settings first).
# (An object to look names up in: jq 1.6's index and inside leak.)
def intercom_fields:
  {role: true, external_id: true, email: true, phone: true, name: true, avatar: true, signed_up_at: true,
   last_seen_at: true, owner_id: true, unsubscribed_from_emails: true};

# The create and update body: the contact's own fields at the top, the
# rest under custom_attributes (a row's own custom_attributes object is
# merged in).  email, role and external_id cannot be null in Intercom: a
# null one is left out (it keeps its value); a null elsewhere clears it.
def intercom_contact($vars):
  intercom_fields as $f
  | (.custom_attributes // {}) as $own
  | reduce to_entries[] as $e ({top: {}, ca: {}};
      if $f[$e.key] then
        if $e.value == null and ($e.key == "email" or $e.key == "role" or $e.key == "external_id") then .
        else .top[$e.key] = $e.value end
      elif $e.key == "custom_attributes" then .
      else .ca[$e.key] = $e.value
      end)
  | (($own + .ca) as $ca
     | .top
     | (if .external_id != null then .external_id |= tostring else . end)
     | (if $ca == {} then . else . + {custom_attributes: $ca} end));

def intercom_create_body($vars):
  .records[0].row | intercom_contact($vars) | if .role == null then . + {role: $vars.role} else . end;

def intercom_update_body($vars):
  .records[0].row | intercom_contact($vars);

# DELETE and archive take no body.
def intercom_no_body: "";

# The value a record is matched on, as the search compares it.
def intercom_match_value($vars):
  .row[$vars.match] | if . == null then null elif $vars.match == "email" then tostring | ascii_downcase
                      else tostring end;

# POST /contacts/search: every record of the request in one IN filter,
# with room on the page for several contacts sharing a value.
def intercom_search_body($vars):
  {query: {field: $vars.match, operator: "IN",
           value: [.records[] | intercom_match_value($vars) | select(. != null)] | unique},
   pagination: {per_page: 150}};

# An error.list's first error, as a message.
def intercom_error:
  if (.body | type) == "object" and (.body.errors | type) == "array" and (.body.errors | length) > 0 then
    "\(.body.errors[0].code // "error"): \(.body.errors[0].message // "")"
  else "HTTP \(.status)"
  end;

# What every reply shares: a throttle, a refused token, a server error.
# 429 waits for X-RateLimit-Reset (the profile's rate_limit_headers);
# 401 (a bad token) and 403 (a token without the scope) stop the run.
def intercom_common:
  if .status == 429 then {action: "throttle", message: intercom_error}
  elif .status == 401 or .status == 403 then {action: "auth", message: intercom_error}
  elif .status >= 200 and .status < 300 then
    {action: "reject", message: "Intercom answered \(.status), which it does not answer to this request: not taken for success"}
  else null
  end;

# A lookup's refusal of one record ({error} is the documented shape;
# rx-push reads the message from "message", so both are given).
def intercom_not_matched($m): {error: $m, message: $m};

# The lookup's answer: per record, the id of the one contact of the
# profile's role that has its match value, null when there is none or
# the row has no match value (it is created: Intercom refuses, 409, a
# second user with the same e-mail or external_id, so a create never
# duplicates one), an error when several have it (never a guess) or when the
# page could not hold every match.  A delete is never matched: it is
# sent only with the id rx keeps from Intercom.
def intercom_search_ids($vars):
  if .status == 200 and (.body | type) == "object" and .body.type == "list" and (.body.data | type) == "array" then
    .body as $b
    | ([$b.data[] | select(.role == $vars.role and .[$vars.match] != null)
        | {key: (.[$vars.match] | tostring | if $vars.match == "email" then ascii_downcase else . end), value: .id}]
       | group_by(.key) | map({key: .[0].key, value: map(.value)}) | from_entries) as $by
    | (($b.total_count // ($b.data | length)) > ($b.data | length)) as $more
    | [.records[]
       | intercom_match_value($vars) as $v
       | if .op == "delete" then
           intercom_not_matched("a delete is sent only with the Intercom id rx got when it wrote the contact, and this record has none: not deleting a contact found by \($vars.match)")
         elif $v == null then null
         elif ($by[$v] | length) == 1 then $by[$v][0]
         elif ($by[$v] | length) > 1 then intercom_not_matched("\($by[$v] | length) Intercom contacts (role \($vars.role)) have this \($vars.match): not guessing which")
         elif $more then intercom_not_matched("Intercom's search found more contacts than one page holds: not creating one that may exist")
         else null
         end]
  else intercom_common // (if .status >= 500 then null else {action: "reject", message: intercom_error} end)
  end;

# The answer to a create or an update (one contact a request): the
# contact, whose id goes into the ack.  A 409 on create means a contact
# with this e-mail or external_id exists but the search (eventually
# consistent) did not show it yet: a dead letter, which a re-drive sends
# through the search again.  A 404 on update: the id is gone from
# Intercom (the contact was deleted or merged there).
def intercom_write_result:
  .records[0] as $r
  | if (.status == 200 or .status == 201) then
      if (.body | type) == "object" and .body.type == "contact" and (.body.id | type) == "string" and .body.id != ""
         and ($r.id == null or ($r.id | tostring) == .body.id) then
        [{ok: true, id: .body.id, created: ($r.op == "insert")}]
      else
        {action: "reject", message: "Intercom answered \(.status) without the contact: not taken for a write"}
      end
    elif .status == 409 then
      [{ok: false, message: "Intercom already has a contact with these details (\(intercom_error)); its search had not shown it yet: re-drive this dead letter to update it"}]
    elif .status == 404 then
      [{ok: false, message: "Intercom has no contact with id \($r.id // "?") (deleted or merged there): \(intercom_error)"}]
    elif .status == 400 or .status == 422 then
      [{ok: false, message: "Intercom refused the contact: \(intercom_error)"}]
    else intercom_common
    end;

# DELETE /contacts/{id} answers the contact's reference with deleted:
# true.  A 404 is acked: the contact is not there, which is what a delete
# wants (it was deleted in Intercom, or by an earlier run whose ack was
# lost).
def intercom_delete_result:
  .records[0] as $r
  | if .status == 200 then
      if (.body | type) == "object" and .body.deleted == true and (.body.id | tostring) == ($r.id | tostring) then
        [{ok: true, id: .body.id}]
      else
        {action: "reject", message: "Intercom answered 200 without saying the contact was deleted"}
      end
    elif .status == 404 then [{ok: true}]
    elif .status == 400 or .status == 422 then [{ok: false, message: "Intercom refused the delete: \(intercom_error)"}]
    else intercom_common
    end;

# POST /contacts/{id}/archive (the intercom-contacts-archive profile's
# delete): the contact's reference with archived: true.  A 404 is acked,
# as for a delete.
def intercom_archive_result:
  .records[0] as $r
  | if .status == 200 then
      if (.body | type) == "object" and .body.archived == true and (.body.id | tostring) == ($r.id | tostring) then
        [{ok: true, id: .body.id}]
      else
        {action: "reject", message: "Intercom answered 200 without saying the contact was archived"}
      end
    elif .status == 404 then [{ok: true}]
    elif .status == 400 or .status == 422 then [{ok: false, message: "Intercom refused the archive: \(intercom_error)"}]
    else intercom_common
    end;
