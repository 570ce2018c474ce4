# examples/mappings/dataverse.jq - the customer model as Dataverse contact
# columns.  The sync key is the warehouse's customer id, in the custom
# column rx_customerid, an alternate key of the table: Dataverse upserts
# by it.  Column names are logical names (lowercase, the publisher's
# prefix for custom ones).
{
  rx_customerid: .id,
  emailaddress1: .email,
  firstname: .first_name,
  lastname: .last_name,
  telephone1: .phone,
  address1_country: .country
}
