# examples/mappings/marketo.jq - the customer model as Marketo leads
# (docs/destinations/marketo-leads.md), fields by their REST API names.
# The custom fields (customerId, plan, lifetimeValue, orders) must exist
# in Marketo (Admin, Field Management); the REST name is what the profile
# sends.
{
  email,
  firstName: .first_name,
  lastName: .last_name,
  phone,
  country,
  customerId: .id,
  plan,
  lifetimeValue: (.ltv // 0),
  orders: .order_count
}
