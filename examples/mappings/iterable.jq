# examples/mappings/iterable.jq - the customer model as Iterable users
# (docs/destinations/iterable-users.md): matched by e-mail, everything
# else a data field.  Customers without an e-mail cannot be Iterable users
# in an e-mail-based project: the sync's model leaves them out.
{
  email,
  firstName: .first_name,
  lastName: .last_name,
  phoneNumber: .phone,
  customerId: .id,
  country,
  plan,
  lifetimeValue: (.ltv // 0),
  orders: .order_count,
  churnRisk: .churn_risk
}
