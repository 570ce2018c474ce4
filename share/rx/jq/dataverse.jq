# dataverse.jq - the programs of the dataverse profile (Dynamics 365 /
# Dataverse Web API v9.2), after:
#   https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api  (upsert)
#   https://learn.microsoft.com/power-apps/developer/data-platform/use-alternate-key-reference-record
#   https://learn.microsoft.com/power-apps/developer/data-platform/api-limits  (service protection, 429)
# and rx's ../shared/reference/destinations-2.md section 26.
#
# A record is upserted by an alternate key: PATCH
# /api/data/v9.2/{entity_set}({alternate_key}='value'), which creates or
# updates it and answers 204 with its GUID in OData-EntityId; rx keeps
# the GUID (the ack's id).  A delete goes by the GUID when rx knows it,
# else by the alternate key.  The key's value is an OData string literal
# (a quote doubled) in the URL, which only a program can build: the ops'
# paths are path programs.
#
#   jq -L share/rx/jq 'include "dataverse"; dataverse_result' reply.json

# The record's alternate key value: the row's member of that name, else
# the sync key.
def dataverse_key_value($vars): .row[$vars.alternate_key] // .key | tostring;

# ({alternate_key}='value') with the value an OData literal, URL-encoded.
# A value with one of / # < > * % & : \ ? + is refused before anything is
# sent: Microsoft's "Define alternate keys using Power Apps"
# (https://learn.microsoft.com/power-apps/maker/data-platform/define-alternate-keys-portal)
# says GET and PATCH by such a key do not work, and Dataverse answers them
# "Error in query syntax" (a 400) or "A record with the specified key
# values does not exist" (a 404, encoded or not: MicrosoftDocs/powerapps-docs
# issues 117 and 1895): a delete acked on that 404 would leave the row.
def dataverse_key_segment($vars):
  dataverse_key_value($vars) as $v
  | if $v | test("[/#<>*%&:\\\\?+]") then
      error("the alternate key value \($v | tojson) has a character Dataverse does not take in a key (/ # < > * % & : \\ ? +): "
            + "\($vars.alternate_key) must hold values without them (Microsoft's alternate keys page)")
    else "(\($vars.alternate_key)='" + ($v | split("'") | join("''") | @uri) + "')" end;

def dataverse_upsert_path($vars):
  .records[0] | "/api/data/v9.2/\($vars.entity_set)" + dataverse_key_segment($vars);

# By the GUID rx keeps, else by the alternate key (Dataverse takes both).
def dataverse_delete_path($vars):
  .records[0]
  | if (.id // "") != "" then "/api/data/v9.2/\($vars.entity_set)(\(.id | tostring | @uri))"
    else "/api/data/v9.2/\($vars.entity_set)" + dataverse_key_segment($vars) end;

# The row as the record's columns; the alternate key column is in the URL
# (sending it in the body too is allowed, and harmless).
def dataverse_body: .records[0].row;

def dataverse_error: .body.error.message // "Dataverse refused the request";

def dataverse_common:
  if .status == 429 then {action: "throttle"}
  elif .status == 401 then {action: "auth", message: "Dataverse refused the token"}
  else null
  end;

# 204 (or 200/201 with a representation): the GUID from OData-EntityId.
def dataverse_result:
  if .status == 204 or .status == 200 or .status == 201 then
    ((.headers["odata-entityid"] // "") | capture("\\((?<id>[0-9a-fA-F-]{36})\\)$").id? // null) as $id
    | if $id == null and (.body | type) == "object" then [{ok: true}] else [{ok: true, id: $id}] end
  elif .status == 400 or .status == 403 or .status == 404 or .status == 412 then
    [{ok: false, message: "\(.body.error.code // .status): \(dataverse_error)"}]
  else dataverse_common
  end;

# A delete: done, or already gone (404).
def dataverse_delete_result:
  if .status == 204 or .status == 200 or .status == 404 then {action: "ack"}
  else dataverse_common
  end;
