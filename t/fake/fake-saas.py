#!/usr/bin/env python3
"""fake-saas.py - fakes of the SaaS destinations whose contracts do not fit
fake-dest.py's JSON families: ad audiences, notification and work tools,
search and document stores (stdlib only, plus the openssl command for
the Google token endpoint).

Each --vendor copies its API's own shapes from ../shared/reference/
destinations.md and destinations-2.md (the section is named beside each
vendor below): its request body, its success reply, its partial failures,
its rate-limit signal, its auth failure.  Start and stop it with
saas_start (t/lib-dest.sh); its state document has fake-dest.py's shape,
so fake_state, fake_records and fake_count (t/lib-fake.sh) work on it:

  GET /_state   {"records": {KEY: {"op","row"}}, "deleted": [KEY...],
                 "messages": [..] (notification tools: every message, in
                 order), "requests", "accepted", "throttled", "violations",
                 "unauthorized", "errors", "quota_refusals",
                 "tokens_issued", "max_in_window", "version_conflicts"}

What a record's KEY is, per vendor, is written beside the vendor.  A row
is invalid, and refused in the vendor's own way, when it has
"_reject": true or an "email" without "@" (as in fake-dest.py), or as
the vendor says.

Vendors (--vendor)
  meta            Meta Custom Audiences (destinations.md 8): POST|DELETE
                  /v25.0/AUDIENCE/users?access_token=T {"payload":{"schema",
                  "data"}}; 200 {"audience_id","session_id","num_received",
                  "num_invalid_entries","invalid_entry_samples"}; a hashed
                  value that is not 64 hex, or a MADID that is not a UUID, is an
                  invalid entry (dropped, counted, sampled by value); throttle:
                  400 code 80003 with X-Business-Use-Case-Usage; bad token: 400
                  code 190; GET /v25.0/AUDIENCE?fields=id (--test-connection)
                  200 {"id"}, an id --meta-unknown-audience names code 100.
                  KEY: the row's first schema value.
  tiktok          TikTok segment mapping (destinations-2.md 27): POST
                  /open_api/v1.3/segment/mapping/ with Access-Token; always 200
                  {"code","message","request_id","data"}: 0 OK, 40002 bad
                  parameter (whole request), 40100 too many requests, 40105 bad
                  token; GET /open_api/v1.3/dmp/custom_audience/get/ (the
                  test) code 0 with the audiences, 40001 for the advertiser
                  --tiktok-other-advertiser.  KEY: the row's first id.
  linkedin        LinkedIn DMP segment users (destinations-2.md 28): POST
                  /rest/dmpSegments/ID/users, X-RestLi-Method BATCH_CREATE;
                  200 {"elements":[{"status":201}|{"status":400,"message"}]} in
                  order; 429 TOO_MANY_REQUESTS (MEMBER MINUTE, or APPLICATION DAY
                  after --quota); 401 INVALID_ACCESS_TOKEN.  KEY: the first idValue.
                  And companies: POST /rest/dmpSegments/ID/companies, the same
                  headers, auth, limits and replies; an element needs one of
                  organizationUrn, companyWebsiteDomain, companyName,
                  companyPageUrl (else 400), an organizationUrn
                  urn:li:organization:N, at most 3 industries, an alpha-2
                  country, the documented lengths, no other member.  KEY: the
                  first identifier in that order.  GET /rest/dmpSegments/ID
                  (the test): the segment, with no X-RestLi-Method or GET
                  (else 400, as Rest.li routes), 403 ACCESS_DENIED for
                  --linkedin-forbidden-segment.
  slack-webhook   Slack incoming webhook (destinations.md 7): POST
                  /services/T000/B000/TOKEN, one message; 200 "ok"; plain-text
                  errors (400 no_text, 400 invalid_payload, 403 invalid_token);
                  429 with Retry-After.  KEY: the message's text.
  slack-api       Slack chat.postMessage, chat.update and chat.delete,
                  form-encoded, bearer token: 200 {"ok":true,"channel","ts",..}
                  or {"ok":false,"error"} (message_not_found for an update or
                  delete of a ts it has not, or no longer); 429 with
                  Retry-After; auth.test (GET or POST) {"ok":true,..}, a bad
                  token {"ok":false,"error":"invalid_auth"} (not_authed with
                  none).  KEY: metadata's event_payload.key (of the post).
  teams           Microsoft Teams classic incoming webhook (destinations-2.md
                  22): POST /webhookb2/TOKEN; 200 "1"; failures are 200 with
                  text ("... returned HTTP error 429 ..." when throttled, "... 400
                  ..." for a bad card).  KEY: the card's first TextBlock.
  teams-workflow  Teams Workflows webhook: POST
                  /workflows/ID/triggers/manual/paths/invoke?sig=TOKEN; 202, no
                  body, whatever the card; 429 with Retry-After; a bad sig 401.
  pagerduty       PagerDuty Events API v2 (destinations-2.md 24): POST
                  /v2/enqueue, routing_key in the body; 202 {"status":"success",
                  "message","dedup_key"}; 400 "invalid event"; 429 no body.
                  KEY: dedup_key (trigger stores, resolve deletes).
  notion          Notion pages (destinations-2.md 23): POST /v1/pages with
                  Notion-Version; PATCH /v1/pages/ID (properties, and
                  archived or in_trash); POST /v1/databases/ID/query (a
                  rich_text equals filter, or an "or" of them; archived pages
                  left out); GET /v1/databases/ID; 200 page object; 400
                  validation_error (an archived page's properties cannot be
                  edited); 404 object_not_found for an unknown page; 429
                  rate_limited with Retry-After; 401 unauthorized.  From
                  Notion-Version 2025-09-03 a database holds one data source
                  (its id: the database's, md5-derived): GET /v1/databases/ID
                  lists it in data_sources, pages take a parent
                  {"data_source_id"} (database_id refused), the query is POST
                  /v1/data_sources/ID/query, GET /v1/data_sources/ID reads it;
                  each version's paths are 400 invalid_request_url for the
                  other; 2026-03-11 refuses "archived" and answers in_trash
                  only.  KEY: the
                  rich_text property named by --key-property (default rx_key);
                  records: the live pages; live_pages counts them (twins),
                  creates, updates, archives, queries the requests of each kind.
  asana           Asana tasks (destinations-2.md 25): POST /tasks, PUT and
                  DELETE /tasks/external:KEY ({"data":{..}}), GET
                  /tasks/external:KEY (the gid; lookups counts them), PUT
                  /tasks/GID; 201/200
                  {"data":{"gid",..}}; 400 {"errors":[{"message"}]}; 429 with
                  Retry-After; 401.  KEY: data.external.gid.
  airtable        Airtable (destinations-2.md 20): PATCH /v0/BASE/TABLE with
                  performUpsert.fieldsToMergeOn, at most 10 records; 200
                  {"records","createdRecords","updatedRecords"}; one bad record
                  fails the request (422 INVALID_VALUE_FOR_COLUMN); DELETE
                  ?records[]=rec.. (at most 10; 200 {"records":[{"id",
                  "deleted"}]}, an unknown id fails the request: 404
                  MODEL_ID_NOT_FOUND); GET (list records) with
                  filterByFormula (OR, AND, {Field}=value), pageSize, offset;
                  429 RATE_LIMIT_REACHED.  KEY: the first merge field's value;
                  lookups counts the GETs.
  sheets          Google Sheets (destinations-2.md 21), a grid per sheet (row 1 a
                  header): POST /v4/spreadsheets/ID/values/RANGE:append (after
                  the table joined to the sheet's last cell, from its first
                  column, or the table a cell starts; OVERWRITE or INSERT_ROWS); POST .../values:batchUpdate
                  {"valueInputOption","data":[{"range","values"}]} and
                  .../values:batchClear {"ranges"}; GET .../values/RANGE (a
                  column, majorDimension COLUMNS); GET .../ID.  Atomic; 200
                  {"updates":{"updatedRange","updatedRows"}}, {"responses":
                  [{"updatedRange"}]}, {"clearedRanges"}; 400 INVALID_ARGUMENT;
                  429 RESOURCE_EXHAUSTED; 403 PERMISSION_DENIED for the
                  spreadsheet "not-shared".  KEY: a row's first cell ("messages"
                  lists every row appended; "sheets" the grid; "duplicates"
                  first cells held by two rows).
  elasticsearch   Elasticsearch/OpenSearch _bulk (destinations-2.md 29): POST
                  /_bulk, NDJSON ending in a newline; 200 {"errors","items"} in
                  order, items 201/200/404/400/429; 429
                  es_rejected_execution_exception; 401 security_exception.
                  Versions: an index action's "version" with "version_type"
                  "external" writes only above the document's version (else
                  item 409 version_conflict_engine_exception, ES's reason);
                  a delete forgets the version (as ES does once
                  index.gc_deletes has passed); version_conflicts counts
                  the 409s.  GET /INDEX (the test): 200 the index, 404
                  index_not_found_exception for "missing", 403
                  security_exception for "forbidden".  KEY: INDEX/_id.
  firestore       Firestore documents:batchWrite (destinations-2.md 30): 200
                  {"writeResults","status"} in order ({} ok, {"code":3,..}
                  bad); 429 RESOURCE_EXHAUSTED; 401 UNAUTHENTICATED; GET
                  .../documents/COLLECTION?pageSize=N (the test) lists N
                  (a subcollection as segments, a/b/c; a "/" in the last
                  segment, %2F, is 400 INVALID_ARGUMENT as Firestore's
                  collection id), 403 PERMISSION_DENIED for the project
                  "forbidden".  KEY: the
                  document id; rows decoded from Firestore's typed values.

Switches
  --token T         the credential the vendor checks (its own way: a bearer
                    token, a query access_token, a URL secret, a routing key,
                    "ApiKey T" or Basic user:password for elasticsearch)
  --aws KEYID:SECRET:REGION:SERVICE  elasticsearch: Amazon OpenSearch
                    Service's IAM auth instead: every request signed with AWS
                    Signature Version 4, recomputed here from the request as
                    it came (403 in AWS's words otherwise); "signed" counts
                    the requests that were
  --google-key PEM  sheets/firestore: run the OAuth2 token endpoint POST /token
                    that takes a JWT bearer assertion (RS256, checked with the
                    public key in PEM by `openssl dgst`), and accept the tokens
                    it issues instead of --token
  --google-iss E    the assertion's expected issuer (client_email)
  --token-uses N    an issued token stops working after N requests
  --rate N/SECONDS  admit at most N requests in any sliding window; over it,
                    the vendor's own throttle signal (with a wait hint when the
                    vendor sends one: a request before that wait has passed,
                    less 250 ms for those already in flight, is a violation);
                    a request that arrives up to --rate-grace seconds (default
                    0.05) early is not counted: loopback jitter, not a client
                    going too fast
  --throttle-first K  the first K requests get the throttle signal
  --item-throttle-first K  elasticsearch/firestore: the first K items are
                    refused with the per-item throttle (429, ABORTED)
  --fail-first K    the first K requests get a 503
  --quota N         linkedin: after N accepted requests, the APPLICATION DAY limit
  --key-property P  notion: the property that holds the record's key
  --meta-samples N  meta: invalid entries shown in invalid_entry_samples (10)
  --meta-regain M   meta: estimated_time_to_regain_access of a throttle (minutes, 0)
  --meta-app-secret S  meta: the app requires appsecret_proof, HMAC-SHA256 of the token keyed by S
  --log FILE        append each request {"method","path","headers","body","t"}
  --sink            keep nothing (a loopback sink for make bench): replies as
                    usual, stores no record
"""
import argparse
import base64
import calendar
import email.utils
import json
import hashlib
import hmac
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit

LOCK = threading.Lock()
STATE = {
    "records": {}, "deleted": [], "messages": [], "requests": 0, "accepted": 0, "throttled": 0,
    "violations": 0, "unauthorized": 0, "errors": 0, "quota_refusals": 0, "tokens_issued": 0,
    "max_in_window": 0, "accepted_requests": 0, "version_conflicts": 0,
}
ADMITTED = deque()
ARRIVALS = deque()
BLOCKED = {"until": 0.0, "announced": 0.0}
TOKENS = {}
SEQ = [0]
ITEM_THROTTLES = [0]
VERSIONS = {}  # elasticsearch: the version of each document ("INDEX/ID"), as _version says
OPT = None
HEX64 = re.compile(r"^[0-9a-f]{64}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def invalid(row):
    if not isinstance(row, dict):
        return "the row is not an object"
    if row.get("_reject") is True:
        return "rejected by the destination's validation"
    e = row.get("email", row.get("Email"))
    if isinstance(e, str) and "@" not in e:
        return "'%s' is not a valid email" % e
    return None


def store(key, row, op="upsert"):
    if OPT.sink:
        STATE["accepted"] += 1
        return
    k = key if isinstance(key, str) else json.dumps(key, separators=(",", ":"))
    if op == "delete":
        STATE["records"].pop(k, None)
        STATE["deleted"].append(k)
    else:
        STATE["records"][k] = {"op": op, "row": row}
    STATE["accepted"] += 1


def next_id(prefix):
    SEQ[0] += 1
    return "%s%d" % (prefix, SEQ[0])


def write_state_file():
    if OPT.state_file:
        tmp = OPT.state_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(STATE, sort_keys=True, separators=(",", ":")) + "\n")
        os.replace(tmp, OPT.state_file)


class Reply(Exception):
    """Raised by a vendor handler: the reply to send at once."""

    def __init__(self, status, body=None, headers=None, ctype="application/json"):
        super().__init__(status)
        self.status, self.body, self.headers, self.ctype = status, body, headers or {}, ctype


def text(status, s, headers=None):
    return Reply(status, s.encode(), headers, "text/plain; charset=utf-8")


# ---- each vendor: auth(req), throttle(wait), write(req) -> Reply ----

class Request:
    def __init__(self, method, path, query, headers, raw):
        self.method, self.path, self.query, self.headers, self.raw = method, path, query, headers, raw
        self.raw_path, self.raw_query = path, ""

    def json(self):
        try:
            return json.loads(self.raw.decode("utf-8") or "null")
        except ValueError:
            return None

    def bearer(self):
        a = self.headers.get("authorization", "")
        return a[7:] if a.startswith("Bearer ") else None


def token_ok(tok):
    """--token, or (Google) a token issued by /token with uses left."""
    if OPT.google_key:
        with LOCK:
            left = TOKENS.get(tok, 0)
            if left > 0:
                TOKENS[tok] = left - 1
                return True
            return False
    return OPT.token is None or tok == OPT.token


# Meta Custom Audiences ------------------------------------------------------

def meta_error(code, message, subcode=None, status=400, headers=None):
    e = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode:
        e["error_subcode"] = subcode
    return Reply(status, {"error": e}, headers)


class Meta:
    reads = True   # GET /VERSION/AUDIENCE?fields=id: --test-connection

    def auth(self, req):
        tok = (req.query.get("access_token") or [None])[0]
        if not token_ok(tok):
            raise meta_error(190, "Invalid OAuth access token - Cannot parse access token")
        proof = (req.query.get("appsecret_proof") or [None])[0]
        if OPT.meta_app_secret is not None:     # the app's "Require App Secret"
            if proof is None:
                raise meta_error(100, "API calls from the server require an appsecret_proof argument")
            want = hmac.new(OPT.meta_app_secret.encode(), tok.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(proof, want):
                raise meta_error(100, "Invalid appsecret_proof provided in the API argument")

    def throttle(self, wait):
        usage = {"1234567890": [{"type": "custom_audience", "call_count": 100, "total_cputime": 12,
                                 "total_time": 15, "estimated_time_to_regain_access": OPT.meta_regain}]}
        return meta_error(80003, "(#80003) There have been too many calls to this ad-account. Wait a bit and try again.",
                          2446079, 400, {"X-Business-Use-Case-Usage": json.dumps(usage, separators=(",", ":"))})

    def write(self, req):
        if req.method == "GET":
            # the audience itself, the fields asked for (a Graph API node
            # read); an id it does not know: code 100, subcode 33
            m = re.match(r"^/v[0-9.]+/([^/]+)$", req.path)
            if not m or not m.group(1).isdigit() or m.group(1) == OPT.meta_unknown_audience:
                raise meta_error(100, "Unsupported get request. Object with ID '%s' does not exist, cannot be loaded "
                                 "due to missing permissions, or does not support this operation."
                                 % (m.group(1) if m else req.path), 33)
            fields = (req.query.get("fields") or ["id"])[0].split(",")
            node = {"id": m.group(1), "name": "rx audience", "subtype": "CUSTOM"}
            return Reply(200, {f: node[f] for f in fields if f in node})
        m = re.match(r"^/v[0-9.]+/([0-9]+)/users$", req.path)
        if not m or req.method not in ("POST", "DELETE"):
            raise meta_error(100, "Unsupported request - method type: %s" % req.method.lower(), 33)
        body = req.json()
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, dict) or not isinstance(payload.get("schema"), list) or \
                not isinstance(payload.get("data"), list):
            raise meta_error(100, "(#100) Missing parameter payload.schema or payload.data")
        schema, data = payload["schema"], payload["data"]
        if len(data) > 10000:
            raise meta_error(100, "(#100) Too many users: at most 10000 at a time")
        samples, bad = {}, 0
        for row in data:
            if not isinstance(row, list) or len(row) != len(schema):
                raise meta_error(100, "(#100) Each row of payload.data must have one value per schema key")
            why = None
            for k, v in zip(schema, row):
                if v == "":
                    continue
                if k == "MADID":
                    if not UUID.match(v):
                        why = (v, "Invalid MADID")
                elif k != "EXTERN_ID" and not HEX64.match(v):
                    why = (v, "Invalid hash format")
            if why:
                bad += 1
                if len(samples) < OPT.meta_samples:
                    samples[why[0]] = why[1]
                continue
            key = next((v for v in row if v != ""), None)
            if key is not None:
                store(key, dict(zip(schema, row)), "delete" if req.method == "DELETE" else "upsert")
        doc = {"audience_id": m.group(1), "session_id": str((body.get("session") or {}).get("session_id", "0")),
               "num_received": len(data), "num_invalid_entries": bad, "invalid_entry_samples": samples}
        return Reply(200, doc)


# TikTok ---------------------------------------------------------------------

def tiktok(code, message, data=None):
    return Reply(200, {"code": code, "message": message, "request_id": next_id("20260101"), "data": data or {}})


class TikTok:
    reads = True   # GET /open_api/v1.3/dmp/custom_audience/get/: --test-connection

    def auth(self, req):
        if not token_ok(req.headers.get("access-token")):
            raise tiktok(40105, "The access token is invalid or has been revoked.")

    def throttle(self, wait):
        return tiktok(40100, "Too many requests. Please retry in some time.")

    def write(self, req):
        if req.method == "GET" and req.path == "/open_api/v1.3/dmp/custom_audience/get/":
            return self.audience_get(req)
        if req.path != "/open_api/v1.3/segment/mapping/" or req.method != "POST":
            raise tiktok(40002, "Invalid path")
        b = req.json()
        if not isinstance(b, dict) or b.get("action") not in ("add", "delete") or \
                not isinstance(b.get("id_schema"), list) or not isinstance(b.get("batch_data"), list) or \
                not b.get("advertiser_ids") or not all(str(a).isdigit() for a in b["advertiser_ids"]):
            raise tiktok(40002, "action, advertiser_ids (numbers), id_schema and batch_data are required")
        schema = b["id_schema"]
        for row in b["batch_data"]:
            if not isinstance(row, list) or len(row) != len(schema):
                raise tiktok(40002, "each batch_data row needs one object per id_schema entry")
            for o in row:
                if o and (not HEX64.match(str(o.get("id", ""))) or not o.get("audience_ids")):
                    raise tiktok(40002, "batch_data: id must be a SHA256 hash and audience_ids set")
        for row in b["batch_data"]:
            ids = [o.get("id") for o in row if o]
            if ids:
                store(ids[0], {s: o.get("id") for s, o in zip(schema, row) if o},
                      "delete" if b["action"] == "delete" else "upsert")
        return tiktok(0, "OK")

    def audience_get(self, req):
        """custom_audience/get: advertiser_id and custom_audience_ids (a
        JSON array in the query); an audience of another advertiser, or
        none, is a 40001-style refusal inside the 200, as every error."""
        adv = (req.query.get("advertiser_id") or [""])[0]
        try:
            ids = json.loads((req.query.get("custom_audience_ids") or [""])[0])
        except ValueError:
            ids = None
        if not adv.isdigit() or not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise tiktok(40002, "advertiser_id and custom_audience_ids (a JSON array of strings) are required")
        if adv == OPT.tiktok_other_advertiser:
            raise tiktok(40001, "No permission to operate advertiser %s." % adv)
        return tiktok(0, "OK", {"list": [{"audience_details": {"custom_audience_id": i, "name": "rx audience",
                                                               "audience_type": "Customer File", "is_valid": True}}
                                         for i in ids]})


# LinkedIn -------------------------------------------------------------------

class LinkedIn:
    reads = True   # GET /rest/dmpSegments/ID: --test-connection

    def auth(self, req):
        if not token_ok(req.bearer()):
            raise Reply(401, {"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                              "message": "Invalid access token"})

    def throttle(self, wait):
        return Reply(429, {"status": 429, "serviceErrorCode": 101, "code": "TOO_MANY_REQUESTS",
                           "message": "Resource level throttle MEMBER MINUTE limit for calls to this resource is reached."})

    def quota(self):
        return Reply(429, {"status": 429, "serviceErrorCode": 101, "code": "TOO_MANY_REQUESTS",
                           "message": "Resource level throttle APPLICATION DAY limit for calls to this resource is reached."})

    # a company element's members (create-and-manage-segment-companies);
    # the first four identify it, at least one of them is needed
    COMPANY_IDS = ("organizationUrn", "companyWebsiteDomain", "companyName", "companyPageUrl")
    COMPANY_FIELDS = COMPANY_IDS + ("industries", "city", "state", "country", "postalCode", "stockSymbol")

    def segment(self, req):
        """GET /rest/dmpSegments/ID: the segment.  Rest.li routes a GET of
        an entity with no X-RestLi-Method or with GET; any other (the
        writes' BATCH_CREATE) matches no method: 400 (RestLiRouter)."""
        m = re.match(r"^/rest/dmpSegments/([0-9]+)$", req.path)
        if not m:
            raise Reply(404, {"status": 404, "message": "Not Found"})
        if req.headers.get("x-restli-method", "GET").upper() != "GET":
            raise Reply(400, {"status": 400, "code": "ILLEGAL_ARGUMENT",
                              "message": "Method 'GET' is not supported for URI '%s'" % req.path})
        if req.headers.get("x-restli-protocol-version") != "2.0.0" or not req.headers.get("linkedin-version"):
            raise Reply(400, {"status": 400, "code": "ILLEGAL_ARGUMENT",
                              "message": "X-Restli-Protocol-Version 2.0.0 and LinkedIn-Version are required"})
        if m.group(1) == OPT.linkedin_forbidden_segment:
            raise Reply(403, {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
                              "message": "Not enough permissions to access: dmpSegments.GET.20260401"})
        return Reply(200, {"id": int(m.group(1)), "name": "rx segment", "account": "urn:li:sponsoredAccount:5",
                           "sourcePlatform": "RX", "status": "READY", "type": "USER", "accessPolicy": "PRIVATE"})

    def write(self, req):
        if req.method == "GET":
            return self.segment(req)
        m = re.match(r"^/rest/dmpSegments/[0-9]+/(users|companies)$", req.path)
        if not m:
            raise Reply(404, {"status": 404, "message": "Not Found"})
        if req.headers.get("x-restli-method", "").upper() != "BATCH_CREATE" or \
                req.headers.get("x-restli-protocol-version") != "2.0.0" or not req.headers.get("linkedin-version"):
            raise Reply(400, {"status": 400, "code": "ILLEGAL_ARGUMENT",
                              "message": "X-RestLi-Method BATCH_CREATE, X-Restli-Protocol-Version 2.0.0 and LinkedIn-Version are required"})
        b = req.json()
        if not isinstance(b, dict) or not isinstance(b.get("elements"), list):
            raise Reply(400, {"status": 400, "message": "elements is required"})
        if m.group(1) == "companies":
            return Reply(200, {"elements": [self.company(el) for el in b["elements"]]})
        out = []
        for el in b["elements"]:
            ids = el.get("userIds") or []
            if el.get("action") not in ("ADD", "REMOVE"):
                out.append({"status": 400, "message": "action must be ADD or REMOVE"})
            elif not ids and not (el.get("firstName") and el.get("lastName")):
                out.append({"status": 400, "message": "at least one userId, or firstName and lastName, is required"})
            elif any(i.get("idType") == "SHA256_EMAIL" and not HEX64.match(str(i.get("idValue"))) for i in ids):
                out.append({"status": 400, "message": "SHA256_EMAIL idValue must be a SHA256 hash"})
            else:
                row = {i["idType"]: i["idValue"] for i in ids}
                for f in ("firstName", "lastName", "title", "company", "country"):
                    if f in el:
                        row[f] = el[f]
                store(ids[0]["idValue"] if ids else el["firstName"] + " " + el["lastName"], row,
                      "delete" if el["action"] == "REMOVE" else "upsert")
                out.append({"status": 201})
        return Reply(200, {"elements": out})

    def company(self, el):
        """One element of /companies: its status, the company stored (by
        its first identifier) or removed when it is valid."""
        def bad(why):
            return {"status": 400, "message": why}
        if not isinstance(el, dict) or el.get("action") not in ("ADD", "REMOVE"):
            return bad("action must be ADD or REMOVE")
        extra = sorted(set(el) - set(self.COMPANY_FIELDS) - {"action"})
        if extra:
            return bad("Unrecognized field(s): %s" % ", ".join(extra))
        ids = [f for f in self.COMPANY_IDS if isinstance(el.get(f), str) and el[f].strip()]
        if not ids:
            return bad("at least one of companyName, companyWebsiteDomain, organizationUrn or companyPageUrl is required")
        if "organizationUrn" in el and not re.match(r"^urn:li:organization:[0-9]+$", str(el["organizationUrn"])):
            return bad("organizationUrn is not a valid organization urn: %s" % el["organizationUrn"])
        inds = el.get("industries", [])
        if not isinstance(inds, list) or len(inds) > 3 or not all(isinstance(i, str) for i in inds):
            return bad("industries must be at most 3 strings")
        if "country" in el and not re.match(r"^[A-Z]{2}$", str(el["country"])):
            return bad("country must be an ISO 3166-1 alpha-2 code")
        for f, most in (("companyPageUrl", 100), ("postalCode", 20), ("stockSymbol", 5)):
            if f in el and (not isinstance(el[f], str) or len(el[f]) > most):
                return bad("%s must be a string of at most %d characters" % (f, most))
        row = {f: el[f] for f in self.COMPANY_FIELDS if f in el}
        store(el[ids[0]], row, "delete" if el["action"] == "REMOVE" else "upsert")
        return {"status": 201}


# Slack ----------------------------------------------------------------------

class SlackWebhook:
    def auth(self, req):
        m = re.match(r"^/services/T[0-9A-Z]+/B[0-9A-Z]+/(.+)$", req.path)
        if not m:
            raise text(404, "no_service")
        if OPT.token is not None and m.group(1) != OPT.token:
            raise text(403, "invalid_token")

    def throttle(self, wait):
        return text(429, "rate_limited", {"Retry-After": str(wait)})

    def write(self, req):
        b = req.json()
        if not isinstance(b, dict):
            raise text(400, "invalid_payload")
        if not b.get("text") and not b.get("blocks"):
            raise text(400, "no_text")
        if "not-an-email" in json.dumps(b):
            raise text(400, "invalid_payload")
        if not OPT.sink:
            STATE["messages"].append(b)
        store(b.get("text"), b)
        return text(200, "ok")


class SlackApi:
    reads = True   # auth.test by GET: --test-connection

    def auth(self, req):
        if req.bearer() is None:
            raise Reply(200, {"ok": False, "error": "not_authed"})
        if not token_ok(req.bearer()):
            raise Reply(200, {"ok": False, "error": "invalid_auth"})

    def throttle(self, wait):
        return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)})

    def write(self, req):
        if req.path == "/auth.test":   # who the token is; no scope needed
            return Reply(200, {"ok": True, "url": "https://rx-test.slack.com/", "team": "rx", "user": "rx-bot",
                               "team_id": "T0001", "user_id": "U0001", "bot_id": "B0001", "is_enterprise_install": False})
        if req.method != "POST" or req.path not in ("/chat.postMessage", "/chat.update", "/chat.delete"):
            raise Reply(404, {"ok": False, "error": "unknown_method"})
        if not req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise Reply(200, {"ok": False, "error": "invalid_form_data"})
        form = {k: v[0] for k, v in parse_qs(req.raw.decode(), keep_blank_values=True).items()}
        if not form.get("channel"):
            raise Reply(200, {"ok": False, "error": "channel_not_found"})
        if req.path != "/chat.postMessage":
            return self.edit(req.path, form)
        if not form.get("text") and not form.get("blocks"):
            raise Reply(200, {"ok": False, "error": "no_text"})
        if len(form.get("text", "")) > 40000:
            raise Reply(200, {"ok": False, "error": "msg_too_long"})
        if "not-an-email" in form.get("text", ""):
            raise Reply(200, {"ok": False, "error": "invalid_blocks"})
        meta = json.loads(form["metadata"]) if form.get("metadata") else {}
        msg = {k: (json.loads(v) if k in ("blocks", "metadata") else v) for k, v in form.items()}
        ts = "%d.%06d" % (time.time(), SEQ[0])
        next_id("")
        if not OPT.sink:
            STATE["messages"].append(msg)
        key = (meta.get("event_payload") or {}).get("key", form.get("text"))
        store(key, msg)
        STATE.setdefault("ts", {})["%s:%s" % (form["channel"], ts)] = key
        return Reply(200, {"ok": True, "channel": form["channel"], "ts": ts,
                           "message": {"type": "message", "text": form.get("text", ""), "ts": ts}})

    def edit(self, path, form):
        """chat.update and chat.delete: the message by its channel and ts
        (message_not_found when there is none: never posted, or deleted)."""
        at = "%s:%s" % (form["channel"], form.get("ts", ""))
        key = STATE.get("ts", {}).get(at)
        if key is None or key not in STATE["records"]:
            raise Reply(200, {"ok": False, "error": "message_not_found"})
        if path == "/chat.delete":
            del STATE["ts"][at]
            store(key, None, "delete")
            return Reply(200, {"ok": True, "channel": form["channel"], "ts": form["ts"]})
        if not form.get("text") and form.get("blocks", "[]") == "[]" and form.get("attachments", "[]") == "[]":
            raise Reply(200, {"ok": False, "error": "no_text"})
        if len(form.get("text", "")) > 40000:
            raise Reply(200, {"ok": False, "error": "msg_too_long"})
        if "not-an-email" in form.get("text", ""):
            raise Reply(200, {"ok": False, "error": "invalid_blocks"})
        msg = dict(STATE["records"][key]["row"])
        for k in ("text", "blocks", "attachments"):
            if k in form:
                msg[k] = json.loads(form[k]) if k != "text" else form[k]
            if msg.get(k) == []:
                del msg[k]
        msg.pop("ts", None)
        store(key, msg, "update")
        return Reply(200, {"ok": True, "channel": form["channel"], "ts": form["ts"], "text": form.get("text", ""),
                           "message": {"text": form.get("text", "")}})


# Microsoft Teams ------------------------------------------------------------

def card_text(b):
    try:
        body = b["attachments"][0]["content"]["body"]
        return next(x["text"] for x in body if x.get("type") == "TextBlock")
    except (KeyError, IndexError, TypeError, StopIteration):
        return None


class Teams:
    def auth(self, req):
        m = re.match(r"^/webhookb2/(.+)$", req.path)
        if not m or (OPT.token is not None and m.group(1) != OPT.token):
            raise text(404, "")

    def throttle(self, wait):
        return text(200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error "
                    "429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=4y7DkvdhLk2LCH7n0sRwFg.0..")

    def write(self, req):
        b = req.json()
        if len(req.raw) > 28 * 1024:
            return text(200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP "
                        "error 413 with ContextId tcid=0,server=msgapi,cv=x.0..")
        t = card_text(b) if isinstance(b, dict) else None
        if t is None or "not-an-email" in t:
            return text(200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP "
                        "error 400 with ContextId tcid=0,server=msgapi,cv=x.0..")
        if not OPT.sink:
            STATE["messages"].append(b)
        store(t, b)
        return text(200, "1")


class TeamsWorkflow:
    def auth(self, req):
        sig = (req.query.get("sig") or [None])[0]
        if not re.match(r"^/workflows/[0-9a-f]+/triggers/manual/paths/invoke$", req.path) or \
                (OPT.token is not None and sig != OPT.token):
            raise Reply(401, {"error": {"code": "DirectApiAuthorizationRequired",
                                        "message": "The request must be authenticated only by Shared Access scheme."}})

    def throttle(self, wait):
        return Reply(429, {"error": {"code": "WorkflowTriggerIsThrottled", "message": "The workflow trigger is throttled."}},
                     {"Retry-After": str(wait)})

    def write(self, req):
        b = req.json()
        t = card_text(b) if isinstance(b, dict) else None
        if t is not None and "not-an-email" not in t:   # the flow's run fails later; the caller never knows
            STATE["messages"].append(b)
            store(t, b)
        return Reply(202, None)


# PagerDuty ------------------------------------------------------------------

class PagerDuty:
    def auth(self, req):
        pass   # the routing key is in the body: checked with the event

    def throttle(self, wait):
        return Reply(429, None)

    def write(self, req):
        if req.path != "/v2/enqueue":
            raise Reply(404, {"status": "error", "message": "Not found"})
        b = req.json()
        if not isinstance(b, dict):
            raise Reply(400, {"status": "invalid event", "message": "Event object is invalid",
                              "errors": ["Malformed JSON"]})
        if OPT.token is not None and b.get("routing_key") != OPT.token:
            STATE["unauthorized"] += 1
            raise Reply(400, {"status": "invalid event", "message": "Event object is invalid",
                              "errors": ["Invalid routing key"]})
        errors = []
        if len(str(b.get("routing_key", ""))) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        act = b.get("event_action")
        if act not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
        dk = b.get("dedup_key")
        if dk is not None and len(str(dk)) > 255:
            errors.append("'dedup_key' is too long (maximum 255 characters)")
        p = b.get("payload")
        if act == "trigger":
            if not isinstance(p, dict):
                errors.append("'payload' is missing or not an object")
            else:
                if not p.get("summary") or len(p["summary"]) > 1024:
                    errors.append("'payload.summary' is missing or longer than 1024 characters")
                if not p.get("source"):
                    errors.append("'payload.source' is missing")
                if p.get("severity") not in ("critical", "error", "warning", "info"):
                    errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
                if invalid(p.get("custom_details")):
                    errors.append("'payload.custom_details': %s" % invalid(p.get("custom_details")))
        if errors:
            raise Reply(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        dk = dk or next_id("pd-")
        if act == "trigger":
            store(dk, {"status": "triggered", "payload": p})
        elif act == "resolve":
            store(dk, None, "delete")
        return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": dk})


# Notion ---------------------------------------------------------------------

def notion_error(status, code, message, headers=None):
    return Reply(status, {"object": "error", "status": status, "code": code, "message": message}, headers)


def notion_plain(v):
    t = next(iter(k for k in v if k != "type"), None) if isinstance(v, dict) else None
    if t in ("title", "rich_text"):
        return "".join(x.get("text", {}).get("content", "") for x in v[t])
    if t in ("number", "checkbox", "email", "url", "phone_number"):
        return v[t]
    return v


NOTION_PAGES = {}   # page id -> {"db", "ds", "props", "archived"}
NOTION_SOURCES = "2025-09-03"   # the first version whose pages live in data sources
NOTION_TRASH_ONLY = "2026-03-11"   # the first without "archived"
NOTION_SOURCE_DB = {}   # data source id -> its database's


def notion_ds_of(db):
    """The id of database db's one data source (as Notion's: a UUID)."""
    h = hashlib.md5(("data_source:" + db).encode()).hexdigest()
    ds = "%s-%s-4%s-8%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])
    NOTION_SOURCE_DB[ds] = db
    return ds


def notion_db_of(ds):
    """The database holding data source ds, among those seen (None: unknown)."""
    return NOTION_SOURCE_DB.get(ds)


def notion_props_check(props, create):
    if not isinstance(props, dict):
        raise notion_error(400, "validation_error", "body failed validation: body.properties should be an object")
    titles = [k for k, v in props.items() if isinstance(v, dict) and "title" in v]
    if len(titles) != 1 if create else len(titles) > 1:
        raise notion_error(400, "validation_error", "body failed validation: exactly one title property is required")
    for k, v in props.items():
        if k.startswith("_"):
            raise notion_error(400, "validation_error", "%s is not a property that exists." % k)
        if not isinstance(v, dict) or len([x for x in v if x != "type"]) != 1:
            raise notion_error(400, "validation_error", "body failed validation: body.properties.%s should be a property value" % k)
        for t in ("title", "rich_text"):
            for piece in v.get(t, []) if isinstance(v.get(t), list) else []:
                if len(piece.get("text", {}).get("content", "")) > 2000:
                    raise notion_error(400, "validation_error", "body.properties.%s.%s[0].text.content.length should be ≤ `2000`" % (k, t))
        if "email" in v and isinstance(v["email"], str) and "@" not in v["email"]:
            raise notion_error(400, "validation_error", "%s is expected to be email." % k)


def notion_key(props):
    v = props.get(OPT.key_property)
    return notion_plain(v) if isinstance(v, dict) else None


def notion_page(pid, version):
    pg = NOTION_PAGES[pid]
    props = {}
    for k, v in pg["props"].items():   # as Notion answers: plain_text beside each piece
        v = dict(v)
        for t in ("title", "rich_text"):
            if isinstance(v.get(t), list):
                v[t] = [dict(x, plain_text=x.get("text", {}).get("content", "")) for x in v[t]]
        props[k] = v
    if version >= NOTION_SOURCES:
        parent = {"type": "data_source_id", "data_source_id": pg["ds"], "database_id": pg["db"]}
    else:
        parent = {"type": "database_id", "database_id": pg["db"]}
    page = {"object": "page", "id": pid, "parent": parent, "archived": pg["archived"], "in_trash": pg["archived"],
            "properties": props, "url": "https://www.notion.so/" + pid.replace("-", "")}
    if version >= NOTION_TRASH_ONLY:
        del page["archived"]
    return page


def notion_row(pid):
    """STATE.records holds the live pages by key (a twin made later hides
    the first; live_pages counts them all)."""
    pg = NOTION_PAGES[pid]
    STATE["records"][notion_key(pg["props"]) or pid] = {"op": "upsert", "row": {k: notion_plain(v) for k, v in pg["props"].items()}}


def notion_unrow(pid):
    key = notion_key(NOTION_PAGES[pid]["props"]) or pid
    STATE["records"].pop(key, None)
    for other, pg in NOTION_PAGES.items():   # a twin of the key shows again
        if other != pid and not pg["archived"] and (notion_key(pg["props"]) or other) == key:
            notion_row(other)


def notion_match(pg, f):
    if "or" in f:
        return any(notion_match(pg, x) for x in f["or"])
    if "and" in f:
        return all(notion_match(pg, x) for x in f["and"])
    want = (f.get("rich_text") or {}).get("equals")
    v = pg["props"].get(f.get("property"))
    return isinstance(v, dict) and "rich_text" in v and notion_plain(v) == want


class Notion:
    reads = True
    counters = ("live_pages", "creates", "updates", "archives", "queries")

    def auth(self, req):
        if not token_ok(req.bearer()):
            raise notion_error(401, "unauthorized", "API token is invalid.")
        if not req.headers.get("notion-version"):
            raise notion_error(400, "missing_version", "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.")

    def throttle(self, wait):
        return notion_error(429, "rate_limited", "You have been rated limited. Please try again in a few minutes.",
                            {"Retry-After": str(wait)})

    def write(self, req):
        b = req.json()
        version = req.headers.get("notion-version")
        sources = version >= NOTION_SOURCES
        m = re.match(r"^/v1/pages/([0-9a-f-]+)$", req.path)
        q = re.match(r"^/v1/databases/([^/]+)(/query)?$", req.path)
        d = re.match(r"^/v1/data_sources/([^/]+)(/query)?$", req.path)
        if req.method == "GET" and q and not q.group(2):
            if sources:   # the container: its data sources, no schema
                return Reply(200, {"object": "database", "id": q.group(1), "title": [], "is_inline": False,
                                   "data_sources": [{"id": notion_ds_of(q.group(1)), "name": "Data source"}]})
            return Reply(200, {"object": "database", "id": q.group(1), "title": [], "properties": {}})
        if req.method == "POST" and q and q.group(2) and not sources:
            return self.query(lambda pg: pg["db"] == q.group(1), b, version)
        if sources and d and req.method == "GET" and not d.group(2):
            db = notion_db_of(d.group(1))
            return Reply(200, {"object": "data_source", "id": d.group(1), "title": [], "properties": {},
                               "parent": {"type": "database_id", "database_id": db or "unknown"}})
        if sources and d and req.method == "POST" and d.group(2):
            return self.query(lambda pg: pg["ds"] == d.group(1), b, version)
        if req.method == "PATCH" and m:
            return self.update(m.group(1), b, version)
        if req.path != "/v1/pages" or req.method != "POST":
            raise notion_error(400, "invalid_request_url", "Invalid request URL.")
        parent = b.get("parent") if isinstance(b, dict) else None
        parent = parent if isinstance(parent, dict) else {}
        want = "data_source_id" if sources else "database_id"
        if not isinstance(parent.get(want), str) or not re.match(r"^[0-9A-Za-z-]+$", parent[want]):
            raise notion_error(400, "validation_error", "body failed validation: body.parent.%s should be defined, instead "
                               "was `%s`." % (want, json.dumps(parent.get(want)) if want in parent else "undefined"))
        props = b.get("properties")
        notion_props_check(props, True)
        page = next_id("59833787-2cf9-4fdf-8782-e53db20768a")
        STATE["accepted"] += 1
        if OPT.sink:
            return Reply(200, {"object": "page", "id": page, "properties": props})
        if sources:
            ds = parent["data_source_id"]
            db = notion_db_of(ds) or ds
        else:
            db = parent["database_id"]
            ds = notion_ds_of(db)
        NOTION_PAGES[page] = {"db": db, "ds": ds, "props": props, "archived": False}
        STATE["creates"] += 1
        STATE["live_pages"] += 1
        notion_row(page)
        return Reply(200, notion_page(page, version))

    def update(self, pid, b, version):
        if pid not in NOTION_PAGES:
            raise notion_error(404, "object_not_found", "Could not find page with ID: %s. Make sure the relevant pages and "
                               "databases are shared with your integration." % pid)
        if not isinstance(b, dict) or not b:
            raise notion_error(400, "validation_error", "body failed validation: body should be an object with properties, archived or in_trash")
        for k in b:
            if k not in ("properties", "archived", "in_trash", "icon", "cover") or \
                    (k == "archived" and version >= NOTION_TRASH_ONLY):
                raise notion_error(400, "validation_error", "body failed validation: body.%s should be not present" % k)
        pg = NOTION_PAGES[pid]
        trash = b.get("in_trash", b.get("archived"))
        if "properties" in b:
            if pg["archived"] and trash is not False:
                raise notion_error(400, "validation_error", "Can't edit block that is archived. You must unarchive the block before editing.")
            notion_props_check(b["properties"], False)
            if not pg["archived"]:
                notion_unrow(pid)
            pg["props"] = dict(pg["props"], **b["properties"])
            if not pg["archived"]:
                notion_row(pid)
            STATE["updates"] += 1
        if trash is not None:
            if not isinstance(trash, bool):
                raise notion_error(400, "validation_error", "body failed validation: body.archived should be a boolean")
            if trash and not pg["archived"]:
                STATE["deleted"].append(notion_key(pg["props"]) or pid)
                STATE["archives"] += 1
                STATE["live_pages"] -= 1
                pg["archived"] = True
                notion_unrow(pid)
            elif not trash and pg["archived"]:
                STATE["live_pages"] += 1
                pg["archived"] = False
                notion_row(pid)
        STATE["accepted"] += 1
        return Reply(200, notion_page(pid, version))

    def query(self, held, b, version):
        b = b if isinstance(b, dict) else {}
        f = b.get("filter") or {}
        size = b.get("page_size", 100)
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise notion_error(400, "validation_error", "body failed validation: body.page_size should be ≤ `100`")
        for x in f.get("or", [f]):
            if x.get("property", "").startswith("_"):
                raise notion_error(400, "validation_error", "Could not find property with name or id: %s" % x["property"])
        hits = [pid for pid, pg in NOTION_PAGES.items() if held(pg) and not pg["archived"] and (not f or notion_match(pg, f))]
        STATE["queries"] += 1
        kind = "page_or_data_source" if version >= NOTION_SOURCES else "page_or_database"
        return Reply(200, {"object": "list", "results": [notion_page(p, version) for p in hits[:size]],
                           "next_cursor": hits[size] if len(hits) > size else None, "has_more": len(hits) > size,
                           "type": kind, kind: {}})


# Asana ----------------------------------------------------------------------

ASANA_FIELDS = {"name", "notes", "html_notes", "due_on", "due_at", "start_on", "assignee", "completed", "projects",
                "workspace", "tags", "followers", "parent", "custom_fields", "external", "resource_subtype",
                "approval_status", "assignee_section"}


def asana_error(status, message, headers=None):
    return Reply(status, {"errors": [{"message": message, "help": "For more information on API status codes and how "
                                      "to handle them, read the docs on errors: https://developers.asana.com/docs/errors"}]},
                 headers)


class Asana:
    reads = True   # GET /tasks/external:KEY (an upsert's lookup), GET /users/me

    def auth(self, req):
        if not token_ok(req.bearer()):
            raise asana_error(401, "Not Authorized")

    def throttle(self, wait):
        return asana_error(429, "You have made too many requests recently. Please, be chill.", {"Retry-After": str(wait)})

    def write(self, req):
        b = req.json()
        data = b.get("data") if isinstance(b, dict) else None
        m = re.match(r"^/tasks/external:(.+)$", req.path)
        if req.method == "GET" and req.path == "/users/me":
            return Reply(200, {"data": {"gid": "1200", "resource_type": "user", "name": "rx"}})
        if req.method == "GET" and m:
            # a task by its external gid (an upsert's lookup): its gid, which
            # Asana answers whatever opt_fields names
            key = unquote(m.group(1))
            STATE["lookups"] = STATE.get("lookups", 0) + 1
            if key not in STATE["records"]:
                raise asana_error(404, "external:%s: Not Found" % key)
            return Reply(200, {"data": {"gid": STATE["records"][key]["row"]["gid"], "resource_type": "task"}})
        g = re.match(r"^/tasks/([0-9]+)$", req.path)
        if req.method == "PUT" and g:
            # a task by its own gid (an upsert with the gid rx keeps)
            found = [k for k, v in STATE["records"].items() if v["row"].get("gid") == g.group(1)]
            if not found:
                raise asana_error(404, "task: Not Found")
            key = found[0]
            if not isinstance(data, dict):
                raise asana_error(400, "data: Missing input")
            for k in data:
                if k not in ASANA_FIELDS or k in ("external", "projects", "workspace"):
                    raise asana_error(400, "%s: Unknown field" % k)
            row = dict(STATE["records"][key]["row"])
            row.update(data)
            store(key, row, "update")
            return Reply(200, {"data": dict(row, resource_type="task")})
        if req.method == "DELETE" and m:
            key = unquote(m.group(1))
            if key not in STATE["records"]:
                raise asana_error(404, "external:%s: Not Found" % key)
            store(key, None, "delete")
            return Reply(200, {"data": {}})
        if not isinstance(data, dict):
            raise asana_error(400, "data: Missing input")
        for k in data:
            if k not in ASANA_FIELDS:
                raise asana_error(400, "%s: Unknown field" % k)
        if "name" in data and (not isinstance(data["name"], str) or "not-an-email" in data["name"]):
            raise asana_error(400, "name: Invalid value")
        if req.method == "POST" and req.path == "/tasks":
            if not data.get("workspace") and not data.get("projects") and not data.get("parent"):
                raise asana_error(400, "workspace: Missing input")
            key = (data.get("external") or {}).get("gid")
            if key is not None and key in STATE["records"]:
                raise asana_error(400, "external.gid: %s is already in use" % key)
            gid = next_id("120000000000")
            store(key or gid, dict(data, gid=gid), "insert")
            return Reply(201, {"data": dict(data, gid=gid, resource_type="task")})
        if req.method == "PUT" and m:
            key = unquote(m.group(1))
            if key not in STATE["records"]:
                raise asana_error(404, "external:%s: Not Found" % key)
            row = dict(STATE["records"][key]["row"])
            row.update(data)
            store(key, row, "update")
            return Reply(200, {"data": dict(row, resource_type="task")})
        raise asana_error(404, "%s %s: No matching route for request" % (req.method, req.path))


# Airtable -------------------------------------------------------------------

def airtable_formula(src):
    """The formulas a lookup sends: OR(..), AND(..), {Field}=value with
    value 'text' (backslash escapes), a number, TRUE() or FALSE(); a
    predicate on a record's fields.  Anything else: ValueError."""
    pos = [0]

    def peek(t):
        return src.startswith(t, pos[0])

    def eat(t):
        if not peek(t):
            raise ValueError("expected %r at %d" % (t, pos[0]))
        pos[0] += len(t)

    def literal():
        if peek("'") or peek('"'):
            q = src[pos[0]]
            pos[0] += 1
            out = []
            while pos[0] < len(src) and src[pos[0]] != q:
                if src[pos[0]] == "\\":
                    pos[0] += 1
                out.append(src[pos[0]])
                pos[0] += 1
            eat(q)
            return "".join(out)
        for name, v in (("TRUE()", True), ("FALSE()", False)):
            if peek(name):
                eat(name)
                return v
        m = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?").match(src, pos[0])
        if not m:
            raise ValueError("a value expected at %d" % pos[0])
        pos[0] = m.end()
        return float(m.group(0)) if any(c in m.group(0) for c in ".eE") else int(m.group(0))

    def expr():
        for fn, comb in (("OR(", any), ("AND(", all)):
            if peek(fn):
                eat(fn)
                parts = [expr()]
                while peek(","):
                    eat(",")
                    parts.append(expr())
                eat(")")
                return lambda f, parts=parts, comb=comb: comb(p(f) for p in parts)
        eat("{")
        end = src.index("}", pos[0])
        field = src[pos[0]:end]
        pos[0] = end + 1
        eat("=")
        v = literal()
        return lambda f: f.get(field) == v
    e = expr()
    if pos[0] != len(src):
        raise ValueError("unexpected text at %d" % pos[0])
    return e


def airtable_error(status, typ, message):
    return Reply(status, {"error": {"type": typ, "message": message}})


class Airtable:
    reads = True
    counters = ("lookups",)

    def auth(self, req):
        if not token_ok(req.bearer()):
            raise Reply(401, {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}})

    def throttle(self, wait):
        return Reply(429, {"errors": [{"error": "RATE_LIMIT_REACHED",
                                       "message": "Rate limit exceeded. Please try again later"}]})

    def list(self, req):
        STATE["lookups"] += 1
        size = int((req.query.get("pageSize") or ["100"])[0])
        if not 1 <= size <= 100:
            raise airtable_error(422, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.")
        size = min(size, int((req.query.get("maxRecords") or [size])[0]))
        try:
            pred = airtable_formula(req.query["filterByFormula"][0]) if "filterByFormula" in req.query else (lambda f: True)
        except ValueError as e:
            raise airtable_error(422, "INVALID_FILTER_BY_FORMULA", "The formula for filtering records is invalid: %s" % e)
        hits = [r["row"] for r in STATE["records"].values() if pred(r["row"])]
        out = {"records": [{"id": h["_id"], "createdTime": "2026-01-01T00:00:00.000Z",
                            "fields": {k: v for k, v in h.items() if k != "_id" and v is not None}} for h in hits[:size]]}
        if len(hits) > size:
            out["offset"] = "itr%d/%s" % (size, hits[size]["_id"])
        return Reply(200, out)

    def delete(self, req):
        ids = req.query.get("records[]", [])
        if not ids or len(ids) > 10:
            raise airtable_error(422, "INVALID_RECORDS", "You can delete at most 10 records per request, and at least one")
        by_id = {r["row"]["_id"]: k for k, r in STATE["records"].items()}
        for rid in ids:
            # Nothing is deleted and the reply names no id: the 404 recorded
            # from the live API for a deleted record's id (grouparoo's
            # fixtures, a GET; DELETE's own reply is not documented).
            if rid not in by_id:
                raise airtable_error(404, "MODEL_ID_NOT_FOUND", "Record not found")
        for rid in ids:
            store(by_id[rid], None, "delete")
        return Reply(200, {"records": [{"id": rid, "deleted": True} for rid in ids]})

    def write(self, req):
        if not re.match(r"^/v0/app[A-Za-z0-9]+/[^/]+$", req.path):
            raise Reply(404, {"error": "NOT_FOUND"})
        if req.method == "GET":
            return self.list(req)
        if req.method == "DELETE":
            return self.delete(req)
        if req.method not in ("PATCH", "PUT"):
            raise Reply(404, {"error": "NOT_FOUND"})
        b = req.json()
        if not isinstance(b, dict):
            raise Reply(400, {"error": {"type": "INVALID_REQUEST_UNKNOWN", "message": "Invalid request: parameter validation failed"}})
        merge = (b.get("performUpsert") or {}).get("fieldsToMergeOn")
        recs = b.get("records")
        if not isinstance(merge, list) or not 1 <= len(merge) <= 3 or not isinstance(recs, list):
            raise Reply(422, {"error": {"type": "INVALID_REQUEST_UNKNOWN",
                                        "message": "Invalid request: performUpsert.fieldsToMergeOn must list 1 to 3 fields"}})
        if len(recs) > 10:
            raise Reply(422, {"error": {"type": "INVALID_RECORDS", "message": "You can update at most 10 records per request"}})
        for r in recs:
            f = r.get("fields") if isinstance(r, dict) else None
            if not isinstance(f, dict) or any(f.get(m) in (None, "") for m in merge):
                raise Reply(422, {"error": {"type": "INVALID_MERGE_FIELD",
                                            "message": "Every record needs a value for each field of fieldsToMergeOn"}})
            if invalid(f):
                raise Reply(422, {"error": {"type": "INVALID_VALUE_FOR_COLUMN",
                                            "message": "Field \"email\" cannot accept the provided value"}})
        out, created, updated = [], [], []
        for r in recs:
            f = r["fields"]
            key = f[merge[0]] if len(merge) == 1 else json.dumps([f[m] for m in merge])
            old = STATE["records"].get(str(key))
            rid = old["row"]["_id"] if old else next_id("rec000000000")
            row = dict(old["row"]) if old and req.method == "PATCH" else {}
            row.update(f)
            row["_id"] = rid
            (updated if old else created).append(rid)
            store(str(key), row)
            out.append({"id": rid, "createdTime": "2026-01-01T00:00:00.000Z",
                        "fields": {k: v for k, v in row.items() if k != "_id"}})
        out.reverse()   # whether the order is kept is unconfirmed: never rely on it
        return Reply(200, {"records": out, "createdRecords": created, "updatedRecords": updated})


# Google: Sheets and Firestore, and the token endpoint -------------------------

def google_error(status, code_name, message, headers=None):
    return Reply(status, {"error": {"code": status, "message": message, "status": code_name}}, headers)


class Google:
    def auth(self, req):
        if not token_ok(req.bearer()):
            raise google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                               "access token, login cookie or other valid authentication credential.")

    def throttle(self, wait):
        return google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Write requests' and limit "
                            "'Write requests per minute per user' of service 'sheets.googleapis.com'.")


def cell(v):
    return v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v)


A1 = re.compile(r"^([A-Z]*)([0-9]*)(?::([A-Z]*)([0-9]*))?$")


def a1(rng):
    """A range in A1 notation: (sheet as written, sheet name, first row or
    None, last row or None, whole sheet?).  Rows are 1-based."""
    if "!" not in rng:
        return rng, rng.strip("'"), None, None, True
    sheet, _, cells = rng.rpartition("!")
    m = A1.match(cells)
    if not m or cells == "":
        raise google_error(400, "INVALID_ARGUMENT", "Unable to parse range: %s" % rng)
    r1 = int(m.group(2)) if m.group(2) else None
    r2 = int(m.group(4)) if m.group(4) else (r1 if m.group(3) is None and m.group(4) is None else None)
    return sheet, sheet.strip("'"), r1, r2, False


def col_name(n):
    return chr(ord("A") + min(n, 26) - 1)


class Sheets(Google):
    """The sheet is a grid (STATE["sheets"][NAME]: row i+1 is item i; [] a
    cleared row), its row 1 a header.  "records" is the grid seen by its
    first column (a row's first cell: its row, the last row holding it);
    "duplicates" counts first cells held by more than one row."""
    reads = True

    def grid(self, name):
        return STATE.setdefault("sheets", {}).setdefault(name, [["header"]])

    def reindex(self):
        if OPT.sink:
            return
        recs, dup = {}, 0
        for name, rows in STATE.get("sheets", {}).items():
            for i, row in enumerate(rows[1:]):
                if row and row[0] not in ("", None):
                    k = str(row[0])
                    dup += k in recs
                    recs[k] = {"op": "upsert", "row": row, "at": "%s!A%d" % (name, i + 2)}
        STATE["records"] = recs
        STATE["duplicates"] = dup

    def check_values(self, vals, what="values"):
        if not isinstance(vals, list) or not vals:
            raise google_error(400, "INVALID_ARGUMENT", "Invalid data[0]: No values")
        for i, row in enumerate(vals):
            if not isinstance(row, list):
                raise google_error(400, "INVALID_ARGUMENT", "Invalid %s[%d]: not a list" % (what, i))
            for j, v in enumerate(row):
                if isinstance(v, (dict, list)) or v == "_reject" or (isinstance(v, str) and "not-an-email" in v):
                    raise google_error(400, "INVALID_ARGUMENT", "Invalid %s[%d][%d]: %s" % (what, i, j, json.dumps(v)))

    def write(self, req):
        path = unquote(req.path)
        m = re.match(r"^/v4/spreadsheets/([^/:]+)(/values/(.+?)(:append)?|/values:batchUpdate|/values:batchClear)?$", path)
        if not m:
            raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
        sid, what = m.group(1), m.group(2) or ""
        if sid == "not-shared":   # a spreadsheet not shared with the account
            raise google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
        if req.method == "GET" and what == "":
            return Reply(200, {"spreadsheetId": sid, "properties": {"title": "rx test"}})
        if req.method == "GET" and m.group(3) and not m.group(4):
            return self.read(sid, m.group(3), req)
        if req.method != "POST":
            raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if m.group(4):
            return self.append(sid, m.group(3), req)
        b = req.json()
        if not isinstance(b, dict):
            raise google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if what == "/values:batchUpdate":
            return self.batch_update(sid, b)
        if what == "/values:batchClear":
            return self.batch_clear(sid, b)
        raise google_error(404, "NOT_FOUND", "Requested entity was not found.")

    def read(self, sid, rng, req):
        """values.get of a column (the key column a lookup reads)."""
        shown, name, r1, r2, whole = a1(rng)
        rows = self.grid(name)
        col = [(r[0] if r else "") for r in rows]
        while col and col[-1] in ("", None):
            col.pop()
        doc = {"range": "%s!A1:A%d" % (shown, max(1000, len(rows))), "majorDimension": "COLUMNS"}
        if (req.query.get("majorDimension") or ["ROWS"])[0] != "COLUMNS":
            doc["majorDimension"] = "ROWS"
            if col:
                doc["values"] = [[c] for c in col]
        elif col:
            doc["values"] = [col]
        return Reply(200, doc)

    def append(self, sid, rng, req):
        if (req.query.get("valueInputOption") or [None])[0] not in ("RAW", "USER_ENTERED"):
            raise google_error(400, "INVALID_ARGUMENT", "'valueInputOption' is required but not specified")
        insert = (req.query.get("insertDataOption") or ["OVERWRITE"])[0] == "INSERT_ROWS"
        b = req.json()
        vals = b.get("values") if isinstance(b, dict) else None
        self.check_values(vals)
        shown, name, r1, r2, whole = a1(rng)
        rows = self.grid(name)
        # The table.  With the whole sheet: the cells with data joined to
        # the sheet's last one (its last row's rightmost cell), side by
        # side or one above the other; rows go after its last row, from
        # its first column.  So a cleared row in the middle is not
        # written into, and a column empty in every row (no header above
        # it) splits the sheet in two: the next rows start at the column
        # after it.  What Sheets' replies show: the tableRange
        # "Sheet1!J1" and rows shifted right after rows with empty cells
        # (burnash/gspread issues 537 and 603,
        # googleworkspace/php-samples issue 38); the reference says only
        # "find a table within that range".  With a cell: the table that
        # cell starts (the rows with data from it on, up to the first
        # empty one), from column A.
        c0 = 0
        if whole or r1 is None:
            full = lambda r, c: 0 <= r < len(rows) and c < len(rows[r]) and rows[r][c] not in ("", None)
            ends = [i for i, r in enumerate(rows) if any(v not in ("", None) for v in r)]
            if ends:
                r0 = ends[-1]
                start = (r0, max(c for c, v in enumerate(rows[r0]) if v not in ("", None)))
                seen, todo = {start}, [start]
                while todo:
                    r, c = todo.pop()
                    for n in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                        if n not in seen and n[1] >= 0 and full(*n):
                            seen.add(n)
                            todo.append(n)
                c0 = min(c for _, c in seen)
                top, first = min(r for r, _ in seen) + 1, max(r for r, _ in seen) + 2
            else:
                top, first = 0, 1
        else:
            i = r1
            while i <= len(rows) and rows[i - 1]:
                i += 1
            first, top = i, r1
        while len(rows) < first - 1:
            rows.append([])
        for n, row in enumerate(vals):
            at = first - 1 + n
            cells = [""] * c0 + list(row)
            if insert:
                rows.insert(at, cells)
            elif at < len(rows):
                old = rows[at] + [""] * max(0, len(cells) - len(rows[at]))
                old[c0:c0 + len(row)] = list(row)
                rows[at] = old
            else:
                rows.append(cells)
            if not OPT.sink:
                STATE["messages"].append(row)
        self.reindex()
        STATE["accepted"] += len(vals)
        last = first + len(vals) - 1
        ncols = max(len(r) for r in vals)
        col = col_name(c0 + ncols)
        return Reply(200, {"spreadsheetId": sid, "tableRange": "%s!%s%d:%s%d" % (shown, col_name(c0 + 1), max(top, 1), col, max(first - 1, 1)),
                           "updates": {"spreadsheetId": sid, "updatedRange": "%s!%s%d:%s%d" % (shown, col_name(c0 + 1), first, col, last),
                                       "updatedRows": len(vals), "updatedColumns": ncols,
                                       "updatedCells": sum(len(r) for r in vals)}})

    def batch_update(self, sid, b):
        if b.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            raise google_error(400, "INVALID_ARGUMENT", "'valueInputOption' is required but not specified")
        data = b.get("data")
        if not isinstance(data, list) or not data:
            raise google_error(400, "INVALID_ARGUMENT", "Invalid data: no ranges")
        plan = []
        for i, d in enumerate(data):   # all checked first: the request is atomic
            shown, name, r1, r2, whole = a1(d.get("range", ""))
            self.check_values(d.get("values"), "data[%d].values" % i)
            if whole or r1 is None:
                raise google_error(400, "INVALID_ARGUMENT", "Invalid data[%d]: a range of rows is needed" % i)
            if r2 is not None and r1 + len(d["values"]) - 1 > r2:
                raise google_error(400, "INVALID_ARGUMENT", "Requested writing within range [%s], but tried writing to row [%d]"
                                   % (d["range"], r2 + 1))
            plan.append((shown, name, r1, d["values"]))
        responses = []
        for shown, name, r1, vals in plan:
            rows = self.grid(name)
            for n, row in enumerate(vals):
                at = r1 - 1 + n
                while len(rows) <= at:
                    rows.append([])
                old = rows[at]
                rows[at] = list(row) + old[len(row):]   # cells beyond the values keep theirs
            ncols = max(len(r) for r in vals)
            responses.append({"spreadsheetId": sid, "updatedRange": "%s!A%d:%s%d" % (shown, r1, col_name(ncols), r1 + len(vals) - 1),
                              "updatedRows": len(vals), "updatedColumns": ncols, "updatedCells": sum(len(r) for r in vals)})
        self.reindex()
        STATE["accepted"] += len(plan)
        return Reply(200, {"spreadsheetId": sid, "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                           "totalUpdatedColumns": max(r["updatedColumns"] for r in responses),
                           "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                           "totalUpdatedSheets": len({p[1] for p in plan}), "responses": responses})

    def batch_clear(self, sid, b):
        ranges = b.get("ranges")
        if not isinstance(ranges, list) or not ranges:
            raise google_error(400, "INVALID_ARGUMENT", "Invalid ranges: no ranges")
        plan = [a1(r) if isinstance(r, str) else a1("") for r in ranges]
        for (shown, name, r1, r2, whole), r in zip(plan, ranges):
            if whole or r1 is None or r2 is None:
                raise google_error(400, "INVALID_ARGUMENT", "Invalid range %s: a range of rows is needed here" % r)
        cleared = []
        for shown, name, r1, r2, whole in plan:
            rows = self.grid(name)
            for at in range(r1 - 1, min(r2, len(rows))):
                rows[at] = []
            cleared.append("%s!A%d:Z%d" % (shown, r1, r2))
        self.reindex()
        STATE["accepted"] += len(plan)
        return Reply(200, {"spreadsheetId": sid, "clearedRanges": cleared})


def fs_decode(v):
    if not isinstance(v, dict) or len(v) != 1:
        raise ValueError("not a Firestore value: %s" % json.dumps(v))
    (t, x), = v.items()
    if t == "stringValue":
        return x
    if t == "integerValue":
        return int(x)
    if t == "doubleValue":
        return float(x)
    if t == "booleanValue":
        return bool(x)
    if t == "nullValue":
        return None
    if t == "mapValue":
        return {k: fs_decode(y) for k, y in (x.get("fields") or {}).items()}
    if t == "arrayValue":
        return [fs_decode(y) for y in x.get("values") or []]
    raise ValueError("unknown value type %s" % t)


class Firestore(Google):
    reads = True   # GET .../documents/COLLECTION (list): --test-connection

    def throttle(self, wait):
        return google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.")

    def list(self, req):
        """documents.list of a collection, pageSize documents at most (the
        names and fields stored); the project "forbidden" is one the
        account has no role in: 403 PERMISSION_DENIED."""
        # Google's binding: /v1/{parent=projects/*/databases/*/documents[/*/**]}/{collection_id},
        # each segment decoded on its own (google/api/http.proto): a
        # subcollection's path is segments; a %2F in the last one is a "/"
        # in the collection id, which Firestore refuses
        segs = [unquote(x) for x in req.path.split("/")]
        if len(segs) < 8 or segs[:3] != ["", "v1", "projects"] or segs[4] != "databases" or segs[6] != "documents" \
                or len(segs) % 2 != 0 or "" in segs[1:]:
            raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if "/" in segs[-1]:
            raise google_error(400, "INVALID_ARGUMENT",
                               'Collection id "%s" is invalid because it contains "/".' % segs[-1])
        m = (segs[3], segs[5], "/".join(segs[7:]))
        if m[0] == "forbidden":
            raise google_error(403, "PERMISSION_DENIED", "Missing or insufficient permissions.")
        try:
            size = int((req.query.get("pageSize") or ["20"])[0])
        except ValueError:
            raise google_error(400, "INVALID_ARGUMENT", "Invalid value at 'page_size' (TYPE_INT32)")
        prefix = "projects/%s/databases/%s/documents/%s/" % m
        docs = [{"name": prefix + k, "fields": {}, "createTime": "2026-01-01T00:00:00.000000Z",
                 "updateTime": "2026-01-01T00:00:00.000000Z"} for k in sorted(STATE["records"])][:max(size, 0)]
        return Reply(200, {"documents": docs} if docs else {})

    def write(self, req):
        if req.method == "GET":
            return self.list(req)
        m = re.match(r"^/v1/projects/([^/]+)/databases/([^/]+)/documents:batchWrite$", unquote(req.path))
        if not m or req.method != "POST":
            raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
        prefix = "projects/%s/databases/%s/documents/" % (m.group(1), m.group(2))
        b = req.json()
        writes = b.get("writes") if isinstance(b, dict) else None
        if not isinstance(writes, list) or len(writes) > 500:
            raise google_error(400, "INVALID_ARGUMENT", "writes: at most 500")
        names = []
        status, results = [], []
        for w in writes:
            name = (w.get("update") or {}).get("name") if "update" in w else w.get("delete")
            segs = name[len(prefix):].split("/") if isinstance(name, str) and name.startswith(prefix) else []
            if not segs or len(segs) % 2 != 0 or "" in segs:
                status.append({"code": 3, "message": "Document name \"%s\" lacks \"/\" at index or is invalid" % name})
                results.append({})
                continue
            if name in names:
                raise google_error(400, "INVALID_ARGUMENT", "A document cannot be written because it exists in the batch twice: %s" % name)
            names.append(name)
            if ITEM_THROTTLES[0] < OPT.item_throttle_first:
                ITEM_THROTTLES[0] += 1
                status.append({"code": 10, "message": "Too much contention on these documents. Please try again."})
                results.append({})
                continue
            key = name.split("/")[-1]
            exists = (w.get("currentDocument") or {}).get("exists")
            if exists is True and key not in STATE["records"]:
                status.append({"code": 5, "message": "No document to update: %s" % name})
                results.append({})
                continue
            if exists is False and key in STATE["records"]:
                status.append({"code": 6, "message": "Document already exists: %s" % name})
                results.append({})
                continue
            if "delete" in w:
                store(key, None, "delete")
                status.append({})
                results.append({"updateTime": "2026-01-01T00:00:00.000000Z"})
                continue
            try:
                row = {k: fs_decode(v) for k, v in (w["update"].get("fields") or {}).items()}
            except ValueError as e:
                status.append({"code": 3, "message": str(e)})
                results.append({})
                continue
            why = invalid(row)
            if why:
                status.append({"code": 3, "message": why})
                results.append({})
                continue
            store(key, row)
            status.append({})
            results.append({"updateTime": "2026-01-01T00:00:00.000000Z"})
        return Reply(200, {"writeResults": results, "status": status})


# Elasticsearch / OpenSearch -------------------------------------------------

def sigv4_signature(method, path, query, headers, names, payload, amz, secret, region, service):
    """The hex signature of a request: its canonical request (the path
    encoded again, the query sorted, the named headers), then the string
    to sign, keyed by the secret through the day, region and service.
    (t/5682 checks it on AWS's own test vector, get-vanilla.)"""
    q = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in parse_qsl(query, keep_blank_values=True))
    canonical = "\n".join([method, quote(path, safe="/~"), "&".join(k + "=" + v for k, v in q),
                           "".join(n + ":" + " ".join(headers[n].split()) + "\n" for n in names), ";".join(names),
                           payload])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, "/".join([amz[:8], region, service, "aws4_request"]),
                     hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz[:8], region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


def sigv4_check(req):
    """AWS Signature Version 4, as Amazon OpenSearch Service checks it
    (--aws KEYID:SECRET:REGION:SERVICE): the signature recomputed from the
    request as it came; 403 in AWS's words when it differs, when a signed
    header is missing, or when x-amz-date is 5 minutes off."""
    kid, secret, region, service = OPT.aws.split(":")
    a = req.headers.get("authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                 r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$", a)

    def refuse(msg):
        raise Reply(403, {"message": msg})
    if m is None:
        refuse("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
    akid, day, reg, svc, signed, sig = m.groups()
    if akid != kid:
        refuse("The security token included in the request is invalid.")
    if (reg, svc) != (region, service):
        refuse("Credential should be scoped to a valid region and service.")
    amz = req.headers.get("x-amz-date", "")
    try:
        t = calendar.timegm(time.strptime(amz, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        refuse("Missing or invalid x-amz-date.")
    if abs(time.time() - t) > 300 or amz[:8] != day:
        refuse("Signature expired or not yet current.")
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names or any(n not in req.headers for n in names):
        refuse("Signed headers must include host and x-amz-date, each present.")
    payload = hashlib.sha256(req.raw).hexdigest()
    if req.headers.get("x-amz-content-sha256", payload) != payload:
        refuse("The provided 'x-amz-content-sha256' header does not match what was computed.")
    want = sigv4_signature(req.method, req.raw_path, req.raw_query, req.headers, names, payload, amz, secret,
                           region, service)
    if not hmac.compare_digest(want, sig):
        refuse("The request signature we calculated does not match the signature you provided. Check your AWS "
               "Secret Access Key and signing method. Consult the service documentation for details.")
    with LOCK:
        STATE["signed"] = STATE.get("signed", 0) + 1


class Elasticsearch:
    reads = True   # GET /INDEX: --test-connection

    def auth(self, req):
        if OPT.aws:
            return sigv4_check(req)
        if OPT.token is None:
            return
        a = req.headers.get("authorization", "")
        ok = a == "ApiKey " + OPT.token
        if a.startswith("Basic "):
            try:
                ok = base64.b64decode(a[6:]).decode() == OPT.token
            except ValueError:
                ok = False
        if not ok:
            raise Reply(401, {"error": {"root_cause": [{"type": "security_exception", "reason": "unable to authenticate with provided credentials and anonymous access is not allowed for this request"}],
                                        "type": "security_exception", "reason": "unable to authenticate with provided credentials and anonymous access is not allowed for this request"},
                              "status": 401}, {"WWW-Authenticate": "ApiKey"})

    def throttle(self, wait):
        e = {"type": "es_rejected_execution_exception",
             "reason": "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, max_coordinating_and_primary_bytes=107374182]"}
        return Reply(429, {"error": {"root_cause": [e], "type": e["type"], "reason": e["reason"]}, "status": 429})

    def index_get(self, req):
        """GET /INDEX: the index's aliases, mappings and settings.  The
        index "missing" does not exist (404 index_not_found_exception);
        "forbidden" is one the key may write but not see (403, ES's
        words: view_index_metadata is what GET needs)."""
        m = re.match(r"^/([^/_][^/]*)$", unquote(req.path))
        if not m:
            raise Reply(405, {"error": "Incorrect HTTP method for uri [%s], allowed: [POST, PUT]" % req.path, "status": 405})
        index = m.group(1)
        if index == "missing":
            e = {"type": "index_not_found_exception", "reason": "no such index [%s]" % index,
                 "resource.type": "index_or_alias", "resource.id": index, "index": index}
            raise Reply(404, {"error": {"root_cause": [e], **e}, "status": 404})
        if index == "forbidden":
            e = {"type": "security_exception",
                 "reason": "action [indices:admin/get] is unauthorized for API key id [k1] of user [rx] on indices "
                           "[%s], this action is granted by the index privileges [view_index_metadata,manage,all]" % index}
            raise Reply(403, {"error": {"root_cause": [e], **e}, "status": 403})
        return Reply(200, {index: {"aliases": {}, "mappings": {"dynamic": "true"},
                                   "settings": {"index": {"number_of_shards": "1", "provided_name": index,
                                                          "uuid": "Zm9vYmFyYmF6cXV4", "number_of_replicas": "1"}}}})

    def write(self, req):
        if req.method in ("GET", "HEAD"):
            return self.index_get(req)
        m = re.match(r"^(?:/([^/_][^/]*))?/_bulk$", req.path)
        if not m or req.method not in ("POST", "PUT"):
            raise Reply(405, {"error": "Incorrect HTTP method for uri [%s], allowed: [POST, PUT]" % req.path, "status": 405})
        if not req.headers.get("content-type", "").startswith(("application/x-ndjson", "application/json")):
            raise Reply(406, {"error": "Content-Type header [%s] is not supported" % req.headers.get("content-type"), "status": 406})
        raw = req.raw.decode("utf-8")
        if not raw.endswith("\n"):
            raise Reply(400, {"error": {"type": "illegal_argument_exception",
                                        "reason": "The bulk request must be terminated by a newline [\\n]"}, "status": 400})
        lines = raw.split("\n")[:-1]
        items, errors, i = [], False, 0
        while i < len(lines):
            try:
                action = json.loads(lines[i])
                (verb, meta), = action.items()
            except (ValueError, AttributeError):
                raise Reply(400, {"error": {"type": "x_content_parse_exception", "reason": "[1:2] Malformed action/metadata line [%d]" % (i + 1)}, "status": 400})
            index = meta.get("_index") or m.group(1)
            doc_id = meta.get("_id")
            src = None
            if verb != "delete":
                i += 1
                src = json.loads(lines[i])
            i += 1
            item = {"_index": index, "_id": doc_id, "_version": 1, "_seq_no": SEQ[0], "_primary_term": 1}
            next_id("")
            if ITEM_THROTTLES[0] < OPT.item_throttle_first:
                ITEM_THROTTLES[0] += 1
                item.update(status=429, error={"type": "es_rejected_execution_exception", "reason": "rejected execution of primary operation"})
            elif not index:
                item.update(status=400, error={"type": "action_request_validation_exception", "reason": "Validation Failed: 1: index is missing;"})
            elif doc_id is None or len(str(doc_id).encode()) > 512:
                item.update(status=400, error={"type": "illegal_argument_exception", "reason": "id is too long, must be no longer than 512 bytes"})
            elif verb == "delete":
                k = "%s/%s" % (index, doc_id)
                found = k in STATE["records"]
                store(k, None, "delete")
                VERSIONS.pop(k, None)
                item.update(status=200 if found else 404, result="deleted" if found else "not_found")
            elif verb in ("index", "create") and isinstance(src, dict):
                why = invalid(src)
                k = "%s/%s" % (index, doc_id)
                version, vtype = meta.get("version"), meta.get("version_type", "internal")
                if isinstance(version, str) and re.match(r"^[0-9]{1,19}$", version):
                    version = int(version)  # ES reads a number's text as the number
                held = VERSIONS.get(k) if k in STATE["records"] else None
                if why:
                    item.update(status=400, error={"type": "mapper_parsing_exception", "reason": "failed to parse field [email]: " + why})
                elif vtype not in ("internal", "external", "external_gte") or \
                        (version is not None and vtype == "internal"):
                    item.update(status=400, error={"type": "action_request_validation_exception",
                                                   "reason": "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
                                                   if vtype == "internal" else "Validation Failed: 1: unknown version type [%s];" % vtype})
                elif vtype != "internal" and not (isinstance(version, int) and not isinstance(version, bool)
                                                  and 0 <= version < 2 ** 63):
                    item.update(status=400, error={"type": "action_request_validation_exception",
                                                   "reason": "Validation Failed: 1: illegal version value [%s] for version type [%s];" % (version, vtype.upper())})
                elif vtype != "internal" and held is not None and \
                        (version < held if vtype == "external_gte" else version <= held):
                    STATE["version_conflicts"] += 1
                    item.update(_version=held, status=409, error={
                        "type": "version_conflict_engine_exception",
                        "reason": "[%s]: version conflict, current version [%d] is higher or equal to the one provided [%d]" % (doc_id, held, version),
                        "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA", "shard": "0", "index": index})
                elif verb == "create" and k in STATE["records"]:
                    item.update(status=409, error={"type": "version_conflict_engine_exception", "reason": "[%s]: version conflict, document already exists" % doc_id})
                else:
                    new = k not in STATE["records"]
                    store(k, src)
                    VERSIONS[k] = version if vtype != "internal" else (held or 0) + 1
                    item.update(_version=VERSIONS[k], status=201 if new else 200, result="created" if new else "updated")
            else:
                item.update(status=400, error={"type": "illegal_argument_exception", "reason": "unsupported action [%s]" % verb})
            if item["status"] >= 300 and not (verb == "delete" and item["status"] == 404):
                errors = True
            items.append({verb: item})
        return Reply(200, {"took": 3, "errors": errors, "items": items})


VENDORS = {
    "meta": Meta, "tiktok": TikTok, "linkedin": LinkedIn, "slack-webhook": SlackWebhook, "slack-api": SlackApi,
    "teams": Teams, "teams-workflow": TeamsWorkflow, "pagerduty": PagerDuty, "notion": Notion, "asana": Asana,
    "airtable": Airtable, "sheets": Sheets, "firestore": Firestore, "elasticsearch": Elasticsearch,
}


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def google_token(handler, raw, url):
    """RFC 7523: a JWT bearer assertion signed RS256 by the service account."""
    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}

    def refuse(why):
        return handler.reply(400, {"error": "invalid_grant", "error_description": why})
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or "assertion" not in form:
        return refuse("grant_type must be urn:ietf:params:oauth:grant-type:jwt-bearer with an assertion")
    parts = form["assertion"].split(".")
    if len(parts) != 3:
        return refuse("the assertion is not a JWT")
    try:
        header, claims, sig = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1])), b64url_decode(parts[2])
    except ValueError:
        return refuse("the assertion does not decode")
    now = time.time()
    if header.get("alg") != "RS256":
        return refuse("alg must be RS256")
    if OPT.google_iss and claims.get("iss") != OPT.google_iss:
        return refuse("Invalid issuer: %s" % claims.get("iss"))
    if claims.get("aud") != url:
        return refuse("Invalid audience: %s" % claims.get("aud"))
    if not claims.get("scope"):
        return refuse("Invalid scope: no scope")
    if not (claims.get("iat", 0) <= now + 60 and claims.get("exp", 0) > now and claims["exp"] - claims["iat"] <= 3600):
        return refuse("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe")
    with tempfile.NamedTemporaryFile() as data, tempfile.NamedTemporaryFile() as sigf:
        data.write(("%s.%s" % (parts[0], parts[1])).encode())
        data.flush()
        sigf.write(sig)
        sigf.flush()
        ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", OPT.google_key, "-signature", sigf.name, data.name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if not ok:
        return refuse("Invalid JWT Signature.")
    with LOCK:
        STATE["tokens_issued"] += 1
        tok = "ya29.fake-%d" % STATE["tokens_issued"]
        TOKENS[tok] = OPT.token_uses if OPT.token_uses else 10 ** 9
        STATE["last_scope"] = claims.get("scope")
    return handler.reply(200, {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, doc, headers=None, ctype="application/json"):
        data = b"" if doc is None else (doc if isinstance(doc, bytes) else json.dumps(doc).encode())
        self.send_response(status)
        if doc is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if urlsplit(self.path).path == "/_state":
            with LOCK:
                data = json.dumps(STATE, sort_keys=True, separators=(",", ":")).encode()
            self.reply(200, data)
        elif getattr(VENDORS[OPT.vendor], "reads", False):   # a vendor with reads (lookups)
            self.do_POST()
        else:
            self.reply(404, {"message": "not found"})

    def do_POST(self):
        now = time.time()   # the request's arrival: before its body is read
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        if u.path == "/token" and OPT.google_key:
            return google_token(self, raw, "http://127.0.0.1:%d/token" % self.server.server_address[1])
        try:
            self.handle_write(now, u, raw)
        except Reply as r:
            self.reply(r.status, r.body, r.headers, r.ctype)
        finally:
            with LOCK:
                write_state_file()

    do_PUT = do_POST
    do_PATCH = do_POST
    do_DELETE = do_POST

    def handle_write(self, now, u, raw):
        vendor = VENDORS[OPT.vendor]()
        headers = {}
        for k, v in self.headers.items():   # a field sent twice is one, its values joined (RFC 9110 5.3)
            headers[k.lower()] = headers[k.lower()] + ", " + v if k.lower() in headers else v
        req = Request(self.command, u.path, parse_qs(u.query, keep_blank_values=True), headers, raw)
        req.raw_query = u.query
        if OPT.log:
            with LOCK, open(OPT.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "headers": headers,
                                    "body": raw.decode("utf-8", "replace"), "t": now}) + "\n")
        with LOCK:
            STATE["requests"] += 1
            nreq = STATE["requests"]
            ARRIVALS.append(now)
            while ARRIVALS and ARRIVALS[0] <= now - OPT.window:
                ARRIVALS.popleft()
            STATE["max_in_window"] = max(STATE["max_in_window"], len(ARRIVALS))
        try:
            vendor.auth(req)
        except Reply:
            with LOCK:
                STATE["unauthorized"] += 1
            raise
        throttle = None
        with LOCK:
            if OPT.rate:
                limit, per = OPT.rate
                while ADMITTED and ADMITTED[0] <= now - per + OPT.rate_grace:
                    ADMITTED.popleft()
                if now < BLOCKED["until"] and now > BLOCKED["announced"] + 0.25:
                    STATE["violations"] += 1
                if len(ADMITTED) >= limit:
                    throttle = max(1, math.ceil(ADMITTED[0] + per - now))
                else:
                    ADMITTED.append(now)
            if throttle is None and nreq <= OPT.throttle_first:
                throttle = 1
            if throttle is not None:
                STATE["throttled"] += 1
                r = vendor.throttle(throttle)
                if "Retry-After" in r.headers:   # a wait the client was told: keep it
                    BLOCKED["until"] = max(BLOCKED["until"], now + throttle)
                    BLOCKED["announced"] = now
        if throttle is not None:
            raise r
        if OPT.quota is not None and hasattr(vendor, "quota"):
            with LOCK:
                over = STATE["accepted_requests"] >= OPT.quota
                if over:
                    STATE["quota_refusals"] += 1
            if over:
                raise vendor.quota()
        if nreq <= OPT.fail_first:
            with LOCK:
                STATE["errors"] += 1
            raise Reply(503, {"message": "service unavailable, try again"})
        with LOCK:
            try:
                r = vendor.write(req)
            except (AttributeError, TypeError, KeyError, ValueError, IndexError) as e:
                r = Reply(400, {"message": "malformed request: %s: %s" % (type(e).__name__, e)})
            STATE["accepted_requests"] += 1
        raise r


def parse_rate(s):
    n, w = s.split("/")
    return int(n), float(w)


def main():
    global OPT
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--vendor", required=True, choices=sorted(VENDORS))
    ap.add_argument("--token")
    ap.add_argument("--aws", help="elasticsearch: KEYID:SECRET:REGION:SERVICE, requests must be SigV4-signed")
    ap.add_argument("--google-key")
    ap.add_argument("--google-iss")
    ap.add_argument("--token-uses", type=int, default=0)
    ap.add_argument("--rate", type=parse_rate)
    ap.add_argument("--window", type=float)
    ap.add_argument("--rate-grace", type=float, default=0.05)
    ap.add_argument("--throttle-first", type=int, default=0)
    ap.add_argument("--item-throttle-first", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--quota", type=int)
    ap.add_argument("--key-property", default="rx_key")
    ap.add_argument("--meta-samples", type=int, default=10)
    ap.add_argument("--meta-regain", type=int, default=0)
    ap.add_argument("--meta-app-secret")
    ap.add_argument("--meta-unknown-audience", help="meta: an audience id GET does not know (code 100)")
    ap.add_argument("--tiktok-other-advertiser", help="tiktok: an advertiser the token may not read (40001)")
    ap.add_argument("--linkedin-forbidden-segment", help="linkedin: a segment GET refuses (403 ACCESS_DENIED)")
    ap.add_argument("--log")
    ap.add_argument("--sink", action="store_true")
    OPT = ap.parse_args()
    if OPT.window is None:
        OPT.window = OPT.rate[1] if OPT.rate else 1.0
    for k in getattr(VENDORS[OPT.vendor], "counters", ()):
        STATE.setdefault(k, 0)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(sig, frame):
        with LOCK:
            write_state_file()
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = OPT.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, OPT.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
