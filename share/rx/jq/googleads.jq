# googleads.jq - Google Ads Customer Match: people added to and removed
# from a Customer Match user list through an offline user data job
# (share/rx/destinations/google-ads-customer-match.json).
#
# Follows Google's Google Ads API reference: OfflineUserDataJobService
# (https://developers.google.com/google-ads/api/reference/rpc/latest/OfflineUserDataJobService:
# CreateOfflineUserDataJob, AddOfflineUserDataJobOperations with
# enable_partial_failure, RunOfflineUserDataJob), UserIdentifier (one of
# hashed_email, hashed_phone_number, address_info, mobile_id,
# third_party_user_id; SHA-256 hex after normalising), the job's status
# (PENDING, RUNNING, SUCCESS, FAILED, with failure_reason) read through
# GoogleAdsService.Search, partial failures (GoogleAdsFailure, the
# operation's index in location.fieldPathElements[0]) and
# RESOURCE_EXHAUSTED with quotaErrorDetails.retryDelay.  Summarised in
# destinations.md section 9 and destinations-2.md section 34.
#
# One batch is one job: create it (job.create), add one operation a
# record (the op's write: create or remove of the row's identifiers),
# run it (the job's first poll, :run), then search its status (the next
# polls, sent where the status program says: googleAds:search) until it
# is done.  Google gives no result per person: a record is acked when
# its operation was accepted at addOperations AND the job ended SUCCESS.
#
# The bodies are templates in google-ads-customer-match.json (built in
# C).  A row is a person: its members named like Google's fields are
# sent (hashedEmail, hashedPhoneNumber; hashedFirstName, hashedLastName,
# countryCode and postalCode make an addressInfo when all four are
# there; mobileId and thirdPartyUserId as text).  Every hashed* member
# sent must be 64 lowercase hex digits of SHA-256 (rx-map --hash): a
# request with anything else is refused before anything is sent, even
# the job's create (rx-push builds the write's body first).  What the
# programs here read: the create's reply (the job), addOperations'
# partial failures, the job's status.
#
#   echo '{"status":200,"body":{"results":[{"offlineUserDataJob":{"status":"RUNNING"}}]},"carry":"run","job":"7"}' |
#   jq -c -L share/rx/jq 'include "googleads"; gads_job_status({version: "v23", customer_id: "1"})'

# The job a create's reply names: the last part of its resourceName
# (customers/{cid}/offlineUserDataJobs/{id}); null for anything else
# (the response program then reads the error).
def gads_job_id:
  if .status == 200 and (.body | type) == "object" and (.body.resourceName | type) == "string" then
    .body.resourceName | split("/") | last | if test("^[0-9]+$") then . else null end
  else null end;

# The errors of a GoogleAdsFailure, each "CODE: message".
def _gads_said($e):
  "\(($e.errorCode // {}) | to_entries | map("\(.value)") | join(","))\(if $e.message then ": " + $e.message else "" end)";
def _gads_errors: [.details[]? | .errors[]?];

# A reply that is not a success: throttled (429 RESOURCE_EXHAUSTED, its
# retryDelay), credentials (401, 403), a conflict to retry
# (CONCURRENT_MODIFICATION, 409 ABORTED), else rejected with Google's
# words; null for a 5xx (retry_statuses decide).
def gads_error:
  ((.body | if type == "object" then .error else null end) // {}) as $e
  | ($e | _gads_errors) as $errs
  | ([$errs[] | .details.quotaErrorDetails.retryDelay // empty] + [$e.details[]? | .retryDelay // empty]
     | map(tostring | sub("s$"; "") | tonumber? // empty) | max) as $delay
  | "\($e.status // "HTTP \(.status)"): \($e.message // "")\(if ($errs | length) > 0 then " (" + ([$errs[] | _gads_said(.)] | join("; ")) + ")" else "" end)" as $msg
  | if .status == 429 or $e.status == "RESOURCE_EXHAUSTED" then
      {action: "throttle", message: $msg} + (if $delay != null then {wait: $delay} else {} end)
    elif .status == 401 or .status == 403 then {action: "auth", message: $msg}
    elif .status == 409 or ([$errs[] | .errorCode.databaseError // empty | select(. == "CONCURRENT_MODIFICATION")] | length) > 0 then
      {action: "retry", message: $msg}
    elif .status >= 500 then null
    else {action: "reject", message: $msg} end;

# The create's reply when it names no job (an error).
def gads_create_response:
  if .status == 200 then {action: "reject", message: "a reply rx-push does not understand: the create named no job"}
  else gads_error end;

# :addOperations with partial failure: 200 with no partialFailureError
# (or code 0): every operation was taken into the job, its records go on
# to :run.  Otherwise each error names its operation by index
# (fieldPathElements[0] {fieldName: "operations", index}); those records
# are dead-lettered with Google's words, the others go on.  An error that
# names no operation fails the whole request: no record is taken for
# added when Google did not say so.
def gads_add_response:
  if .status == 200 and (.body | type) == "object" then
    (.body.partialFailureError // null) as $pf
    | if $pf == null or ($pf.code // 0) == 0 then {action: "ack"}
      else
        ($pf | _gads_errors) as $errs
        | [$errs[] | (.location.fieldPathElements[0] // {}) as $f
           | if $f.fieldName == "operations" and ($f.index | type) == "number" then {i: $f.index, said: _gads_said(.)}
             else {i: null, said: _gads_said(.)} end] as $at
        | if ($at | length) == 0 or ([$at[] | select(.i == null)] | length) > 0 then
            {action: "reject", message: "Google rejected operations it does not name: \($pf.message // ([$at[].said] | join("; ")))"}
          else
            (reduce $at[] as $a ({}; .[$a.i | tostring] += [$a.said])) as $by
            | [range(0; .count) as $i
               | if $by[$i | tostring] then {ok: false, message: "Google refused the operation: \($by[$i | tostring] | join("; "))"}
                 else {ok: true} end]
          end
      end
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else gads_error end;

# The job's status, searched: GoogleAdsService.Search (a POST) for the
# job's row, sent by the status program as its next poll.
def _gads_search($vars):
  {method: "POST", path: "/\($vars.version)/customers/\($vars.customer_id)/googleAds:search",
   body: {query: "SELECT offline_user_data_job.id, offline_user_data_job.status, offline_user_data_job.failure_reason FROM offline_user_data_job WHERE offline_user_data_job.id = \(.job)"}};

# The job's polls.  The first is :run (.carry is null): a 200 (a
# long-running operation) starts the job, whose status is then searched
# (next, carry "run").  A search: PENDING or RUNNING, wait; SUCCESS,
# every record of the job is acked (the operations Google refused were
# dead-lettered at addOperations); FAILED (with its failure_reason), a
# status rx-push does not know, or no such job: no record is acked, they
# are dead-lettered with the reason (a FAILED job may have applied some
# operations: a later run re-sends them, which is harmless).
def gads_job_status($vars):
  if .status == 200 and .carry == null then {action: "wait", next: _gads_search($vars), carry: "run"}
  elif .status == 200 and (.body | type) == "object" then
    (.body.results // [] | .[0].offlineUserDataJob // null) as $j
    | if $j == null then {action: "reject", message: "the job is not found (GoogleAdsService.Search returned no row for it)"}
      elif $j.status == "PENDING" or $j.status == "RUNNING" then {action: "wait"}
      elif $j.status == "SUCCESS" then {action: "ack"}
      elif $j.status == "FAILED" then {action: "reject", message: "the job failed: \($j.failureReason // "no failure_reason given")"}
      else {action: "reject", message: "a job status rx-push does not know: \($j.status // "none")"}
      end
  else gads_error end;
