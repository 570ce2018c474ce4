# notion.jq - Notion, pages in a database (share/rx/destinations/notion-pages.json).
#
# Follows Notion's API reference: "Create a page"
# (https://developers.notion.com/reference/post-page: a parent database
# and properties that match its schema), property values
# (https://developers.notion.com/reference/page-property-values), the
# request limits (https://developers.notion.com/reference/request-limits:
# an average of 3 requests a second, 429 rate_limited with Retry-After;
# rich text of at most 2,000 characters a piece, 100 pieces) and the
# status codes (https://developers.notion.com/reference/status-codes).
# Summarised in destinations-2.md section 23.
#
# A record creates one page.  Its row's members are the database's
# properties, by name: the title property ($vars.title_property, default
# "Name") gets the member of that name (else the key); strings become
# rich text, numbers numbers, booleans checkboxes, arrays of strings
# multi-selects; an object is taken as a property value written as
# Notion wants it ({"select": {"name": "pro"}}, {"date": {"start":
# "2026-01-31"}}, {"email": "a@b.c"}); nulls are left out.  The key goes
# into the rich-text property $vars.key_property ("rx_key"; empty: none),
# so pages can be traced back to rows (and found by a lookup, issue 12);
# key the sync on a member of that name (rx-diff --key rx_key).
# Try it on a recorded reply:
#   echo '{"status":400,"body":{"object":"error","status":400,"code":"validation_error","message":"Plan is not a property that exists."}}' |
#   jq -c -L share/rx/jq 'include "notion"; notion_response'

# Text as rich text: pieces of at most 2,000 characters.
def notion_rich_text:
  tostring as $s
  | [range(0; ($s | length); 2000) as $i | {type: "text", text: {content: $s[$i:$i + 2000]}}]
  | if length == 0 then [{type: "text", text: {content: ""}}] else . end;

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
  | ($r | with_entries(select(.value != null and .key != $title and .key != $vars.key_property) | .value |= notion_value))
    + {($title): {title: (($r[$title] // $rec.key) | notion_rich_text)}}
    + (if $vars.key_property != "" then {($vars.key_property): {rich_text: ($rec.key | notion_rich_text)}} else {} end);

def notion_body:
  .records[0] as $rec
  | {parent: {database_id: $vars.database_id}, properties: notion_properties($rec)};

# 200 with the page: created; the ack carries the page id (updates and
# archiving address a page by it).  400 validation_error (a property not
# in the schema, a value of the wrong type, text too long) is this row's
# fault.  401, 403 and 404 (a bad token, a database not shared with the
# integration) fail every page: stop.  429 (Retry-After), 409
# conflict_error, 5xx and 529 service_overload are sent again.
def notion_response:
  if .status == 200 and (.body | type) == "object" and .body.object == "page" then [{ok: true, id: .body.id}]
  elif .status == 400 and (.body | type) == "object" then [{ok: false, message: "\(.body.code // "error"): \(.body.message // "")"}]
  elif .status == 401 or .status == 403 or .status == 404 then
    {action: "auth", message: "\(.body.code // "refused"): \(.body.message // "")"}
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
