# rx.jq - rx's jq library, included in every rx-map mapping and profile
# program (no import needed).  jq 1.6: no sha256 here; hashing is
# rx-map --hash's job, which applies the same normalisations in C (keep
# the two in step: t/3010-map-jq-library.t checks they agree).
#
# Functions that normalise a match key return null for a value with
# nothing left to match on, so `--drop-nulls` can leave the field out.

# Strip leading and trailing white space (Unicode White_Space).
def trim: sub("^\\s+"; "") | sub("\\s+$"; "");

# Lowercase: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals
# (the simple one-to-one Unicode mappings of those blocks); any other
# character is kept as it is.  jq 1.6's ascii_downcase stops at ASCII.
def lowercase:
  explode
  | map(if . >= 65 and . <= 90 then . + 32
        elif . < 192 then .
        elif . <= 222 then (if . == 215 then . else . + 32 end)
        elif . < 256 then .
        elif . <= 311 then (if . % 2 == 0 and . != 304 then . + 1 else . end)
        elif . >= 313 and . <= 328 then (if . % 2 == 1 then . + 1 else . end)
        elif . >= 330 and . <= 375 then (if . % 2 == 0 then . + 1 else . end)
        elif . == 376 then 255
        elif . >= 377 and . <= 382 then (if . % 2 == 1 then . + 1 else . end)
        elif . == 902 then 940
        elif . >= 904 and . <= 906 then . + 37
        elif . == 908 then 972
        elif . == 910 or . == 911 then . + 63
        elif . >= 913 and . <= 939 then (if . == 930 then . else . + 32 end)
        elif . >= 1024 and . <= 1039 then . + 80
        elif . >= 1040 and . <= 1071 then . + 32
        else . end)
  | implode;

# The digits of a string, nothing else.
def _rx_digits: tostring | explode | map(select(. >= 48 and . <= 57)) | implode;
def _rx_ltrim_zeros: sub("^0+"; "");

# E-mail match key (Meta EMAIL, Google hashed_email): trimmed, lowercased.
# null for null or a blank value.
def normalize_email:
  if . == null then null
  else tostring | trim | lowercase | if . == "" then null else . end end;

# Google's extra rule for Gmail (documented for Enhanced Conversions):
# dots and a "+tag" dropped from the user part of gmail.com and
# googlemail.com addresses.
def normalize_gmail:
  normalize_email
  | if . == null then null
    elif test("@(gmail|googlemail)\\.com$") then
      (split("@")) as $p
      | ($p[0] | split("+")[0] | gsub("\\."; "")) + "@" + $p[1]
    else . end;

# Phone match key as E.164 digits without "+" (Meta PHONE): symbols and
# letters dropped.  "+CC..." and "00CC..." are international and keep
# their code ("+44 (0)20..." loses the "(0)").  Any other number is
# national: its leading zeros (trunk prefix) are dropped and $cc put in
# front -- except that an 11-digit number starting with 1 under $cc "1"
# already carries it.  With $cc null a national number is kept as its
# digits less leading zeros (Meta's rule as published).  null unless the
# result has 7 to 15 digits.
def normalize_phone($cc):
  if . == null then null
  else
    (tostring | trim) as $s
    | ($s | sub("\\(0\\)"; "")) as $t
    | ($t | _rx_digits) as $d
    | (if ($t | startswith("+")) then ($d | _rx_ltrim_zeros)
       elif ($d | startswith("00")) then ($d[2:] | _rx_ltrim_zeros)
       elif $cc == null then ($d | _rx_ltrim_zeros)
       else ($d | _rx_ltrim_zeros) as $n
            | ($cc | _rx_digits) as $c
            | if $c == "1" and ($n | length) == 11 and ($n | startswith("1")) then $n
              else $c + $n end
       end)
    | if length >= 7 and length <= 15 then . else null end
  end;
def normalize_phone: normalize_phone(null);

# Phone match key in E.164 with "+" (Google hashed_phone_number).
def normalize_phone_e164($cc): normalize_phone($cc) | if . == null then null else "+" + . end;
def normalize_phone_e164: normalize_phone_e164(null);

# Meta FN / LN: trimmed, lowercased, punctuation removed (letters of any
# script, digits and inner spaces kept).
def normalize_name:
  if . == null then null
  else tostring | lowercase | gsub("[\\p{P}\\p{S}]"; "") | trim
       | if . == "" then null else . end end;

# Meta FI: first initial, lowercase.
def normalize_initial: normalize_name | if . == null then null else explode[0:1] | implode end;

# Meta CT: lowercase a-z only (no punctuation, digits or white space).
def normalize_city:
  if . == null then null
  else tostring | lowercase | explode | map(select(. >= 97 and . <= 122)) | implode
       | if . == "" then null else . end end;

# Meta ST: lowercase, no punctuation or spaces (a US state as its
# two-letter code is then already right).
def normalize_state:
  if . == null then null
  else tostring | lowercase | gsub("[\\p{P}\\p{S}\\s]"; "")
       | if . == "" then null else . end end;

# Meta ZIP: lowercase, no white space; a US ZIP+4 keeps its first 5 digits.
def normalize_zip:
  if . == null then null
  else tostring | lowercase | gsub("\\s"; "")
       | if test("^[0-9]{5}-[0-9]{4}$") then .[0:5] else . end
       | if . == "" then null else . end end;

# Meta COUNTRY: lowercase ISO 3166-1 alpha-2 (given as such).
def normalize_country:
  if . == null then null
  else tostring | trim | lowercase | if test("^[a-z]{2}$") then . else null end end;

# Meta GEN: "m" or "f" (from m/f/male/female in any case), else null.
def normalize_gender:
  if . == null then null
  else tostring | trim | lowercase
       | if . == "m" or . == "male" then "m" elif . == "f" or . == "female" then "f" else null end end;

# Meta DOBY/DOBM/DOBD from an ISO date "YYYY-MM-DD".
def normalize_dob_year: tostring | trim | .[0:4];
def normalize_dob_month: tostring | trim | .[5:7];
def normalize_dob_day: tostring | trim | .[8:10];

# The path and query of a URL, without its scheme and host: a job's next
# page as a reply names it ("https://a.klaviyo.com/api/...?page..." ->
# "/api/...?page..."), for a status program's "next" (always a path under
# the profile's base URL).  A path stays as it is; null stays null.
def rx_url_path:
  if . == null then null
  else tostring | if test("^[A-Za-z][A-Za-z0-9+.-]*://") then sub("^[A-Za-z][A-Za-z0-9+.-]*://[^/]*"; "") | if . == "" then "/" else . end
                  else . end
  end;
