# examples/mappings/meta-audience.jq - a person of examples/models/ad_audience.sql
# as Meta's customer-file keys, normalised as Meta's table asks
# (docs/destinations/meta-custom-audience.md); rx-map's --hash then
# replaces each by its SHA-256.  A national phone number gets its
# country's calling code (the example warehouse's countries).
{"US": "1", "DE": "49", "FR": "33", "BR": "55", "JP": "81", "GB": "44", "IN": "91", "NG": "234"} as $calling
| .country as $country
| {EMAIL: (.email | normalize_email),
   PHONE: (.phone | normalize_phone($calling[$country // ""])),
   FN: (.first_name | normalize_name),
   LN: (.last_name | normalize_name),
   COUNTRY: ($country | normalize_country)}
