# examples/mappings/sheet-row.jq - a customer as a spreadsheet row: the
# members, in this order, are the columns A, B, C, ... (the key first).
{id, email, name: "\(.first_name) \(.last_name)", country, plan, lifetime_value: .ltv}
