# examples/mappings/airtable.jq - a customer as an Airtable record: the
# field names of the table; "Customer ID" is the merge field
# (AIRTABLE_MERGE_ON), a text field holding the warehouse id.
{"Customer ID": .id, "Email": .email, "Name": "\(.first_name) \(.last_name)", "Plan": .plan,
 "Lifetime value": .ltv, "Churn risk": .churn_risk}
