# notion.jq - Notion, pages in a database (share/rx/destinations/notion-pages.json).
#
# Follows Notion's API reference: "Create a page"
# (https://developers.notion.com/reference/post-page: a parent database,
# or from version 2025-09-03 a parent data source, and properties that
# match its schema), "Update page properties"
# (https://developers.notion.com/reference/patch-page: PATCH
# /v1/pages/{page_id}, only the properties named change), trashing a
# page (the same PATCH with "in_trash": true; "archived": true, its
# deprecated alias, for 2022-06-28, and gone from 2026-03-11), "Query a
# database" (https://developers.notion.com/reference/post-database-query,
# up to 2022-06-28) and "Query a data source"
# (https://developers.notion.com/reference/query-a-data-source, POST
# /v1/data_sources/{id}/query from 2025-09-03: a rich_text equals filter
# either way), property values
# (https://developers.notion.com/reference/page-property-values), the
# request limits (https://developers.notion.com/reference/request-limits:
# an average of 3 requests a second, 429 rate_limited with Retry-After;
# rich text of at most 2,000 characters a piece, 100 pieces) and the
# status codes (https://developers.notion.com/reference/status-codes).
# The upgrade guide for 2025-09-03
# (https://developers.notion.com/docs/upgrade-guide-2025-09-03): a
# database holds data sources, GET /v1/databases/{id} lists them in
# "data_sources", and pages are created in, and queried from, one of
# them.  Summarised in destinations-2.md sections 23 and 33.
#
# $vars.notion_version picks the model: before 2025-09-03 the database
# ($vars.database_id) is the parent and is queried; from 2025-09-03 on
# (2026-03-11 too) the data source ($vars.data_source_id) is.  A version
# that needs a data source without one is stopped by the first reply
# read (the lookup's or the create's), with the variable to set.
#
# A record is one page.  Its row's members are the database's
# properties, by name: the title property ($vars.title_property, default
# "Name") gets the member of that name (else the key); strings become
# rich text, numbers numbers, booleans checkboxes, arrays of strings
# multi-selects; an object is taken as a property value written as
# Notion wants it ({"select": {"name": "pro"}}, {"date": {"start":
# "2026-01-31"}}, {"email": "a@b.c"}, {"select": null} to clear one);
# nulls are left out.  The key goes into the rich-text property
# $vars.key_property ("rx_key"; empty: none), so pages can be traced back
# to rows and found by the lookup; key the sync on a member of that name
# (rx-diff --key rx_key).
#
# Notion addresses a page by its id.  The create's ack carries it, rx
# keeps it, and every later change of the key sends it: an update is a
# PATCH of that page, a delete archives it.  A record with no id yet (a
# page made outside rx, or before rx kept ids) is looked up by its key
# property first: found, it is updated; not found, an upsert creates it
# and a delete has nothing to do.
# Try it on a recorded reply:
#   echo '{"status":400,"body":{"object":"error","status":400,"code":"validation_error","message":"Plan is not a property that exists."}}' |
#   jq -c -L share/rx/jq 'include "notion"; notion_response'

# Text as rich text: pieces of at most 2,000 characters.
# (Text of one piece, the usual, is not sliced: jq 1.6's range and
# slices cost five times the piece.)
def notion_rich_text:
  tostring as $s
  | ($s | length) as $n
  | if $n <= 2000 then [{type: "text", text: {content: $s}}]
    else [range(0; $n; 2000) as $i | {type: "text", text: {content: $s[$i:$i + 2000]}}] end;

def notion_value:
  if type == "object" then .
  elif type == "string" then {rich_text: notion_rich_text}
  elif type == "number" then {number: .}
  elif type == "boolean" then {checkbox: .}
  elif type == "array" and all(.[]; type == "string") then {multi_select: map({name: .})}
  else {rich_text: (tojson | notion_rich_text)} end;

def notion_properties($rec):
  ($vars.title_property) as $title
  | ($rec.row // {}) as $r
  | (reduce ($r | keys_unsorted[]) as $k ({};
       if $r[$k] != null and $k != $title and $k != $vars.key_property then . + {($k): ($r[$k] | notion_value)} else . end))
    # (a reduce, not with_entries: jq 1.6's with_entries cost several times more)
    + {($title): {title: (($r[$title] // $rec.key) | notion_rich_text)}}
    + (if $vars.key_property != "" then {($vars.key_property): {rich_text: ($rec.key | notion_rich_text)}} else {} end);

# Whether the version addresses data sources (ISO dates compare as text).
def _notion_ds: $vars.notion_version >= "2025-09-03";

def notion_body:
  .records[0] as $rec
  | {parent: (if _notion_ds then {type: "data_source_id", data_source_id: $vars.data_source_id}
              else {database_id: $vars.database_id} end),
     properties: notion_properties($rec)};

# The lookup's path (a path program: the path a version queries).
def notion_query_path:
  if _notion_ds then "/v1/data_sources/\($vars.data_source_id | @uri)/query"
  else "/v1/databases/\($vars.database_id | @uri)/query" end;

# An update (PATCH /v1/pages/{id}, the id rx keeps): the same properties;
# Notion changes those named and leaves the others as they are.
def notion_update_body: {properties: notion_properties(.records[0])};

# The lookup of a record rx has no page id for: the database's pages
# whose key property ($vars.key_property) equals the record's key.
# Archived (trashed) pages are not returned.  Two results are asked for,
# to see a key held by two pages; without a key property there is
# nothing to look by (null: not sent, not found).
def notion_lookup_body:
  if $vars.key_property == "" then null
  else [.records[] | {property: $vars.key_property, rich_text: {equals: (.key | tostring)}}] as $f
    | {filter: (if ($f | length) == 1 then $f[0] else {or: $f} end), page_size: ([2 * ($f | length), 100] | min)}
  end;

def _notion_message: "\(.body.code // "error"): \(.body.message // "")";

# A version that addresses data sources, run without one: every lookup
# and create is refused (the query's URL has no id, a page no parent),
# so the first such reply stops the run, saying what to set.
def _notion_no_source:
  if _notion_ds and $vars.data_source_id == "" then
    {action: "auth", message: "NOTION_VERSION \($vars.notion_version) creates and queries pages in a data source: set NOTION_DATA_SOURCE_ID (GET /v1/databases/\($vars.database_id) lists the database's data_sources), or NOTION_VERSION=2022-06-28"}
  else null end;

# The errors every request shares: 401 and 403 stop the run (a bad token,
# a database not shared with the integration); 429 (Retry-After, which
# rx-push honours) and 409, 5xx, 529 are sent again by the status.
def _notion_common:
  if .status == 401 or .status == 403 then {action: "auth", message: _notion_message}
  elif .status == 429 then {action: "throttle", message: _notion_message}
  else null end;

# The query's answer: each record's page id, by the plain text of its
# key property; null when no live page holds the key; an error when two
# do (which one to write is not guessed) or when the reply has more
# pages than it showed.  404 (the database not shared) stops the run.
def notion_lookup_ids:
  if _notion_no_source then _notion_no_source
  elif .status == 200 and (.body | type) == "object" and (.body.results | type) == "array" then
    ($vars.key_property) as $p
    | (.body.has_more == true) as $more
    | (reduce (.body.results[] | {k: ((.properties[$p].rich_text // []) | map(.plain_text // .text.content // "") | add // ""), id})
         as $r ({}; .[$r.k] += [$r.id])) as $by
    | [.records[] | ($by[.key | tostring] // []) as $ids
       | if ($ids | length) == 1 then $ids[0]
         elif ($ids | length) > 1 then {error: "\($ids | length) Notion pages hold \($p) = \(.key | tostring) (ids \($ids | join(", "))): which one to write is not guessed"}
         elif $more then {error: "the database query had more results than one page shows"}
         else null end]
  elif .status == 404 then {action: "auth", message: "\(_notion_message) (is the database shared with the integration?)"}
  elif .status == 400 then {action: "reject", message: "the lookup by \($vars.key_property) was refused: \(_notion_message)"}
  else _notion_common end;

# 200 with the page: created; the ack carries the page id (updates and
# archiving address a page by it).  400 validation_error (a property not
# in the schema, a value of the wrong type, text too long) is this row's
# fault.  401, 403 and 404 (a bad token, a database not shared with the
# integration) fail every page: stop.  429 (Retry-After), 409
# conflict_error, 5xx and 529 service_overload are sent again.
def notion_response:
  if _notion_no_source then _notion_no_source
  elif .status == 200 and (.body | type) == "object" and .body.object == "page" then [{ok: true, id: .body.id}]
  elif .status == 400 and (.body | type) == "object" then [{ok: false, message: _notion_message}]
  elif .status == 404 then {action: "auth", message: _notion_message}
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else _notion_common end;

# An update by page id.  200 with the page: updated (the ack keeps its
# id).  404 object_not_found: the page is gone for the integration
# (deleted for good, or no longer shared): a dead letter, never a new
# page made behind the user's back; 400 validation_error, including
# "Can't edit block that is archived" (a page trashed in Notion): a dead
# letter with Notion's message.
def notion_update_response:
  if .status == 200 and (.body | type) == "object" and .body.object == "page" then [{ok: true, id: .body.id}]
  elif (.status == 400 or .status == 404) and (.body | type) == "object" then
    [{ok: false, message: (_notion_message + (if .status == 404 then " (the page is gone, or no longer shared with the integration)" else "" end))}]
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else _notion_common end;

# Trashing ({"in_trash": true}, {"archived": true} for 2022-06-28;
# Notion keeps the page in its trash; 2026-03-11 answers in_trash only).
# 200 with the page archived: done.  404 object_not_found: the page is
# already gone: done too.  400 naming an archived page: already archived.
def notion_archive_response:
  if .status == 200 and (.body | type) == "object" and .body.object == "page" and (.body.archived == true or .body.in_trash == true) then {action: "ack"}
  elif .status == 404 and (.body | type) == "object" and .body.code == "object_not_found" then {action: "ack"}
  elif .status == 400 and (.body | type) == "object" and ((.body.message // "") | test("archived")) then {action: "ack"}
  elif .status == 400 and (.body | type) == "object" then [{ok: false, message: _notion_message}]
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else _notion_common end;
