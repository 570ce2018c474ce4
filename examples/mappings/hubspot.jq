# examples/mappings/hubspot.jq - the customer model as HubSpot contact
# properties.  The sync key is the warehouse's customer id, sent as the
# custom property rx_customer_id (create it in HubSpot: a single-line
# text contact property); HubSpot matches on the e-mail.
{
  rx_customer_id: .id,
  email: (.email | normalize_email),
  firstname: .first_name,
  lastname: .last_name,
  phone,
  country,
  plan,
  lifetime_value: (.ltv // 0)
}
