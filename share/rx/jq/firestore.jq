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

# A JSON value as a Firestore Value.  An integer a double holds exactly is
# an integerValue (int64, as a string); other numbers are doubleValue.  A
# string stays a stringValue (a model sends a number a double cannot hold
# as a string: cast it in the mapping if it must be a number there).
def fs_value:
  type as $t
  | if $t == "string" then {stringValue: .}
    elif $t == "number" then
      (if . == floor and . < 9007199254740992 and . > -9007199254740992 then {integerValue: tostring}
       else {doubleValue: .} end)
    elif $t == "boolean" then {booleanValue: .}
    elif $t == "null" then {nullValue: null}
    elif $t == "array" then {arrayValue: {values: map(fs_value)}}
    else . as $o | {mapValue: {fields: ([keys_unsorted[] as $k | {($k): ($o[$k] | fs_value)}] | add // {})}} end;

# An object's members as Firestore fields (built by adding one-member
# objects: map_values costs half as much again in jq 1.6).
def fs_fields: . as $o | [keys_unsorted[] as $k | {($k): ($o[$k] | fs_value)}] | add // {};

# The documents' names.  A key Firestore cannot take as a document id is
# an error (it would name another document: "a/b" is a subcollection):
# the keys of a batch are checked at once (a regular expression a key
# would cost more than the rest of the body), and the first bad one named.
def _fs_bad_id: test("/") or . == "." or . == ".." or test("^__.*__$") or . == "" or utf8bytelength > 1500;
def _fs_check:
  ([.records[].key | tostring] | join("\n")) as $keys
  | if ($keys | test("/|(^|\n)(\\.|\\.\\.|__.*__|)(\n|$)")) or ([.records[].key | tostring | utf8bytelength] | max // 0) > 1500 then
      first(.records[].key | tostring | select(_fs_bad_id)) as $id
      | error("the key \($id | tojson) cannot be a Firestore document id (no \"/\", not \".\" or \"..\", not __.*__, at most 1,500 bytes)")
    else . end;

def firestore_body:
  _fs_check
  | "projects/\($vars.project)/databases/\($vars.database)/documents/\($vars.collection)/" as $prefix
  | {writes: [.records[] | ($prefix + (.key | tostring)) as $name
              | if .op == "delete" then {delete: $name}
                else {update: {name: $name, fields: ((.row // {}) | fs_fields)}}
                     + (if .op == "insert" then {currentDocument: {exists: false}}
                        elif .op == "update" then {currentDocument: {exists: true}}
                        else {} end)
                end]};

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
