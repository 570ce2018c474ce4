# examples/mappings/tiktok-audience.jq - a person of examples/models/ad_audience.sql
# as TikTok's identifiers, normalised before rx-map's --hash: the e-mail
# trimmed and lowercased, the phone in E.164 with its "+" and country
# code.  TIKTOK_EMAIL_DOTLESS=1 also drops dots and a "+tag" from the
# e-mail's user part (Segment's connector does, for every domain;
# whether TikTok wants it is not documented).
{"US": "1", "DE": "49", "FR": "33", "BR": "55", "JP": "81", "GB": "44", "IN": "91", "NG": "234"} as $calling
| .country as $country
| {EMAIL_SHA256: (.email | normalize_email
                  | if . != null and ($ENV.TIKTOK_EMAIL_DOTLESS // "") == "1" then
                      split("@") as $p | ($p[0] | split("+")[0] | gsub("\\."; "")) + "@" + $p[1]
                    else . end),
   PHONE_SHA256: (.phone | normalize_phone_e164($calling[$country // ""]))}
