# iterable.jq - Iterable users: the programs of
# share/rx/destinations/iterable-users.json.
#
# Follows Iterable's API pages (https://api.iterable.com/api/docs, "Users"):
#   POST /api/users/bulkUpdate  {"users":[{email, userId?, dataFields}]}
#   DELETE /api/users/{email}
# as summarised in destinations.md section 5: bulkUpdate answers 200 even
# when users failed, naming them by value, not by position:
# "invalidEmails", "invalidUserIds" and the lists of "failedUpdates"
# (invalidEmails, notFoundEmails, invalidDataEmails, conflictEmails,
# forgottenEmails and their *UserIds twins).  A record failed if its
# e-mail (or userId) is in one of them.
#
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"successCount":1,"failCount":1,"invalidEmails":["bob@x"],"failedUpdates":{}},
#          "records":[{"row":{"email":"ada@x.com"}},{"row":{"email":"bob@x"}}]}' |
#   jq -c -L share/rx/jq 'include "iterable"; iterable_response'

def _iterable_text: if type == "string" then . elif . == null then null else tojson end;

# The bulk body is a template in iterable-users.json: one user, matched by
# e-mail; the rest of the row is its dataFields.  A row that carries
# "userId" sends it too (hybrid projects).  The response programs read
# the rows' email and userId only ("response_rows" names them).

# A DELETE carries no body.
def iterable_no_body: "";

# value (lowercased) -> the list that names it, from the lists whose name
# ends in $suffix ("Emails" or "UserIds"), top level and failedUpdates.
def _iterable_failed($suffix):
  [ (to_entries[] | select(.key | endswith($suffix)) | select(.key | startswith("noOp") | not)),
    ((.failedUpdates // {}) | to_entries[] | select(.key | endswith($suffix)) | .key |= "failedUpdates." + .) ]
  | map(.key as $why | (.value // [])[] | select(type == "string") | {key: ascii_downcase, value: $why})
  | from_entries;

def iterable_bulk_results:
  if (.body | type) != "object" or (.body.successCount | type) != "number" then
    {action: "reject", message: "a reply rx-push does not understand (no successCount)"}
  else
    (.body | _iterable_failed("Emails")) as $emails
    | (.body | _iterable_failed("UserIds")) as $ids
    | if ($emails | length) == 0 and ($ids | length) == 0 then {action: "ack"}   # the usual reply: every user taken
      else
        [.records[] | ((.row.email | _iterable_text) // "" | ascii_downcase) as $e
                    | ((.row.userId | _iterable_text) // "" | ascii_downcase) as $u
                    | if $emails[$e] then {ok: false, message: "Iterable listed \($e) in \($emails[$e])"}
                      elif $u != "" and $ids[$u] then {ok: false, message: "Iterable listed userId \($u) in \($ids[$u])"}
                      else {ok: true} end]
      end
  end;

# Whole-request answers: 401 is a key Iterable refuses; 429 its rate
# limit (no wait hint: rx-push backs off); other 4xx fail the request.
def iterable_response:
  if .status == 200 then iterable_bulk_results
  elif .status == 401 or .status == 403 then
    {action: "auth", message: "Iterable refused the API key (\(.body.code // .status)): it needs a server-side key"}
  elif .status == 429 then {action: "throttle", message: (.body.msg // "rate limited")}
  else null
  end;

# DELETE /api/users/{email}: a user already gone is what a delete wants.
def iterable_delete_response:
  if .status >= 200 and .status < 300 then {action: "ack"}
  elif .status == 404 or (.status == 400 and ((.body.msg // "") | test("not exist|not found"; "i"))) then
    {action: "ack", message: "already gone"}
  else iterable_response
  end;
