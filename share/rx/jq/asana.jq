# asana.jq - Asana tasks (share/rx/destinations/asana-tasks.json).
#
# Follows Asana's API reference and OpenAPI document
# (https://developers.asana.com/reference/createtask, updatetask,
# deletetask; ../shared/conformance/specs/asana.yaml): a task's
# "external" field {gid, data} -- "once an external gid is set, you can
# use the notation external:custom_gid to reference your object anywhere
# in the API where you may use the original object gid" (OAuth only) --
# and its rate limits (https://developers.asana.com/docs/rate-limits:
# 150 requests a minute on free domains, 1,500 on paid ones; 429 with
# Retry-After).  Summarised in destinations-2.md section 25.
#
# A record is the task whose external gid is its key: insert creates it
# (in $vars.project, or $vars.workspace) with external.gid = the key,
# update changes it as PUT /tasks/external:KEY, delete deletes it the same
# way; no Asana gid is ever needed.  The row's members are task fields
# (name, notes, html_notes, due_on, due_at, start_on, assignee,
# completed, custom_fields, ...: _asana_task_fields), the others are not
# sent; a row without a name is named by its key.
# Try it on a recorded reply:
#   echo '{"status":400,"body":{"errors":[{"message":"name: Value cannot be an empty string"}]}}' |
#   jq -c -L share/rx/jq 'include "asana"; asana_response'

def _asana_errors: (.body.errors // []) | map(.message) | join("; ");

# The task fields a row may set; its other members (the sync's key, a
# template's inputs) are not sent.
def _asana_task_fields: {name: 1, notes: 1, html_notes: 1, due_on: 1, due_at: 1, start_on: 1, start_at: 1,
  assignee: 1, assignee_section: 1, completed: 1, approval_status: 1, custom_fields: 1, followers: 1,
  parent: 1, projects: 1, tags: 1, workspace: 1, resource_subtype: 1, liked: 1};

# custom_fields values are strings in Asana's OpenAPI document (an enum
# option's gid, a text, a number as its text): numbers are sent as text.
def _asana_fields:
  . as $r | reduce (keys_unsorted[] | select(_asana_task_fields[.] != null)) as $k ({}; . + {($k): $r[$k]})
  # (a reduce, not with_entries: jq 1.6's with_entries cost several times more)
  | if (.custom_fields | type) == "object" then
    .custom_fields |= map_values(if type == "number" then tostring else . end)
  else . end;

def asana_create_body:
  .records[0] as $rec
  | ($rec.row // {} | _asana_fields) as $r
  | {data: ($r
            + (if ($r.name // null) == null then {name: ($rec.key | tostring)} else {} end)
            + (if $vars.project != "" and ($r.projects // null) == null then {projects: [$vars.project]} else {} end)
            + (if $vars.workspace != "" and ($r.workspace // null) == null then {workspace: $vars.workspace} else {} end)
            + {external: {gid: ($rec.key | tostring)}})};

# An update changes the fields the row names (a null clears one).
def asana_update_body:
  .records[0] as $rec | {data: ($rec.row // {} | del(.projects, .workspace, .external) | _asana_fields)};

# A DELETE carries no body.
def asana_no_body: "";

# 200 or 201 {"data": {"gid"}}: the ack carries the task's gid.  400
# (a field Asana refuses) is this record's fault.  401, 402 (a premium
# feature), 403 (no access, or the external field without OAuth) fail
# every request: stop.  404 on an update: no task has this external gid
# (dead letter); on a create: the project or workspace is gone (stop).
# 429 (Retry-After) and 5xx: sent again.
def asana_response:
  if (.status == 200 or .status == 201) and (.body | type) == "object" and (.body.data | type) == "object" then
    [{ok: true, id: .body.data.gid}]
  elif .status == 400 then [{ok: false, message: "Asana refused the task: \(_asana_errors)"}]
  elif .status == 402 or .status == 403 then {action: "auth", message: _asana_errors}
  elif .status == 404 then {action: "auth", message: "Asana: \(_asana_errors) (is the project or workspace gone?)"}
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;

def asana_update_response:
  if .status == 404 then [{ok: false, message: "Asana: no task has this external gid: \(_asana_errors)"}]
  else asana_response end;

# A task already gone (404) is deleted.
# An upsert of a record without a gid first looks its task up by the
# external gid: 200 with the task's gid, 404 when no task has it (then
# it is created: not_found upsert = insert).
def asana_lookup_ids:
  if .status == 200 and (.body | type) == "object" and (.body.data | type) == "object"
     and (.body.data.gid | type) == "string" then [.body.data.gid]
  elif .status == 404 then [null]
  elif .status == 400 then [{error: "Asana refused the lookup: \(_asana_errors)"}]
  elif .status == 401 or .status == 402 or .status == 403 then {action: "auth", message: _asana_errors}
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;

# An upsert by gid of a task that is gone (a person deleted it in Asana):
# a dead letter, not a new task (someone removed it on purpose).
def asana_upsert_response:
  if .status == 404 then [{ok: false, message: "Asana: the task \(.records[0].id) is gone (deleted in Asana); it is not created again: \(_asana_errors)"}]
  else asana_response end;

def asana_delete_response:
  if .status == 404 then [{ok: true}]
  elif .status == 200 then [{ok: true}]
  else asana_response end;
