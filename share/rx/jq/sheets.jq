# sheets.jq - Google Sheets API v4, spreadsheets.values.append
# (share/rx/destinations/google-sheets-append.json).
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

def sheets_body: {values: [.records[] | [(.row // {})[] | _sheets_cell]]};

# 200: every row was appended (atomically); each ack carries its row's
# address ("Sheet1!A5"), where an update in place would write.  A reply
# that does not say it appended exactly the rows sent is not understood.
# 429: back off (no hint; the quota refills each minute).
def sheets_response:
  if .status == 200 and (.body | type) == "object" then
    (.body.updates // {}) as $u
    | if ($u.updatedRows // -1) != (.records | length) then
        {action: "reject", message: "a reply rx-push does not understand: \($u.updatedRows // "no") rows appended for \(.records | length)"}
      else
        ($u.updatedRange | capture("^(?<sheet>.*)!(?<col>[A-Z]+)(?<row>[0-9]+)")) as $at
        | [range(0; .records | length) | {ok: true, id: "\($at.sheet)!\($at.col)\(($at.row | tonumber) + .)"}]
      end
  elif .status == 429 then {action: "throttle", message: (.body.error.message // "RESOURCE_EXHAUSTED")}
  elif .status == 403 then {action: "auth", message: (.body.error.message // "PERMISSION_DENIED")}
  elif .status == 404 then {action: "auth", message: "no such spreadsheet or sheet: \(.body.error.message // "")"}
  elif .status == 400 then {action: "reject", message: (.body.error.message // "INVALID_ARGUMENT")}
  else null end;
