# zendesk.jq - the programs of the zendesk-users profile, after Zendesk
# Support's users bulk API and job statuses:
#   https://developer.zendesk.com/api-reference/ticketing/users/users/#create-or-update-many-users
#   https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/
# and rx's ../shared/reference/destinations-2.md sections 16 and 34.
#
# A bulk write is a job: the reply only says it was queued.  rx polls the
# job status until it is completed, and acks a record only when the job's
# result for it says so (results come in request order; a failure names
# its index).  Users are matched on external_id, the warehouse's key.
#
#   jq -L share/rx/jq 'include "zendesk"; zendesk_job_status' poll-reply.json

# The body is a template in zendesk-users.json: each user is its row,
# with external_id the key (as text).

# The job a bulk reply names (null: no job, the status decides).
def zendesk_job_id:
  if .status == 200 and (.body | type) == "object" then .body.job_status.id // null else null end;

def zendesk_throttle: {action: "throttle"};

# A job status: not done yet (wait), failed whole, or the fate of each
# record from its results.  It reads .count, not .records: rx-push then
# builds no records for it (a parse each, at every poll).
#
# A record is applied when its result has an id, a status among $done
# and no "success": false.  The statuses: "Created" and "Updated" for
# create_or_update_many (real replies recorded in facetoe/zenpy's
# tests/test_api/betamax cassettes: {"id", "status": "Created"}; the job
# statuses page: {"id", "action": "update", "success": true, "status":
# "Updated"}), "Deleted" for destroy_many (Zendesk's reference for Bulk
# Delete Users: {"action": "delete", "id": 244, "status": "Deleted",
# "success": true}).  "Failed" (or an error) is a dead letter with
# Zendesk's details; any other result is not understood, never applied.
def zendesk_job_status_of($done):
  if .status == 200 and (.body.job_status | type) == "object" then
    .body.job_status as $j
    | if $j.status == "queued" or $j.status == "working" then {action: "wait"}
      elif $j.status == "completed" and ($j.results | type) == "array" and ($j.results | length) == .count
           and all($j.results[]; type == "object" and .index == null and .error == null
                                 and (.status as $s | any($done[]; . == $s)) and .success != false
                                 and .id != null) then
        # the usual reply: every record applied, in order
        [$j.results[] | {ok: true, id: .id}]
      elif $j.status == "completed" then
        ([$j.results // [] | to_entries[] | {key: ((.value.index // .key) | tostring), value: .value}]
         | from_entries) as $by
        | [range(0; .count) as $i | $by[$i | tostring] as $r
           | if $r == null then {ok: false, message: "the job's results do not name this record"}
             elif $r.status == "Failed" or $r.error != null then {ok: false, message: ($r.details // $r.error)}
             elif $r.id != null and ($r.status as $s | any($done[]; . == $s)) and $r.success != false then {ok: true, id: $r.id}
             else {ok: false, message: "the job's result for this record is not understood (\($r | tojson)): not taken for \($done | join(" or "))"}
             end]
      elif $j.status == "failed" then {action: "reject", message: ($j.message // "the job failed")}
      else {action: "reject", message: "a job status rx-push does not know: \($j.status)"}
      end
  elif .status == 404 then {action: "reject", message: "the job is gone (Zendesk keeps job statuses for a day)"}
  elif .status == 429 then zendesk_throttle
  else null
  end;

def zendesk_upsert_job_status: zendesk_job_status_of(["Created", "Updated"]);
def zendesk_delete_job_status: zendesk_job_status_of(["Deleted"]);
# Either (a program for a profile whose ops share one).
def zendesk_job_status: zendesk_job_status_of(["Created", "Updated", "Deleted"]);
