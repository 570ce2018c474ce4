# examples/mappings/mixpanel-import.jq - orders as Mixpanel events
# (docs/destinations/mixpanel-import.md): one "Order Placed" event per
# order, at the order's time, for the customer who placed it.  The order
# id is the rx-diff key, and so the event's $insert_id: a retry or a
# second sync of the same order is deduplicated by Mixpanel.
{
  id,
  event: "Order Placed",
  time: (.ordered_at | fromdateiso8601),
  distinct_id: .customer_id,
  amount
}
