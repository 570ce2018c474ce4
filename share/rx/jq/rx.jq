# rx.jq - rx's jq library, included in every rx-map mapping and profile
# program.  (Extended by the rx-map work: normalize_email, normalize_phone...)

# Strip leading and trailing white space.
def trim: sub("^\\s+"; "") | sub("\\s+$"; "");
