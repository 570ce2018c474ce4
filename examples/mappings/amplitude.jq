# examples/mappings/amplitude.jq - the customer model as Amplitude user
# properties (docs/destinations/amplitude-identify.md): the customer id is
# the Amplitude user_id (the rx-diff key); a null unsets the property.
{
  user_id: .id,
  email,
  country,
  plan,
  lifetime_value: (.ltv // 0),
  orders: .order_count,
  churn_risk
}
