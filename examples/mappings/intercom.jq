# examples/mappings/intercom.jq - the customer model as Intercom contacts.
# external_id is the warehouse's customer id (also the sync key); the
# e-mail is what a contact rx has no Intercom id for is found by.  The
# members that are not Intercom contact fields (plan, lifetime_value,
# churn_risk, order_count, country) are sent as custom attributes: create
# them in Intercom first (Settings > Data > People), with these types.
{
  external_id: .id,
  email: (.email | normalize_email),
  name: "\(.first_name) \(.last_name)",
  phone: (.phone | normalize_phone_e164),
  country,
  plan,
  lifetime_value: (.ltv // 0),
  order_count,
  churn_risk
}
