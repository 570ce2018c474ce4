# examples/mappings/mixpanel-engage.jq - the customer model as Mixpanel
# user profiles (docs/destinations/mixpanel-engage.md): the id is the
# profile's $distinct_id (the rx-diff key), Mixpanel's reserved
# properties keep their $ names, the rest are custom properties.
{
  id,
  "$email": .email,
  "$first_name": .first_name,
  "$last_name": .last_name,
  "$phone": .phone,
  country,
  plan,
  lifetime_value: (.ltv // 0),
  orders: .order_count,
  churn_risk
}
