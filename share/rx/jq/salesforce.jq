# salesforce.jq - the programs of the salesforce profile, after Salesforce's
# REST API sObject Collections and SOQL query resources:
#   https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-upsert.html
#   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm
#   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm  (Sforce-Limit-Info)
#   https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
# and rx's ../shared/reference/destinations.md section 2 and
# destinations-2.md section 33.
#
# A record is upserted by its external id ($vars.external_id, a field of
# the sObject $vars.sobject marked External ID): the row's value of that
# field, or the sync key when the row has none.  Salesforce answers 200
# with one result per record, in order, each naming the record's Id; rx
# keeps it (the ack's id) and deletes by it later (DELETE ?ids=).  A
# record to delete or update without a known Id is first found by its
# external id with SOQL (GET /query?q=SELECT Id, ... WHERE ... IN (...)).
#
#   jq -L share/rx/jq 'include "salesforce"; salesforce_results' reply.json

# The external id value of a record.
def salesforce_external_id($vars): .row[$vars.external_id] // .key | tostring;

# A SOQL string literal: backslash and quote escaped.
def salesforce_soql_string: "'" + (tostring | gsub("\\\\"; "\\\\") | gsub("'"; "\\'")) + "'";

# The write bodies are templates in the profile: PATCH
# composite/sobjects/{sobject}/{external_id} (at most 200 records of one
# type, each with attributes.type and its external id: the row's, else
# the key, as text; never an Id) and PATCH composite/sobjects (an update
# by Salesforce Id, the field "id").

# The lookup: the Ids of records by their external ids, one SOQL query
# (GET: these are its query parameters).
def salesforce_lookup_body($vars):
  {q: ("SELECT Id, \($vars.external_id) FROM \($vars.sobject) WHERE \($vars.external_id) IN ("
       + ([.records[] | salesforce_external_id($vars) | salesforce_soql_string] | unique | join(", ")) + ")")};

# Salesforce's errors of a record, as one line.
def salesforce_message:
  [.errors[]? | "\(.statusCode // "ERROR"): \(.message // "")" + (if (.fields // []) | length > 0 then " (\(.fields | join(", ")))" else "" end)]
  | if length == 0 then "Salesforce refused the record (no error given)" else join("; ") end;

# A whole request refused: [{"message","errorCode"}] (or an object).
def salesforce_request_error:
  (if (.body | type) == "array" then .body[0] elif (.body | type) == "object" then .body else {} end) as $e
  | ($e.errorCode // $e.error // "") as $code
  | if .status == 401 or $code == "INVALID_SESSION_ID" then {action: "auth", message: ($e.message // "Session expired or invalid")}
    elif $code == "REQUEST_LIMIT_EXCEEDED" then {action: "quota", message: "REQUEST_LIMIT_EXCEEDED: \($e.message // "")"}
    elif .status == 503 or $code == "SERVER_UNAVAILABLE" then {action: "retry", message: ($e.message // "SERVER_UNAVAILABLE")}
    else {action: "reject", message: "\($code): \($e.message // "Salesforce refused the request")"}
    end;

# Per-record failures worth another try: a row locked by another
# transaction.
def salesforce_retryable: [.errors[]?.statusCode] | any(. == "UNABLE_TO_LOCK_ROW");

# The answer to an upsert or an update: one result per record, in order.
def salesforce_results:
  if .status == 200 and (.body | type) == "array" then
    [.body[] | if .success == true then {ok: true, id: .id} + (if .created == null then {} else {created: .created} end)
               elif salesforce_retryable then {retry: true, message: salesforce_message}
               else {ok: false, message: salesforce_message} end]
  else salesforce_request_error
  end;

# The answer to a delete by Ids, in the order of ?ids=: a record already
# deleted (in the recycle bin) is gone, as asked.
def salesforce_delete_results:
  if .status == 200 and (.body | type) == "array" then
    [.body[] | if .success == true then {ok: true}
               elif [.errors[]?.statusCode] | any(. == "ENTITY_IS_DELETED") then {ok: true}
               elif salesforce_retryable then {retry: true, message: salesforce_message}
               else {ok: false, message: salesforce_message} end]
  else salesforce_request_error
  end;

# The lookup's answer: each record's Id, or null when no record has its
# external id (compared as Salesforce does, without regard to case).
def salesforce_lookup_ids($vars):
  if .status == 200 and (.body | type) == "object" then
    ([.body.records[]? | {key: (.[$vars.external_id] | tostring | ascii_downcase), value: .Id}] | from_entries) as $found
    | [.records[] | $found[salesforce_external_id($vars) | ascii_downcase] // null]
  else salesforce_request_error
  end;

# ---- Bulk API 2.0 ingest jobs (the salesforce-bulk profile) -----------------
#   https://developer.salesforce.com/docs/platform/api-asynch/guide/create-job.html
#   https://developer.salesforce.com/docs/platform/api-asynch/guide/upload-job-data.html
#   https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/datafiles_csv_valid_record_rows.htm
#   https://developer.salesforce.com/docs/platform/api-asynch/guide/get-job-successful-results.html
#   https://developer.salesforce.com/docs/platform/api-asynch/guide/get-job-failed-results.html
#
# One batch is one ingest job: created (POST jobs/ingest), its CSV
# uploaded (PUT .../batches, 201), closed (PATCH {"state":"UploadComplete"}:
# the first poll), read until JobComplete, Failed or Aborted, then its
# successfulResults/ and failedResults/ read (CSV: rx-push gives them as
# rows of strings, the header first).  Rows come back in any order: a
# record is found by its external id (upsert) or its Id (update, delete).
# Every record must be in exactly one of the two: one in neither, or
# counts that disagree with the job's, is never taken for success.
#
#   echo '{"status":200,"body":[["sf__Id","sf__Error","Warehouse_Id__c"]],"job":"750x",
#          "carry":{"step":"failed","processed":1,"failed":0,"n":1,"ok":{"C1":["003A"]}},
#          "records":[{"key":"C1","op":"upsert","row":{}}]}' |
#   jq -c -L share/rx/jq 'include "salesforce"; salesforce_bulk_status({version: "v62.0", external_id: "Warehouse_Id__c"})'

# The job's operation for an rx op: an insert is an upsert by external id
# too (a repeat after a lost reply must not duplicate).
def _sfb_operation: if .op == "delete" then "delete" elif .op == "update" then "update" else "upsert" end;

# POST jobs/ingest: a CSV job for the batch's op.
def salesforce_bulk_create_body($vars):
  _sfb_operation as $o
  | {object: $vars.sobject, contentType: "CSV", operation: $o, lineEnding: "LF"}
    + (if $o == "upsert" then {externalIdFieldName: $vars.external_id} else {} end);

# The job a create's reply names (its id, 750...), else null.
def salesforce_bulk_job_id:
  if (.status == 200 or .status == 201) and (.body | type) == "object" and (.body.id | type) == "string" and .body.id != ""
  then .body.id else null end;

# A number as plain decimal text: jq prints 1e-07 and 1e+17, which an
# integer or currency field may not read.  (A number beyond a double's
# exact range already arrives as a string and is written as it is.)
def _sfb_decimal:
  tostring as $s
  | if ($s | contains("e")) | not then $s
    else ($s | capture("^(?<sign>-?)(?<int>[0-9]+)(\\.(?<frac>[0-9]+))?e(?<exp>[-+]?[0-9]+)$")) as $m
      | ($m.int + ($m.frac // "")) as $digits
      | (($m.exp | tonumber) + ($m.int | length)) as $point
      | def zeros($n): [range(0; $n) | "0"] | join("");
        $m.sign
        + (if $point <= 0 then "0." + zeros(-$point) + $digits
           elif $point >= ($digits | length) then $digits + zeros($point - ($digits | length))
           else $digits[0:$point] + "." + $digits[$point:] end)
    end;

# One CSV field's value from a row's member: missing (the row has no such
# member) null, an empty field, which Bulk API 2.0 leaves as it is; null,
# and the empty string, {null: true}, written #N/A, its "set to null"; a
# number in plain decimal, a boolean true/false, an object or array as
# its JSON; a string as it is.
def _sfb_field($row; $col):
  if ($row | has($col)) | not then null
  else $row[$col] as $v
    | if $v == null or $v == "" then {null: true}
      elif ($v | type) == "number" then $v | _sfb_decimal
      elif ($v | type) == "boolean" then $v | tostring
      elif ($v | type) == "string" then $v
      else $v | tojson end
  end;

# The columns a record of the op writes, and its row of values:
#   upsert: the external id (the row's, else the sync key), the row's
#           members but Id;
#   update: Id (the destination id), the row's members but Id and the
#           external id;
#   delete: Id alone.
def _sfb_row($vars):
  if .op == "delete" then {Id: (.id | tostring)}
  elif .op == "update" then {Id: (.id | tostring)} + ((.row // {}) | delpaths([["Id"], ["id"], [$vars.external_id]]))
  else ((.row // {}) | delpaths([["Id"], ["id"]])) + {($vars.external_id): salesforce_external_id($vars)}
  end;

# PUT jobs/ingest/{job}/batches: the CSV.  The header is the union of the
# records' columns, the match column first, the others sorted (the same
# batch always gives the same file); a record without one of them leaves
# that field empty, untouched.  A value is quoted by @csv (quotes
# doubled), a missing one is empty and #N/A is bare, as Salesforce's
# pages write them; lines end with LF.
def _sfb_line: map(if . == null then "" elif type == "object" then "#N/A" else [.] | @csv end) | join(",");
def salesforce_bulk_csv($vars):
  [.records[] | _sfb_row($vars)] as $rows
  | (if .op == "delete" or .op == "update" then "Id" else $vars.external_id end) as $match
  | ([$match] + ([$rows[] | keys_unsorted[] | select(. != $match)] | unique)) as $cols
  | ([$cols | @csv] + [$rows[] as $r | [$cols[] as $c | _sfb_field($r; $c)] | _sfb_line]) | join("\n") + "\n";

# The upload's answer: 201 (no body) takes the records into the job,
# which the first poll then closes.
def salesforce_bulk_upload_response:
  if .status == 201 or .status == 200 then {action: "ack"} else salesforce_request_error end;

# The first poll (PATCH jobs/ingest/{job}): processing starts only then.
def salesforce_bulk_close_body: {state: "UploadComplete"};

# A results CSV (rows, the header first) indexed by one column: {value of
# $key: [values of $val, one a row]}; {} for an empty reply; null when it
# is not a CSV with both columns.  (Column positions are read from the
# header once (not with index/1, whose array form libjq 1.6 leaks); the
# reduce sets each member directly, binding nothing in
# its update: jq 1.6 then copies the whole object every row; and no
# destructuring, which libjq 1.6 leaks.)
def _sfb_pos($name): first(range(0; length) as $i | select(.[$i] == $name) | $i) // null;
def _sfb_index($key; $val):
  if .body == null or .body == "" then {}
  elif (.body | type) == "array" and (.body | length) >= 1 and (.body[0] | type) == "array" then
    .body as $b | ($b[0] | _sfb_pos($key)) as $ki | ($b[0] | _sfb_pos($val)) as $vi
    | if $ki == null or $vi == null then null
      else reduce ($b[1:][] | [.[$ki] // "", .[$vi] // ""]) as $p ({}; .[$p[0]] = ((.[$p[0]] // []) + [$p[1]]))
      end
  else null end;

# The match value of a record: its external id (upsert) or its Id.
def _sfb_match($vars): if .op == "delete" or .op == "update" then (.id | tostring) else salesforce_external_id($vars) end;

# The job's polls, told apart by what the last one carried:
#   null       the close (PATCH) answered: read the job next;
#   "state"    the job: Open, UploadComplete, InProgress wait; JobComplete
#              reads successfulResults/ next (carrying the job's counts);
#              Failed or Aborted rejects every record with errorMessage;
#   "ok"       successfulResults/ read: their ids kept (by match value),
#              failedResults/ next;
#   "failed"   failedResults/ read: one result per record (a delete
#              whose record was already deleted, ENTITY_IS_DELETED, is
#              acked: it is gone, as asked).
def salesforce_bulk_status($vars):
  "/services/data/\($vars.version)/jobs/ingest/\(.job)" as $job
  | (.carry // {}) as $c
  | (if (.records[0].op // "") as $o | $o == "delete" or $o == "update" then "Id" else $vars.external_id end) as $col
  | if .status != 200 then salesforce_request_error
    elif .carry == null then {action: "wait", next: $job, carry: {step: "state"}}
    elif $c.step == "state" then
      (.body | if type == "object" then . else {} end) as $j
      | if $j.state == "Open" or $j.state == "UploadComplete" or $j.state == "InProgress" then {action: "wait"}
        elif $j.state == "JobComplete" then
          {action: "wait", wait: 0, next: "\($job)/successfulResults/",
           carry: {step: "ok", processed: ($j.numberRecordsProcessed // null), failed: ($j.numberRecordsFailed // null)}}
        elif $j.state == "Failed" or $j.state == "Aborted" then
          {action: "reject", message: "the job \(.job) ended \($j.state): \($j.errorMessage // "no errorMessage given")"}
        else {action: "reject", message: "a job state rx-push does not know: \($j.state // "none")"}
        end
    elif $c.step == "ok" then
      _sfb_index($col; "sf__Id") as $ok
      | if $ok == null then {action: "reject", message: "the job's successfulResults are not a CSV with sf__Id and \($col)"}
        else {action: "wait", wait: 0, next: "\($job)/failedResults/",
              carry: ($c + {step: "failed", n: ([$ok[] | length] | add // 0), ok: $ok})}
        end
    elif $c.step == "failed" then
      _sfb_index($col; "sf__Error") as $bad
      | ([$bad[]? | length] | add // 0) as $nbad
      | if $bad == null then {action: "reject", message: "the job's failedResults are not a CSV with sf__Error and \($col)"}
        elif $c.processed != null and $c.failed != null and ($c.n + $nbad != $c.processed or $nbad != $c.failed) then
          {action: "reject", message: "the job's results do not add up: \($c.n) successful and \($nbad) failed rows, but the job says \($c.processed) processed, \($c.failed) failed"}
        else
          ([.records[] | _sfb_match($vars)] | group_by(.) | map(select(length > 1) | {(.[0]): true}) | add // {}) as $twice
          | [.records[] | _sfb_match($vars) as $m
             | if $twice[$m] then {ok: false, message: "two records of the job have \($col) \($m | tojson): their results cannot be told apart"}
               elif ($c.ok[$m] // [] | length) == 1 and $bad[$m] == null then {ok: true, id: $c.ok[$m][0]}
               elif $bad[$m] != null and $c.ok[$m] == null then
                 # a record already deleted (in the recycle bin) is gone, as asked
                 if .op == "delete" and ($bad[$m] | all(startswith("ENTITY_IS_DELETED"))) then {ok: true}
                 else {ok: false, message: ($bad[$m] | join("; "))} end
               elif $bad[$m] == null and $c.ok[$m] == null then
                 {ok: false, message: "the record is not in the job's results (\($col) \($m | tojson)): not taken for applied"}
               else {ok: false, message: "the job's results name the record more than once (\($col) \($m | tojson)): not taken for applied"} end]
        end
    else {action: "reject", message: "a job step rx-push does not know"}
    end;
