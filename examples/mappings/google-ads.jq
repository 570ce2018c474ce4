# examples/mappings/google-ads.jq - a person of examples/models/ad_audience.sql
# as Google Ads Customer Match identifiers, normalised as Google asks
# (docs/destinations/google-ads-customer-match.md) before rx-map's --hash
# replaces each by its SHA-256: the e-mail trimmed and lowercased, the
# phone in E.164 with its "+" and country code (a national number gets
# its country's calling code).  GOOGLE_ADS_GMAIL_DOTLESS=1 also drops
# dots and a "+tag" from gmail.com / googlemail.com user parts (Google
# documents that for Enhanced Conversions in Campaign Manager 360, not
# for Customer Match).
#
# A model with postal codes can match on the address too: add
#   hashedFirstName: (.first_name | normalize_email),   (Google's name rule:
#   hashedLastName: (.last_name | normalize_email),      trim, lowercase)
#   countryCode: .country, postalCode: .postal_code      (sent unhashed)
# and hash the two names (--hash ...,hashedFirstName:raw,hashedLastName:raw).
{"US": "1", "DE": "49", "FR": "33", "BR": "55", "JP": "81", "GB": "44", "IN": "91", "NG": "234"} as $calling
| .country as $country
| {hashedEmail: (.email | if ($ENV.GOOGLE_ADS_GMAIL_DOTLESS // "") == "1" then normalize_gmail else normalize_email end),
   hashedPhoneNumber: (.phone | normalize_phone_e164($calling[$country // ""]))}
