# linkedin.jq - LinkedIn Matched Audiences: users and companies of a DMP
# segment (share/rx/destinations/linkedin-audience.json,
# linkedin-companies.json).
#
# Follows Microsoft Learn's LinkedIn Marketing pages "DMP Segment Users"
# (https://learn.microsoft.com/linkedin/marketing/matched-audiences/create-and-manage-segment-users:
# POST /rest/dmpSegments/{id}/users with X-RestLi-Method BATCH_CREATE,
# elements of {action ADD|REMOVE, userIds [{idType, idValue}], firstName,
# lastName, title, company, country}; the rw_dmp_segments permission; a
# 1-minute limit per member and daily limits) and the connectors'
# reading of the reply (Segment's linkedin-audiences: elements[i] is
# element i's status; 408, 409, 423, 429 and 5xx retried).  Summarised
# in destinations-2.md section 28.  Companies follow "DMP Segment
# Companies" (.../matched-audiences/create-and-manage-segment-companies:
# POST /rest/dmpSegments/{id}/companies, the same headers, permission,
# limits and reply; elements of {action, companyName,
# companyWebsiteDomain, organizationUrn, companyPageUrl, industries,
# city, state, country, postalCode, stockSymbol}).
#
# A row is a person: SHA256_EMAIL (64 hex digits) or SHA512_EMAIL (128),
# hashed by the mapping, and GOOGLE_AID (a device id, not hashed) are its
# ids; firstName, lastName, title, company and country are sent as they
# are (LinkedIn matches on them in the clear).  Other members are not
# sent.  A hashed id that is not hex is refused before it is sent.
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"elements":[{"status":201},{"status":400,"message":"bad"}]}}' |
#   jq -c -L share/rx/jq 'include "linkedin"; linkedin_response'
# (linkedin_companies_response for a company segment's reply).

# The body is a template in linkedin-audience.json (one for ADD, one for
# REMOVE): each id in userIds when the row has it ("??"), a hashed one
# refused when it is not a hex digest of the right length, the names
# when not empty ("?firstName").  linkedin-companies.json's template
# places a company row's members the same way, each left out when empty.

# 200 {"elements": [{"status": 201}, {"status": 400, "message"}]}: element
# i is record i.  A 2xx element is done; 408, 409, 423, 429 and 5xx are
# sent again; any other is dead-lettered with LinkedIn's message.  A 429
# for the request throttles, unless it names a DAY limit: the day's quota
# is gone, stop (exit 75).  401 and 403 (no rw_dmp_segments): stop.  404:
# a segment made a minute ago is not found yet: sent again.
def _li_retry: {"408": 1, "409": 1, "423": 1, "429": 1, "500": 1, "502": 1, "503": 1, "504": 1};
def _li_response($what):
  if .status == 200 and (.body | type) == "object" and (.body.elements | type) == "array" then
    [.body.elements[] | (.status // 0) as $s
     | if $s >= 200 and $s < 300 then {ok: true}
       elif _li_retry[$s | tostring] then {retry: true, message: "\($s) \(.message // "")"}
       else {ok: false, message: "LinkedIn refused the \($what) (\($s)): \(.message // "")"} end]
  elif .status == 429 then
    (.body.message // "") as $m
    | if ($m | test("DAY")) then {action: "quota", message: $m} else {action: "throttle", message: $m} end
  elif .status == 401 or .status == 403 then {action: "auth", message: "\(.body.code // .body.serviceErrorCode // ""): \(.body.message // "")"}
  elif .status == 404 then {action: "retry", message: "the segment is not found (a new one takes a minute or two): \(.body.message // "")"}
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
# The users' reply and the companies' are the same: element i is record i.
def linkedin_response: _li_response("user");
def linkedin_companies_response: _li_response("company");
