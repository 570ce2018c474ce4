# firestore.jq - Cloud Firestore, documents:batchWrite
# (share/rx/destinations/firestore-batchwrite.json).
#
# Follows Google's REST reference for projects.databases.documents.batchWrite
# (https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases.documents/batchWrite:
# not atomic, one google.rpc.Status per write, in order, at most one
# write per document), the Value type (.../rest/v1/Value), the document
# id rules (https://firebase.google.com/docs/firestore/quotas: no "/",
# not "." or "..", not __.*__, at most 1,500 bytes), the error codes
# (https://cloud.google.com/firestore/docs/understand-error-codes) and
# the "500/50/5" ramp of https://cloud.google.com/firestore/docs/best-practices.
# Summarised in destinations-2.md section 30.
#
# A record is the document $vars.collection/KEY: upsert replaces it with
# the row, insert creates it (refused if it exists), update replaces it
# (refused if it does not), delete deletes it (a missing one is done).
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"writeResults":[{},{}],"status":[{},{"code":3,"message":"bad"}]}}' |
#   jq -c -L share/rx/jq 'include "firestore"; firestore_response'

# The bodies are templates in firestore-batchwrite.json, one an op: the
# document's name with the key checked ({key|text|match:... // !...}: a
# key Firestore cannot take as a document id refuses the request), and
# its fields as Firestore Values ({row|firestore}: an integer a double
# holds exactly is an integerValue, other numbers doubleValues, a string
# a stringValue, and so on down arrays and objects).

def _fs_code_names: {"1": "CANCELLED", "2": "UNKNOWN", "3": "INVALID_ARGUMENT", "4": "DEADLINE_EXCEEDED",
  "5": "NOT_FOUND", "6": "ALREADY_EXISTS", "7": "PERMISSION_DENIED", "8": "RESOURCE_EXHAUSTED",
  "9": "FAILED_PRECONDITION", "10": "ABORTED", "11": "OUT_OF_RANGE", "12": "UNIMPLEMENTED",
  "13": "INTERNAL", "14": "UNAVAILABLE", "15": "DATA_LOSS", "16": "UNAUTHENTICATED"};

# Positional: status[i] belongs to write i; {} (code 0) is done.  ABORTED
# (contention), RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED and UNAVAILABLE are
# sent again; the other codes dead-letter that record.  A 200 without a
# status per write is not understood.
def firestore_response:
  if .status == 200 and (.body | type) == "object" and (.body.status | type) == "array" then
    [.body.status[] | (.code // 0) as $c
     | if $c == 0 then {ok: true}
       elif $c == 10 or $c == 8 or $c == 4 or $c == 14 then
         {retry: true, message: "\(_fs_code_names[$c | tostring]): \(.message // "")"}
       else {ok: false, message: "\(_fs_code_names[$c | tostring] // $c): \(.message // "")"} end]
  elif .status == 429 then {action: "throttle", message: (.body.error.message // "RESOURCE_EXHAUSTED")}
  elif .status == 403 then {action: "auth", message: (.body.error.message // "PERMISSION_DENIED")}
  elif .status == 409 then {action: "retry", message: (.body.error.message // "ABORTED")}
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
