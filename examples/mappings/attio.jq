# examples/mappings/attio.jq - the customer model as Attio people.  Attio
# asserts a record by a unique attribute: rx_customer_id (create it on
# People: a Text attribute with "unique" on), the sync key, which never
# changes, so a new e-mail updates the same person.
{
  rx_customer_id: .id,
  email_addresses: .email,
  name: {first_name: .first_name, last_name: .last_name, full_name: "\(.first_name) \(.last_name)"},
  primary_location: null,
  plan
}
