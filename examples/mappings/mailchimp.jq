# examples/mappings/mailchimp.jq - the customer model as members of a
# Mailchimp audience (docs/destinations/mailchimp-members.md): the
# address, the subscription status, and merge fields by their tags.
#
# The status is applied to existing members too: a model that says
# "subscribed" resubscribes someone who unsubscribed in Mailchimp.  Take
# it from your consent records; this example has none, and says
# "subscribed" for every customer with an e-mail.
{
  email_address: .email,
  status: "subscribed",
  FNAME: .first_name,
  LNAME: .last_name,
  PHONE: .phone,
  COUNTRY: .country,
  PLAN: .plan,
  LTV: (.ltv // 0),
  ORDERS: .order_count
}
