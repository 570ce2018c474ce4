# examples/mappings/mailchimp.jq - the customer model as members of a
# Mailchimp audience (docs/destinations/mailchimp-members.md): each row is
# the member as Mailchimp's batch endpoint takes it -- the address, the
# subscription status, and the merge fields by their tags.
#
# The status is applied to existing members too: a model that says
# "subscribed" resubscribes someone who unsubscribed in Mailchimp.  Take
# it from your consent records; this example has none, and says
# "subscribed" for every customer with an e-mail.  An empty merge field
# ("") clears it.
{
  email_address: .email,
  status: "subscribed",
  merge_fields: {
    FNAME: (.first_name // ""),
    LNAME: (.last_name // ""),
    PHONE: (.phone // ""),
    COUNTRY: (.country // ""),
    PLAN: (.plan // ""),
    LTV: (.ltv // 0),
    ORDERS: (.order_count // 0)
  }
}
