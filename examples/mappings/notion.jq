# examples/mappings/notion.jq - a customer as a page of a Notion database
# whose properties are: Name (title), Email (email), Plan and Country
# (select), Lifetime value (number), rx_key (text: the sync's key).
{rx_key: .id, Name: "\(.first_name) \(.last_name)", Email: {email: .email},
 Plan: {select: {name: .plan}}, Country: {select: {name: .country}}, "Lifetime value": .ltv}
