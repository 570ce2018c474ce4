# elasticsearch.jq - Elasticsearch and OpenSearch, the _bulk API
# (share/rx/destinations/elasticsearch-bulk.json, opensearch-bulk.json).
#
# Follows Elastic's "Bulk API" reference
# (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html:
# NDJSON, an action line then a source line, the body ends with a
# newline; 200 with "errors" and one item per action in request order)
# and OpenSearch's (https://docs.opensearch.org/latest/api-reference/document-apis/bulk/:
# the same, an _id of at most 512 bytes from 2.9); 429
# es_rejected_execution_exception for a full write queue, for the whole
# request or per item.  Summarised in destinations-2.md section 29.
#
# A record is the document whose _id is its key, in the index
# $vars.index: upsert (and insert, update) index it whole, delete deletes
# it (a delete of a document already gone is done).
# Try it on a recorded reply:
#   echo '{"status":200,"body":{"errors":true,"items":[{"index":{"_id":"C1","status":201}},{"index":{"_id":"C2","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}}]}}' |
#   jq -c -L share/rx/jq --argjson vars '{"version_column":""}' 'include "elasticsearch"; es_response'
# ("version_column": "updated_at" for a versioned index's reply).

# The body is an NDJSON template in the profiles: for each record an
# action line (index, or delete), then for an index its row, the
# document, as its own text.

# External versioning ($vars.version_column set, "version" and
# "version_type": "external" on each index action, Elastic's "Index API",
# versioning): a document is written only when the row's version is above
# the one it holds; otherwise the item is 409
# version_conflict_engine_exception, and the document already holds this
# row or a newer one: done.  Without versioning a 409 is not expected
# (rx sends no create) and dead-letters the record as any other.
#
# One result per item, in order: 2xx done; a delete that found nothing
# (404) done; an index's version conflict done when versioning is on;
# 429 (a full write queue) and 5xx sent again; anything else (400
# mapper_parsing_exception, ...) dead-letters the record.  A 200
# whose items do not match the records is not understood (rx-push then
# acks nothing).  429 for the whole request throttles; 401 and 403 (no
# credentials, or no privilege to write the index) stop the run.
def es_response:
  if .status == 200 and (.body | type) == "object" and (.body.items | type) == "array" then
    # "errors": false: every item succeeded (the usual reply): one answer
    # for the request, when it names as many items as were sent
    if .body.errors == false and (.body.items | length) == .count then {action: "ack"}
    else
    [.body.items[] | to_entries[0] | .key as $verb | .value
     | if .status >= 200 and .status < 300 then {ok: true}
       elif $verb == "delete" and .status == 404 then {ok: true}
       elif $verb == "index" and .status == 409 and .error.type == "version_conflict_engine_exception"
            and ($vars.version_column // "") != "" then {ok: true}
       elif .status == 429 or .status >= 500 then {retry: true, message: "\(.status) \(.error.type // "")"}
       else {ok: false, message: "\(.status) \(.error.type // "error"): \(.error.reason // "")"} end]
    end
  elif .status == 429 then {action: "throttle", message: (.body.error.type // "es_rejected_execution_exception")}
  elif .status == 401 or .status == 403 then
    {action: "auth", message: "\(.body.error.type // "security_exception"): \(.body.error.reason // "")"}
  elif .status == 413 then {action: "reject", message: "the request is over the cluster's http.max_content_length"}
  elif .status >= 200 and .status < 300 then {action: "reject", message: "a reply rx-push does not understand"}
  else null end;
