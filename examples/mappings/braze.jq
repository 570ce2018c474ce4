# examples/mappings/braze.jq - the customer model as Braze user attributes
# (docs/destinations/braze.md): external_id is the customer id, the
# standard attributes keep Braze's names, the rest are custom attributes.
# A null removes the attribute in Braze.
{
  external_id: .id,
  email,
  first_name,
  last_name,
  phone,
  country,
  plan,
  lifetime_value: (.ltv // 0),
  orders: .order_count,
  churn_risk
}
