# examples/mappings/linkedin-companies.jq - an account of
# examples/models/ad_companies.sql as a LinkedIn DMP segment company: what
# identifies it (LinkedIn matches on at least one of companyName,
# companyWebsiteDomain, organizationUrn, companyPageUrl) and what
# describes it (industries, at most 3; country, ISO 3166-1 alpha-2 in
# upper case), in the clear.  A stand-in: your accounts model has the
# real names, domains and LinkedIn pages.
{
  companyName: "\(.last_name) & Co",
  industries: ["Retail"],
  country: (.country | ascii_upcase)
}
