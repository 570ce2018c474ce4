# examples/mappings/customerio.jq - the customer model as Customer.io people
# (docs/destinations/customerio.md): the id is the person's identifier,
# the rest are attributes.  A null removes the attribute.
{
  id,
  email,
  first_name,
  last_name,
  phone,
  country,
  plan,
  lifetime_value: (.ltv // 0),
  orders: .order_count,
  last_order_at,
  churn_risk
}
