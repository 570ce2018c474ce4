# examples/mappings/app.jq - the warehouse model, shaped as the
# application database's customers table wants it.
{
  id,
  email,
  name: "\(.first_name) \(.last_name)",
  phone,
  country,
  plan,
  lifetime_value: (.ltv // 0),
  orders: .order_count,
  churn_risk
}
