# mailchimp.jq - Mailchimp audience (list) members: the programs of
# share/rx/destinations/mailchimp-members.json.
#
# Follows Mailchimp's Marketing API reference
#   https://mailchimp.com/developer/marketing/api/lists/batch-subscribe-or-unsubscribe/
#   https://mailchimp.com/developer/marketing/api/list-members/archive-list-member/
# (and its OpenAPI document, ../shared/conformance/specs/mailchimp.json),
# as summarised in destinations-2.md section 13: POST /lists/{list_id}
# takes {"members":[..500], "update_existing": bool} and answers 200 with
# "new_members", "updated_members" and "errors" named by e-mail address,
# never by position.  A member is matched by its e-mail address, so no
# subscriber hash (MD5 of the lowercased address) is computed: the batch
# takes addresses, and DELETE /lists/{list_id}/members/{subscriber_hash}
# "also accepts a list member's email address" (the spec's words).
#
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"new_members":[{"id":"h1","email_address":"ada@x.com"}],"updated_members":[],
#          "errors":[{"email_address":"bob@x","error":"looks fake"}]},
#          "records":[{"row":{"email_address":"Ada@x.com"}},{"row":{"email_address":"bob@x"}}]}' |
#   jq -c -L share/rx/jq 'include "mailchimp"; mailchimp_response'

# Members of the batch endpoint Mailchimp knows by name; every other
# member of the row is a merge field (FNAME, LNAME, a custom tag), and a
# row's own "merge_fields" object is taken as it is.
def _mailchimp_member_fields:
  ["email_type", "status", "interests", "language", "vip", "location",
   "ip_signup", "timestamp_signup", "ip_opt", "timestamp_opt"];

def mailchimp_address: (.row.email_address // .row.email);

def mailchimp_member:
  .row as $row
  | (_mailchimp_member_fields) as $known
  | {email_address: mailchimp_address}
  + ($row | with_entries(select(.key as $k | $known | index([$k]))) | with_entries(select(.value != null)))
  + {merge_fields: (($row.merge_fields // {})
       + ($row | with_entries(select(.key as $k | ($known + ["email_address", "email", "merge_fields"]) | index([$k]) | not)))
       | map_values(if . == null then "" else . end))};

# An insert must not touch an existing member: update_existing false makes
# Mailchimp refuse it (ERROR_CONTACT_EXISTS) rather than change it.
def mailchimp_batch_body:
  {members: [.records[] | mailchimp_member], update_existing: (.op != "insert")};

def mailchimp_no_body: "";

def _mailchimp_lower: if type == "string" then ascii_downcase else "" end;

# Per record, by e-mail address: refused (errors), added or updated (its
# id, the subscriber hash, goes into the ack), or named nowhere -- which
# is not taken for success.
def mailchimp_results:
  if (.body | type) != "object" or ((.body.new_members | type) != "array" and (.body.errors | type) != "array") then
    {action: "reject", message: "a reply rx-push does not understand (no new_members, updated_members or errors)"}
  else
    (.body.errors // [] | map({key: (.email_address | _mailchimp_lower),
        value: ((.error // "refused") + (if (.field // "") != "" then " (\(.field)\(if (.field_message // "") != "" then ": " + .field_message else "" end))" else "" end)
                + (if .error_code then " [\(.error_code)]" else "" end))}) | from_entries) as $bad
    | ((.body.new_members // []) + (.body.updated_members // []) | map({key: (.email_address | _mailchimp_lower), value: .id}) | from_entries) as $done
    | [.records[] | (mailchimp_address | _mailchimp_lower) as $e
       | if $bad[$e] then {ok: false, message: $bad[$e]}
         elif $done | has($e) then {ok: true, id: $done[$e]}
         else {ok: false, message: "Mailchimp's reply names this member neither as added, updated nor refused"} end]
  end;

# Errors are application/problem+json: {"type","title","status","detail"}.
def mailchimp_reply(ok):
  if .status == 200 then ok
  elif .status == 401 or .status == 403 then
    {action: "auth", message: "Mailchimp refused the API key (\(.body.title // .status)): \(.body.detail // "")"}
  else null
  end;

def mailchimp_response: mailchimp_reply(mailchimp_results);

# Archiving answers 204; a member already archived, or never there, is 404:
# either way the address is no longer in the audience.
def mailchimp_delete_response:
  if .status == 204 or .status == 200 then {action: "ack"}
  elif .status == 404 then {action: "ack", message: "not a member"}
  else mailchimp_reply(null)
  end;
