# examples/mappings/sendgrid.jq - the customer model as SendGrid contacts
# (share/rx/destinations/sendgrid-contacts.json).  SendGrid's reserved
# fields by name; a custom field by the name (or id) it has in SendGrid
# (create "plan" and "customer_id" as text custom fields first: Marketing
# -> Custom Fields).  A customer without an e-mail cannot be a contact.
select(.email != null)
| {
  email: (.email | normalize_email),
  first_name,
  last_name,
  country,
  external_id: .id,
  customer_id: .id,
  plan
}
