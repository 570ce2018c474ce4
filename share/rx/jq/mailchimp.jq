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

# The batch body is a template in mailchimp-members.json: the row is the
# member as the batch endpoint takes it (email_address, status,
# merge_fields {FNAME, ...}, and any other member field: email_type,
# language, vip, ...), sent as its own text.  An insert must not touch an
# existing member: its update_existing false makes Mailchimp refuse it
# (ERROR_CONTACT_EXISTS) rather than change it.
def mailchimp_address: (.row.email_address // .row.email);

def mailchimp_no_body: "";

def _mailchimp_lower: if type == "string" then ascii_downcase else "" end;

# Per record, by e-mail address: refused (errors), added or updated (its
# id, the subscriber hash, goes into the ack), or named nowhere -- which
# is not taken for success.  Addresses compare as sent first, then
# without case (lowercasing costs, in jq 1.6: only for what is left).
def _mailchimp_index(f): reduce .[] as $m ({}; .[$m.email_address | tostring] = ($m | f));

def mailchimp_results:
  if (.body | type) != "object" or ((.body.new_members | type) != "array" and (.body.errors | type) != "array") then
    {action: "reject", message: "a reply rx-push does not understand (no new_members, updated_members or errors)"}
  else
    (.body.errors // [] | _mailchimp_index((.error // "refused")
        + (if (.field // "") != "" then " (\(.field)\(if (.field_message // "") != "" then ": " + .field_message else "" end))" else "" end)
        + (if .error_code then " [\(.error_code)]" else "" end))) as $bad
    | ((.body.new_members // []) + (.body.updated_members // []) | _mailchimp_index(.id)) as $done
    | [.records[] | (mailchimp_address | tostring) as $e
       | if $bad[$e] then {ok: false, message: $bad[$e]}
         elif $done | has($e) then {ok: true, id: $done[$e]}
         else ($e | _mailchimp_lower) as $l
           | ($bad | with_entries(.key |= _mailchimp_lower)) as $badl
           | ($done | with_entries(.key |= _mailchimp_lower)) as $donel
           | if $badl[$l] then {ok: false, message: $badl[$l]}
             elif $donel | has($l) then {ok: true, id: $donel[$l]}
             else {ok: false, message: "Mailchimp's reply names this member neither as added, updated nor refused"} end
         end]
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
