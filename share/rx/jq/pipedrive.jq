# pipedrive.jq - the programs of the pipedrive-persons profile, after
# Pipedrive's API v2 persons endpoints:
#   https://developers.pipedrive.com/docs/api/v1/Persons  (v2: /api/v2/persons, PATCH, search)
#   https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
# and rx's ../shared/reference/destinations-2.md sections 19 and 33.
#
# Pipedrive has no batch write and no upsert: a person is created once,
# then updated and deleted by its Pipedrive id.  rx keeps that id (the
# ack's id); a person without one is first searched for by e-mail (exact
# match), then updated, or created when none is found.
#
#   jq -L share/rx/jq 'include "pipedrive"; pipedrive_result' reply.json

# The row as a person: "email" and "phone" become Pipedrive's lists
# (null or "" clears them); members whose name starts with "_" are rx's
# alone (the sync key, _rx_id, which Pipedrive has no top-level field
# for) and are not sent; everything else (name, owner_id, custom_fields
# by their API keys) is sent as it is.
# (Written with delpaths and object addition, not with_entries, "=" and
# del: jq 1.6's path tracking made those four times dearer, a record.)
def pipedrive_person:
  delpaths([keys_unsorted[] | select(startswith("_")) | [.]])
  | (if has("email") then . + {emails: [.email | select(. != null and . != "") | {value: ., primary: true, label: "work"}]} | delpaths([["email"]]) else . end)
  | (if has("phone") then . + {phones: [.phone | select(. != null and . != "") | {value: tostring, primary: true, label: "work"}]} | delpaths([["phone"]]) else . end);

def pipedrive_body: .records[0].row | pipedrive_person;

# The e-mail a person is searched by.
def pipedrive_email: .row.email // "" | tostring;

# The search's query parameters (a GET's body program gives them); null,
# so that nothing is sent, for a record whose e-mail is too short to
# search (Pipedrive wants 2 characters).
def pipedrive_search_query:
  (.records[0] | pipedrive_email) as $e
  | if ($e | length) < 2 then null else {term: $e, fields: "email", exact_match: "true", limit: "2"} end;

def pipedrive_throttle: {action: "throttle"};

def pipedrive_error: .body.error // .body.error_info // "Pipedrive refused the request";

# The search's answer: the person's id, or null (not found; a record
# without an e-mail, or one too short to search, is not found either).
# Two persons with the e-mail are refused: which one to write is a guess.
def pipedrive_search_ids:
  if (.records[0] | pipedrive_email | length) < 2 then [null]
  elif .status == 200 then
    [.body.data.items // [] | .[].item.id] as $ids
    | if ($ids | length) == 0 then [null]
      elif ($ids | length) == 1 then [$ids[0]]
      else [{error: "\($ids | length) Pipedrive persons have this e-mail (ids \($ids | map(tostring) | join(", "))): which one to write is not guessed"}]
      end
  elif .status == 429 then pipedrive_throttle
  elif .status == 401 then {action: "auth", message: pipedrive_error}
  else null
  end;

# A create or an update: {success, data: {id, ...}}.
def pipedrive_result:
  if (.status == 200 or .status == 201) and .body.success == true then [{ok: true, id: .body.data.id}]
  elif .status == 429 then pipedrive_throttle
  elif .status == 401 then {action: "auth", message: pipedrive_error}
  elif .status >= 400 and .status < 500 then [{ok: false, message: pipedrive_error}]
  else null
  end;

# A delete: done, or already gone (404).
def pipedrive_delete_result:
  if (.status == 200 and .body.success == true) or .status == 404 then {action: "ack"}
  elif .status == 429 then pipedrive_throttle
  elif .status == 401 then {action: "auth", message: pipedrive_error}
  else null
  end;
