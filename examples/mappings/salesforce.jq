# examples/mappings/salesforce.jq - the customer model as Salesforce Contact
# fields.  The sync key is the warehouse's customer id, in the custom field
# Warehouse_Id__c (Text, External ID, Unique): Salesforce upserts by it.
{
  Warehouse_Id__c: .id,
  Email: .email,
  FirstName: .first_name,
  LastName: .last_name,
  Phone: .phone,
  MailingCountry: .country,
  Plan__c: .plan,
  Lifetime_Value__c: (.ltv // 0)
}
