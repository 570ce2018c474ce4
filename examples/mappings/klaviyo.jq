# examples/mappings/klaviyo.jq - the customer model as Klaviyo profiles
# (share/rx/destinations/klaviyo-profiles.json).  Klaviyo's own attributes
# by their names; external_id is the sync key (the customer id);
# every other member becomes a custom property.  A phone goes only in
# E.164 (Klaviyo refuses a number without its country code).
{
  external_id: .id,
  email: (.email | normalize_email),
  first_name,
  last_name,
  phone_number: (if (.phone // "") | startswith("+") then .phone | normalize_phone_e164 else null end),
  country,
  plan,
  lifetime_value: (.ltv // 0),
  churn_risk
}
