# examples/mappings/segment.jq - the customer model as Segment identify
# traits (docs/destinations/segment-identify.md): the customer id is the
# userId (the rx-diff key); the traits keep Segment's reserved names.
{
  id,
  email,
  firstName: .first_name,
  lastName: .last_name,
  phone,
  address: {country},
  plan,
  lifetimeValue: (.ltv // 0),
  orders: .order_count
}
