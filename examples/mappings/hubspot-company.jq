# examples/mappings/hubspot-company.jq - a country's customers as one
# HubSpot company (a stand-in for your accounts model).  HubSpot finds a
# company by its domain the first time, by its HubSpot id after.
{
  country,
  domain: "\(.country | ascii_downcase).example.com",
  name: "Example customers \(.country)",
  numberofemployees: .customers,
  annualrevenue: .revenue
}
