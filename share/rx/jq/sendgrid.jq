# sendgrid.jq - the programs of the sendgrid-contacts profile, after
# Twilio SendGrid's Marketing Campaigns contacts API:
#   https://www.twilio.com/docs/sendgrid/api-reference/contacts/add-or-update-a-contact
#   https://www.twilio.com/docs/sendgrid/api-reference/contacts/import-contacts-status
#   https://www.twilio.com/docs/sendgrid/api-reference/contacts/delete-contacts
#   https://www.twilio.com/docs/sendgrid/api-reference/contacts/get-contacts-by-emails
#   https://www.twilio.com/docs/sendgrid/for-developers/sending-email/rate-limits
# and rx's ../shared/reference/destinations-2.md sections 15, 33 and 34.
#
# A batch is one upsert job (PUT /v3/marketing/contacts, matched on the
# e-mail); rx polls /v3/marketing/contacts/imports/{id} and acks the
# batch when the job is "completed".  SendGrid counts a job's failures
# but names them only in a file (errors_url), so an "errored" job's
# records cannot be told apart: they are dead-lettered together, with the
# counts (sending them again is harmless: an upsert by e-mail).  Deletes
# take SendGrid's contact ids, all of a batch in one ?ids=, and are jobs
# too; ids are found by e-mail (search/emails, 100 at a time).
#
#   jq -L share/rx/jq 'include "sendgrid"; sendgrid_job_status' poll-reply.json
include "rx";

# An upsert's body is a template in sendgrid-contacts.json: each contact
# SendGrid's reserved fields by name (as text; a null is left out:
# SendGrid keeps what a contact has; the e-mail lowercased,
# alternate_emails an array), every other member a custom field (its key
# is the field's id or name as SendGrid knows it: e1_T, w2_N...), the
# row's custom_fields over them; list_ids from $vars.list_ids.

# The lookup: the batch's e-mails (a well-formed one each: SendGrid
# refuses the whole search for one bad address, and no contact can have it).
def _sendgrid_wellformed: trim | if test("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$") then . else "" end;
def _sendgrid_email: (.row.email // "" | tostring | ascii_downcase | _sendgrid_wellformed);
def sendgrid_search_body:
  {emails: ([.records[] | _sendgrid_email | select(. != "")] | unique)};

def _sendgrid_said: [.body.errors[]? | .message // empty] | join("; ") | if . == "" then null else . end;

def sendgrid_common:
  if .status == 429 then {action: "throttle", message: (_sendgrid_said // "too many requests")}
  elif .status == 401 or .status == 403 then {action: "auth", message: (_sendgrid_said // "HTTP \(.status)")}
  else null end;

# The ids found, one a record (null: no such contact; the delete is then
# already done).
def sendgrid_search_ids:
  if .status == 200 then
    (.body.result // {}) as $res
    | [.records[] | _sendgrid_email | if . == "" then null else ($res[.].contact.id // null) end]
  elif .status == 404 then [.records[] | null]
  else sendgrid_common // null end;

# A 202 names the job.
def sendgrid_job_id:
  if .status == 202 and (.body | type) == "object" and (.body.job_id | type) == "string" then .body.job_id
  else null end;

# A refused upsert (400): the errors that name a contact by its place
# (contacts[N]) dead-letter it and send the others again; otherwise the
# whole request is refused.  A 2xx comes here only when it named no job
# (sendgrid_job_id gave null): nothing says the contacts were applied,
# so it is not an ack.
def sendgrid_response:
  if .status >= 200 and .status < 300 then
    {action: "reject", message: "SendGrid answered HTTP \(.status) without a job_id: whether these contacts were applied is not known (sending them again is harmless)"}
  elif .status == 400 then
    ([.body.errors[]? | select((.field // "") | test("^contacts\\[[0-9]+\\]"))
      | {key: (.field | capture("^contacts\\[(?<i>[0-9]+)\\]").i), value: .message}]
     | group_by(.key) | map({key: .[0].key, value: (map(.value) | join("; "))}) | from_entries) as $by
    | if $by == {} then {action: "reject", message: (_sendgrid_said // "HTTP 400")}
      else [range(0; .records | length) as $i
            | if $by[$i | tostring] then {ok: false, message: $by[$i | tostring]}
              else {retry: true, message: "sent again without the contacts SendGrid refused"} end]
      end
  else sendgrid_common // null end;

# The job: pending, or done with counts.  It reads .count, not .records:
# rx-push then builds no records for it.
def sendgrid_job_status:
  if .status == 200 and (.body | type) == "object" and (.body.status | type) == "string" then
    .body as $j | ($j.results // {}) as $r
    | if $j.status == "pending" then {action: "wait"}
      elif $j.status == "completed" then {action: "ack"}
      elif $j.status == "errored" then
        {action: "reject", message: "SendGrid's \($j.job_type // "") job \(.job) errored for \($r.errored_count // "some") of \($r.requested_count // .count) contacts and does not say which (its errors_url lists them); this one may have been applied (sending it again is harmless)"}
      elif $j.status == "failed" then
        {action: "reject", message: "SendGrid's \($j.job_type // "") job \(.job) failed: none of its \($r.requested_count // .count) contacts was applied (errors_url lists why)"}
      else {action: "reject", message: "a job status rx-push does not know: \($j.status)"}
      end
  elif .status == 404 then {action: "reject", message: "SendGrid no longer knows the job \(.job)"}
  else sendgrid_common // null end;
