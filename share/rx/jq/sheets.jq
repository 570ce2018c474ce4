# sheets.jq - Google Sheets API v4: spreadsheets.values.append
# (share/rx/destinations/google-sheets-append.json), and append,
# batchUpdate, batchClear and get for a sheet that mirrors the model
# (google-sheets-rows.json).
#
# Follows Google's reference for spreadsheets.values.append
# (https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/append:
# the table found in the range grows by the rows sent; the reply's
# updates.updatedRange names where they went), the usage limits
# (https://developers.google.com/sheets/api/limits: 60 write requests a
# minute per user per project, 300 per project, a 2 MB payload advised;
# 429 when over, refilled each minute) and "requests are applied
# atomically".  Summarised in destinations-2.md section 21.
#
# A record is a row of the sheet: the row's members, in their order, are
# the columns (put the key first in your mapping).  Strings, numbers and
# booleans are cells as they are, null an empty cell, an object or array
# its JSON text.
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"updates":{"updatedRange":"Sheet1!A5:C6","updatedRows":2}},"records":[{},{}]}' |
#   jq -c -L share/rx/jq 'include "sheets"; sheets_response'

def _sheets_cell: if type == "object" or type == "array" then tojson elif . == null then "" else . end;

# An append's body is a template in the profiles,
# {"values": ["{row|cells // []}"]}: the row's values, each a cell as
# _sheets_cell makes it.

# The refusals every request can get.  429: back off (no hint; the
# quota refills each minute).
def _sheets_errors:
  if .status == 429 then {action: "throttle", message: (.body.error.message // "RESOURCE_EXHAUSTED")}
  elif .status == 403 then {action: "auth", message: (.body.error.message // "PERMISSION_DENIED")}
  elif .status == 404 then {action: "auth", message: "no such spreadsheet or sheet: \(.body.error.message // "")"}
  elif .status == 400 then {action: "reject", message: (.body.error.message // "INVALID_ARGUMENT")}
  else null end;

# 200: every row was appended (atomically); each ack carries its row's
# address ("Sheet1!A5"), where an update in place writes.  It reads
# .count, not .records: rx-push then builds no records for it.  A reply that
# does not say it appended exactly the rows sent is not understood.
def sheets_response:
  if .status == 200 and (.body | type) == "object" then
    (.body.updates // {}) as $u
    | if ($u.updatedRows // -1) != .count then
        {action: "reject", message: "a reply rx-push does not understand: \($u.updatedRows // "no") rows appended for \(.count)"}
      else
        ($u.updatedRange | capture("^(?<sheet>.*)!(?<col>[A-Z]+)(?<row>[0-9]+)")) as $at
        | "\($at.sheet)!\($at.col)" as $col | ($at.row | tonumber) as $first
        | [range($first; $first + .count) | {ok: true, id: "\($col)\(.)"}]
      end
  else _sheets_errors end;

# ---- google-sheets-rows: one row per record, rewritten and cleared in place ----
#
# A record's id is its row's address, "Customers!A17" (the sheet as
# Sheets writes it, quoted when it must be: "'My sheet'!A17"), from the
# ack of its append or from the lookup.  A write covers the whole row:
# "Customers!17:17".

# The lookup (a values.get of column A, majorDimension COLUMNS): each
# record's row is the one whose first cell is the record's first member
# (the key, first in the mapping), compared as text; null when no row
# holds it (the record is appended), an error when two do (never a
# guess: a sheet edited by hand, or rows appended twice by an
# append-only sync).
def _sheets_text: if type == "string" then . elif . == null then "" else tojson end;
def sheets_rows_lookup:
  if .status == 200 and (.body | type) == "object" then
    (.body.range // "" | sub("![^!]*$"; "")) as $sheet
    | (.body.values[0]? // []) as $col
    | (reduce range(0; $col | length) as $i ({}; ($col[$i] | _sheets_text) as $k
         | if $k == "" then . else .[$k] += [$i + 1] end)) as $rows
    | [.records[] | ((.row // {}) | to_entries[0].value? | _sheets_text) as $k
       | $rows[$k] as $at
       | if $k == "" or $at == null then null
         elif ($at | length) > 1 then {error: "\($at | length) rows of \($sheet) hold \($k) in column A (rows \($at | map(tostring) | join(", "))): which one is this record's is not known"}
         else "\($sheet)!A\($at[0])" end]
  else _sheets_errors end;

# An append's reply (google-sheets-rows): as sheets_response, and the
# rows must start at column A, where a record's id is (its address) and
# the lookup reads keys.  Sheets appends "starting with the first column
# of the table" it finds; with the whole sheet as the range, replies
# show that table to be the cells joined to the sheet's last one, which
# a column empty in every row (no header above it) cuts off from column
# A: tableRange "Sheet1!J1", rows shifted right (burnash/gspread issues
# 537 and 603, googleworkspace/php-samples issue 38).  Such rows are
# written, but not where rx can address them: never acked as the
# records' rows, a dead letter saying where they went and why.
def sheets_rows_append_response:
  if .status == 200 and (.body | type) == "object" and (.body.updates.updatedRange | type) == "string"
     and ((.body.updates.updatedRange | capture("^(?<sheet>.*)!(?<col>[A-Z]+)(?<row>[0-9]+)")? // {}).col // "A") != "A" then
    {action: "reject", message: "Sheets appended these rows at \(.body.updates.updatedRange), not from column A (the table it found, \(.body.tableRange // "not named"), starts at another column: a column empty in every row, with no header above it, cuts the sheet in two); rx cannot address rows there. Give the sheet a header row naming every column, clear those rows, then re-drive these dead letters"}
  else sheets_response end;

# values:batchUpdate: every record's row rewritten, one request, and
# values:batchClear: every record's row cleared (not removed: removing a
# row moves every row below it, and their addresses with them).  Their
# bodies are templates in google-sheets-rows.json: each record's range,
# "Customers!17:17", made from its id by an as: of a match: (an id that
# is not an address of column A refused: never a write elsewhere), its
# cells as an append's.

# One response per range, in order; each must name the record's row (its
# updatedRange starts at the record's id: both are Sheets' own text).
# The usual reply, every range its record's, is checked whole (a
# comparison of two arrays; a missing range is "null", which no id is:
# the body refused any id but an address) and acks the request (each ack
# carries its record's id, the row written): a third of the cost of
# record by record, which any other reply gets.
def sheets_rows_update_response:
  if .status == 200 and (.body | type) == "object" then
    (.body.responses // []) as $r
    | if ($r | length) != (.records | length) then
        {action: "reject", message: "a reply rx-push does not understand: \($r | length) ranges updated for \(.records | length)"}
      else
        if [$r[].updatedRange | tostring | split(":")[0]] == [.records[].id] then {action: "ack"}
        else
          [range(0; .records | length) as $i | .records[$i] as $rec
           | if ($r[$i].updatedRange // "" | split(":")[0]) == $rec.id
             then {ok: true, id: $rec.id}
             else {ok: false, message: "Sheets wrote \($r[$i].updatedRange // "nothing") for the row \($rec.id)"} end]
        end
      end
  else _sheets_errors end;

# A clear's reply names as many ranges as were sent.  It reads .count,
# not the request's records: rx-push then builds none for it.
def sheets_rows_clear_response:
  if .status == 200 and (.body | type) == "object" then
    if (.body.clearedRanges // [] | length) == .count then {action: "ack"}
    else {action: "reject", message: "a reply rx-push does not understand: \(.body.clearedRanges // [] | length) ranges cleared for \(.count)"} end
  else _sheets_errors end;
