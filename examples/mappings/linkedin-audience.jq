# examples/mappings/linkedin-audience.jq - a person of examples/models/ad_audience.sql
# as a LinkedIn DMP segment user: the e-mail normalised (rx-map's --hash
# then replaces it by its SHA-256), the names and country in the clear,
# as LinkedIn matches on them.
{SHA256_EMAIL: (.email | normalize_email), firstName: .first_name, lastName: .last_name, country: .country}
