# examples/mappings/hubspot-deal.jq - an order as a HubSpot deal.  The
# sync key is the order id, sent as the deal property rx_deal_id (create
# it in HubSpot: a single-line text deal property with unique values);
# the deal is found by it the first time, by its HubSpot id after.
{
  rx_deal_id: (.order_id | tostring),
  dealname: "Order \(.order_id) (\(.customer_id))",
  amount,
  closedate: .ordered_at,
  pipeline: "default",
  dealstage: "closedwon"
}
