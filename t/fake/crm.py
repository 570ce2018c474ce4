#!/usr/bin/env python3
"""crm.py - fakes of the CRMs that address a record by their own id:
Salesforce, Pipedrive, Attio and Dynamics 365 / Dataverse (stdlib only).

Each --vendor copies its API as ../shared/reference/destinations.md and
destinations-2.md describe it (the section is named beside each vendor):
its requests, its per-record results, its partial failures in its own
shape, its rate-limit and quota signals, its auth.  Start it with
fake_start NAME (FAKE_SCRIPT=t/fake/crm.py, t/lib-fake.sh); its state
document has fake-dest.py's shape, so fake_state, fake_records and
fake_count work on it:

  GET /_state  {"records": {KEY: {"op","row","id"}}, "deleted": [KEY..],
                "requests", "accepted", "throttled", "quota_refusals",
                "unauthorized", "violations", "violations_list", "lookups",
                "tokens_issued", "max_in_window", "first_at", "last_at"}
  POST /_seed  {"key", "row"}: a record made outside rx -> {"id"}

A record's KEY is the value it is matched on (Salesforce: its external
id; Pipedrive: its e-mail; Attio: its matching attribute's value;
Dataverse: its alternate key), its "id" the vendor's own.  A row is
invalid, refused the vendor's way for that record only, when it has
"_reject": true or an e-mail without "@".  A request that names no record
(a null or empty id in a path or a list) is a violation: rx must never
send one.

Vendors (--vendor)
  salesforce  REST API sObject Collections (destinations.md 2):
              PATCH /services/data/vNN.N/composite/sobjects/TYPE/EXTFIELD
              {"allOrNone":false,"records":[{"attributes":{"type"},..}]} (200
              at most; an Id in a record is refused) -> 200
              [{"id","success","errors","created"}] in order;
              PATCH /composite/sobjects (update by "id");
              DELETE /composite/sobjects?ids=a,b&allOrNone=false -> 200
              [{"id","success","errors"}] (ENTITY_IS_DELETED for an unknown id);
              GET /query?q=SELECT Id, F FROM T WHERE F IN ('a', 'b');
              GET /sobjects/TYPE (the test request).  Every reply carries
              Sforce-Limit-Info: api-usage=N/M (M: --quota, default 100000); past
              --quota, 403 [{"errorCode":"REQUEST_LIMIT_EXCEEDED"}]; a bad token
              401 [{"errorCode":"INVALID_SESSION_ID"}]; POST
              /services/oauth2/token (grant refresh_token, --refresh-token)
              issues tokens.  --lock-first K: the first K records written fail
              with UNABLE_TO_LOCK_ROW (retryable).
              Bulk API 2.0 ingest jobs under /jobs/ingest (class Bulk below):
              nothing applied until the job is closed (UploadComplete) and
              read; results as CSV in shuffled order.
  pipedrive   Persons API v2 (destinations-2.md 19), one record a request:
              POST /api/v2/persons, PATCH and DELETE /api/v2/persons/ID,
              GET /api/v2/persons/search?term=E&fields=email&exact_match=true;
              {"success":true,"data":..}; 400/404 {"success":false,"error"};
              429 with x-ratelimit-* headers; api token in x-api-token.
  attio       Records API v2 (destinations-2.md 32): PUT
              /v2/objects/OBJ/records?matching_attribute=A {"data":{"values"}}
              -> 200 {"data":{"id":{"record_id"},..}}; POST
              /v2/objects/OBJ/records/query {"filter":{A: value}}; DELETE
              /v2/objects/OBJ/records/ID; 400 {"status_code","type","code",
              "message"}; 429 rate_limit_exceeded with Retry-After as an HTTP
              date; Bearer token.
  dataverse   Dataverse Web API v9.2 (destinations-2.md 26): PATCH
              /api/data/v9.2/SET(KEY='value') (upsert: 204 with
              OData-EntityId), DELETE by (KEY='value') or by (GUID);
              {"error":{"code","message"}}; 429 with Retry-After; Bearer
              token; GET /api/data/v9.2/WhoAmI (the test request).  A key
              value with one of / # < > * % & : \\ ? + (which Microsoft says
              GET and PATCH by the key do not take) is a violation, and
              answered as Dataverse was seen to: a PATCH 400 "Error in query
              syntax", a DELETE 404 "does not exist" (the record untouched).

Switches
  --token T          the credential the vendor checks
  --refresh-token R  salesforce: the refresh token its token endpoint takes
  --token-uses N     an issued token stops working after N requests
  --rate N/SECONDS   admit at most N requests in any sliding window; over it,
                     the vendor's throttle signal (a request that arrives up
                     to --rate-grace seconds (0.05) early is not counted)
  --throttle-first K the first K requests get the throttle signal
  --quota N          salesforce: the API request allocation (403 past it)
  --lock-first K     salesforce: the first K records written are locked
  --fail-first K     the first K requests get a 503
  --bulk-fail K      salesforce: the first K ingest jobs end Failed
  --bulk-drop K      salesforce: the first K jobs' successfulResults miss a row
  --log FILE         append each request {"method","path","content_type","body"}
  --sink             keep nothing (a loopback sink for make bench)
"""
import argparse
import csv
import email.utils
import io
import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LOCK = threading.Lock()
STATE = {"records": {}, "deleted": [], "requests": 0, "accepted": 0, "throttled": 0, "quota_refusals": 0,
         "unauthorized": 0, "violations": 0, "violations_list": [], "lookups": 0, "tokens_issued": 0,
         "max_in_window": 0, "first_at": None, "last_at": None, "errors": 0}
ADMITTED = deque()
TOKENS = {}
SEQ = [0]
LOCKS = [0]
OPT = None


class Reply(Exception):
    def __init__(self, status, body=None, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def violation(why):
    STATE["violations"] += 1
    STATE["violations_list"].append(why)


def invalid(row):
    if not isinstance(row, dict):
        return "the record is not an object"
    if row.get("_reject") is True:
        return "rejected by the destination's validation"
    for k in ("email", "Email"):
        e = row.get(k)
        if isinstance(e, str) and e != "" and "@" not in e:
            return "'%s' is not a valid email address" % e
    return None


def by_id(i):
    for k, r in STATE["records"].items():
        if r["id"] == i:
            return k
    return None


def put(key, row, rid=None):
    """Store (merge) a record; (id, created)."""
    if OPT.sink:
        STATE["accepted"] += 1
        return rid or next_id(), True
    old = STATE["records"].get(key)
    if old is not None:
        merged = dict(old["row"])
        merged.update(row)
        old["row"] = merged
        STATE["accepted"] += 1
        return old["id"], False
    rid = rid or next_id()
    STATE["records"][key] = {"op": "upsert", "row": dict(row), "id": rid}
    STATE["accepted"] += 1
    return rid, True


def drop(key):
    STATE["records"].pop(key, None)
    STATE["deleted"].append(key)
    STATE["accepted"] += 1


def next_id():
    SEQ[0] += 1
    if OPT.vendor == "salesforce":
        return "003%015d" % SEQ[0]
    if OPT.vendor == "pipedrive":
        return SEQ[0]
    return str(uuid.UUID(int=SEQ[0]))


def bearer(req):
    a = req.headers.get("authorization", "")
    return a[7:] if a.startswith("Bearer ") else None


def token_ok(tok):
    if tok in TOKENS:
        if TOKENS[tok] <= 0:
            return False
        TOKENS[tok] -= 1
        return True
    return OPT.token is None or tok == OPT.token


class Req:
    def __init__(self, method, target, headers, raw):
        u = urlsplit(target)
        self.method, self.target, self.path = method, target, unquote(u.path)
        self.query = parse_qs(u.query, keep_blank_values=True)
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            self.json = None

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None


# Salesforce -------------------------------------------------------------------

def sf_error(status, code, message, fields=None):
    e = {"message": message, "errorCode": code}
    if fields is not None:
        e["fields"] = fields
    return Reply(status, [e])


def sf_record_error(code, message, fields=None):
    return {"statusCode": code, "message": message, "fields": fields or []}


def sf_locked():
    if LOCKS[0] < OPT.lock_first:
        LOCKS[0] += 1
        return sf_record_error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
    return None


SOQL = re.compile(r"^SELECT Id, (\w+) FROM (\w+) WHERE (\w+) IN \((.*)\)$", re.S)


def soql_strings(s):
    """The string literals of an IN list: 'a', 'b\\'c'."""
    out, i = [], 0
    while i < len(s):
        if s[i] in " ,":
            i += 1
            continue
        if s[i] != "'":
            raise ValueError("not a string literal at %d" % i)
        i += 1
        v = []
        while s[i] != "'":
            if s[i] == "\\":
                i += 1
            v.append(s[i])
            i += 1
        out.append("".join(v))
        i += 1
    return out


class Salesforce:
    def limit_headers(self):
        return {"Sforce-Limit-Info": "api-usage=%d/%d" % (STATE["requests"], OPT.quota or 100000)}

    def free(self, req):
        return req.path == "/services/oauth2/token"

    def token(self, req):
        form = parse_qs(req.raw.decode(), keep_blank_values=True)
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [OPT.refresh_token]:
            raise Reply(400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
        STATE["tokens_issued"] += 1
        tok = "00Dfake!%d" % STATE["tokens_issued"]
        TOKENS[tok] = OPT.token_uses or 10 ** 9
        raise Reply(200, {"access_token": tok, "instance_url": "http://" + req.headers.get("host", ""),
                          "token_type": "Bearer", "issued_at": str(int(time.time() * 1000))})

    def auth(self, req):
        if not token_ok(bearer(req)):
            raise sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def throttle(self, wait):
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def quota(self):
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def handle(self, req):
        m = re.match(r"^/services/data/v(\d+\.\d)(/.*)$", req.path)
        if not m:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if float(m.group(1)) < 46.0:
            raise sf_error(404, "NOT_FOUND", "upsert by external id needs API v46.0 or later")
        rest = m.group(2)
        if req.method == "GET" and rest == "/query":
            return self.query(req.q("q") or "")
        if req.method == "GET" and re.match(r"^/sobjects/\w+$", rest):
            return Reply(200, {"objectDescribe": {"name": rest.split("/")[2], "createable": True}})
        if rest == "/jobs/ingest" or rest.startswith("/jobs/ingest/"):
            return BULK.handle(req, rest, m.group(1))
        m2 = re.match(r"^/composite/sobjects/(\w+)/(\w+)$", rest)
        if req.method == "PATCH" and m2:
            return self.upsert(m2.group(1), m2.group(2), req.json)
        if rest == "/composite/sobjects" and req.method == "PATCH":
            return self.update(req.json)
        if rest == "/composite/sobjects" and req.method == "DELETE":
            return self.delete(req)
        raise sf_error(404, "NOT_FOUND", "no such resource: %s %s" % (req.method, rest))

    def records_of(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise sf_error(400, "JSON_PARSER_ERROR", "records must be an array")
        if body.get("allOrNone") is not False:
            violation("allOrNone is not false")
        recs = body["records"]
        if len(recs) > 200:
            raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
        return recs

    def fields(self, r):
        return {k: v for k, v in r.items() if k != "attributes"}

    def upsert(self, typ, ext, body):
        out = []
        for r in self.records_of(body):
            if (r.get("attributes") or {}).get("type") != typ:
                raise sf_error(400, "INVALID_TYPE", "all records must be of type %s" % typ)
            if "Id" in r or "id" in r:
                violation("an upsert by external id carrying an Id")
                out.append({"id": None, "success": False, "created": False, "errors": [
                    sf_record_error("INVALID_FIELD", "Id is not allowed in an upsert by external id", ["Id"])]})
                continue
            x = r.get(ext)
            if x in (None, ""):
                violation("an upsert without its external id")
                out.append({"id": None, "success": False, "created": False, "errors": [
                    sf_record_error("MISSING_ARGUMENT", "%s not specified" % ext, [ext])]})
                continue
            why = invalid(r)
            lock = sf_locked()
            if lock is not None:
                out.append({"id": None, "success": False, "created": False, "errors": [lock]})
                continue
            if why:
                out.append({"id": None, "success": False, "created": False, "errors": [
                    sf_record_error("INVALID_EMAIL_ADDRESS" if "email" in why else "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                    why, ["Email"] if "email" in why else [])]})
                continue
            rid, created = put(str(x), self.fields(r))
            out.append({"id": rid, "success": True, "errors": [], "created": created})
        return Reply(200, out)

    def update(self, body):
        out = []
        for r in self.records_of(body):
            rid = r.get("id") or r.get("Id")
            if not rid:
                violation("an update without an id")
                out.append({"id": None, "success": False, "errors": [sf_record_error("MISSING_ARGUMENT", "id not specified")]})
                continue
            key = by_id(rid)
            if key is None:
                out.append({"id": rid, "success": False, "errors": [sf_record_error("ENTITY_IS_DELETED", "entity is deleted")]})
                continue
            why = invalid(r)
            if why:
                out.append({"id": rid, "success": False, "errors": [sf_record_error("INVALID_EMAIL_ADDRESS", why, ["Email"])]})
                continue
            put(key, {k: v for k, v in self.fields(r).items() if k not in ("id", "Id")})
            out.append({"id": rid, "success": True, "errors": []})
        return Reply(200, out)

    def delete(self, req):
        if req.q("allOrNone") != "false":
            violation("a delete without allOrNone=false")
        ids = (req.q("ids") or "").split(",")
        if len(ids) > 200:
            raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
        out = []
        for i in ids:
            if i in ("", "null"):
                violation("a delete naming no id")
                out.append({"id": None, "success": False, "errors": [sf_record_error("MALFORMED_ID", "bad id " + i)]})
                continue
            key = by_id(i)
            if key is None:
                out.append({"id": i, "success": False, "errors": [sf_record_error("ENTITY_IS_DELETED", "entity is deleted")]})
                continue
            drop(key)
            out.append({"id": i, "success": True, "errors": []})
        return Reply(200, out)

    def query(self, q):
        STATE["lookups"] += 1
        m = SOQL.match(q)
        if not m or m.group(1) != m.group(3):
            raise sf_error(400, "MALFORMED_QUERY", "unexpected token: %s" % q[:60])
        try:
            values = soql_strings(m.group(4))
        except (ValueError, IndexError) as e:
            raise sf_error(400, "MALFORMED_QUERY", "bad IN list: %s" % e)
        if "null" in values or "" in values:
            violation("a lookup of a null or empty external id")
        field = m.group(1)
        want = {v.lower() for v in values}
        recs = [{"attributes": {"type": m.group(2), "url": "/services/data/v62.0/sobjects/%s/%s" % (m.group(2), r["id"])},
                 "Id": r["id"], field: k} for k, r in STATE["records"].items() if k.lower() in want]
        return Reply(200, {"totalSize": len(recs), "done": True, "records": recs})


# Salesforce Bulk API 2.0 ingest jobs (destinations.md 2, "Bulk API 2.0") -------

class Bulk:
    """Ingest jobs: POST /jobs/ingest {object, contentType: CSV, operation,
    externalIdFieldName, lineEnding: LF} -> 200 the job (state Open); PUT
    /jobs/ingest/ID/batches (text/csv, LF) -> 201, nothing applied; PATCH
    /jobs/ingest/ID {"state": "UploadComplete"} -> 200; GET /jobs/ingest/ID:
    each read moves the job on (UploadComplete -> InProgress -> JobComplete,
    applied then, numberRecordsProcessed/Failed); GET .../successfulResults/
    (sf__Id, sf__Created + the columns) and .../failedResults/ (sf__Id,
    sf__Error + the columns), CSV, rows shuffled.  A field "#N/A" sets null,
    an empty one leaves the field as it is; a new record without LastName
    fails REQUIRED_FIELD_MISSING.  --bulk-fail K: the first K jobs end
    Failed (errorMessage); --bulk-drop K: the first K jobs' successfulResults
    miss a row."""

    def __init__(self):
        self.jobs, self.seq = {}, 0

    def info(self, j):
        return {"id": j["id"], "operation": j["operation"], "object": j["object"], "state": j["state"],
                "externalIdFieldName": j.get("externalIdFieldName"), "contentType": "CSV", "lineEnding": "LF",
                "apiVersion": float(j["version"]), "jobType": "V2Ingest",
                "contentUrl": "services/data/v%s/jobs/ingest/%s/batches" % (j["version"], j["id"]),
                "numberRecordsProcessed": j["processed"], "numberRecordsFailed": j["failed"],
                **({"errorMessage": j["error"]} if j.get("error") else {})}

    def handle(self, req, rest, version):
        parts = rest.split("/")[3:]  # after /jobs/ingest
        if not parts:
            if req.method == "GET":
                return Reply(200, {"done": True, "records": [self.info(j) for j in self.jobs.values()]})
            if req.method == "POST":
                return self.create(req, version)
        j = self.jobs.get(parts[0])
        if j is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        tail = "/".join(parts[1:])
        if req.method == "PUT" and tail == "batches":
            return self.upload(req, j)
        if req.method == "PATCH" and tail == "":
            return self.close(req, j)
        if req.method == "GET" and tail == "":
            STATE["polls"] = STATE.get("polls", 0) + 1
            self.advance(j)
            return Reply(200, self.info(j))
        if req.method == "GET" and tail in ("successfulResults/", "failedResults/", "successfulResults", "failedResults"):
            if j["state"] != "JobComplete":
                raise sf_error(400, "INVALIDJOBSTATE", "job is not complete: %s" % j["state"])
            return self.results(j, tail.startswith("successful"))
        raise sf_error(404, "NOT_FOUND", "no such resource: %s %s" % (req.method, rest))

    def create(self, req, version):
        b = req.json
        if not isinstance(b, dict) or b.get("contentType") != "CSV" or not b.get("object"):
            raise sf_error(400, "INVALIDJOB", "a job needs object and contentType CSV")
        op = b.get("operation")
        if op not in ("insert", "upsert", "update", "delete"):
            raise sf_error(400, "INVALIDJOB", "unknown operation: %s" % op)
        if op == "upsert" and not b.get("externalIdFieldName"):
            raise sf_error(400, "INVALIDJOB", "an upsert needs externalIdFieldName")
        if b.get("lineEnding", "LF") != "LF":
            violation("a job whose lineEnding is not LF")
        self.seq += 1
        jid = "750%015d" % self.seq
        self.jobs[jid] = {"id": jid, "operation": op, "object": b["object"], "version": version,
                          "externalIdFieldName": b.get("externalIdFieldName"), "state": "Open", "csv": None,
                          "processed": 0, "failed": 0, "ok": [], "bad": [], "header": None, "n": self.seq}
        STATE["jobs"] = self.seq
        return Reply(200, self.info(self.jobs[jid]))

    def upload(self, req, j):
        if not req.headers.get("content-type", "").startswith("text/csv"):
            raise sf_error(400, "INVALIDCONTENT", "the batch's Content-Type is not text/csv")
        if j["state"] != "Open":
            raise sf_error(409, "INVALIDJOBSTATE", "the job is %s: data can be added to an Open job only" % j["state"])
        if b"\r\n" in req.raw:
            violation("a CSV with CRLF in an LF job")
        j["csv"] = (j["csv"] or b"") + req.raw
        return Reply(201, None)

    def close(self, req, j):
        want = (req.json or {}).get("state")
        if want == "Aborted" and j["state"] in ("Open", "UploadComplete", "InProgress"):
            j["state"] = "Aborted"
        elif want == "UploadComplete" and j["state"] == "Open":
            j["state"] = "UploadComplete"
        else:
            raise sf_error(400, "INVALIDJOBSTATE", "cannot move a %s job to %s" % (j["state"], want))
        return Reply(200, self.info(j))

    def advance(self, j):
        if j["state"] == "UploadComplete":
            j["state"] = "InProgress"
        elif j["state"] == "InProgress":
            if j["n"] <= OPT.bulk_fail:
                j["state"], j["error"] = "Failed", "InvalidBatch : Failed to process query: the job was refused"
                return
            self.apply(j)
            j["state"] = "JobComplete"

    def apply(self, j):
        rows = list(csv.reader(io.StringIO((j["csv"] or b"").decode("utf-8"), newline=""), strict=True))
        if not rows:
            j["state"], j["error"] = "Failed", "InvalidBatch : no data"
            return
        header, data = rows[0], rows[1:]
        j["header"] = header
        for vals in data:
            if len(vals) != len(header):
                j["bad"].append(("", "INVALID_FIELD:the row has %d fields, the header %d:--" % (len(vals), len(header)), vals))
                continue
            rec = dict(zip(header, vals))
            ok, err = self.one(j, rec)
            if err is None:
                j["ok"].append(ok + (vals,))      # (sf__Id, sf__Created, the row)
            else:
                j["bad"].append((ok, err, vals))  # (sf__Id, sf__Error, the row)
        j["processed"], j["failed"] = len(data), len(j["bad"])

    def one(self, j, rec):
        """((sf__Id, created), None) or (sf__Id, sf__Error)."""
        fields = {k: (None if v == "#N/A" else v) for k, v in rec.items() if v != ""}
        op = j["operation"]
        if op in ("update", "delete"):
            rid = rec.get("Id", "")
            if rid == "":
                violation("a %s row without an Id" % op)
                return "", "MISSING_ARGUMENT:Id not specified:--"
            key = by_id(rid)
            if key is None:
                return rid, "ENTITY_IS_DELETED:entity is deleted:--"
            if op == "delete":
                drop(key)
                return (rid, "false"), None
            fields.pop("Id", None)
            why = invalid(fields)
            if why:
                return rid, "INVALID_EMAIL_ADDRESS:%s:Email --" % why
            put(key, fields)
            return (rid, "false"), None
        ext = j["externalIdFieldName"]
        if "Id" in rec:
            violation("an upsert by external id carrying an Id")
        x = rec.get(ext, "")
        if x in ("", "#N/A"):
            violation("an upsert row without its external id")
            return "", "MISSING_ARGUMENT:%s not specified:--" % ext
        old = STATE["records"].get(x)
        if (old is None and fields.get("LastName") in (None, "")) or ("LastName" in fields and fields["LastName"] is None):
            return "", "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
        why = invalid(fields)
        if why:
            return "", "INVALID_EMAIL_ADDRESS:%s:Email --" % why
        rid, created = put(x, fields)
        return (rid, "true" if created else "false"), None

    def results(self, j, successful):
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow((["sf__Id", "sf__Created"] if successful else ["sf__Id", "sf__Error"]) + (j["header"] or []))
        rows = [[r[0], r[1]] + list(r[2]) for r in (j["ok"] if successful else j["bad"])]
        if successful and j["n"] <= OPT.bulk_drop and rows:
            rows = rows[1:]
        random.Random(j["id"] + str(successful)).shuffle(rows)
        for r in rows:
            w.writerow(r)
        return Reply(200, out.getvalue().encode(), {"Content-Type": "text/csv"})


BULK = Bulk()


# Pipedrive --------------------------------------------------------------------

def pd_error(status, message, code=None):
    return Reply(status, {"success": False, "error": message, "code": code or "E_ERROR"})


class Pipedrive:
    def limit_headers(self):
        if not OPT.rate:
            return {}
        limit, per = OPT.rate
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(max(0, limit - len(ADMITTED))),
                "x-ratelimit-reset": str(int(math.ceil(per)))}

    def free(self, req):
        return False

    def auth(self, req):
        tok = req.headers.get("x-api-token") or req.q("api_token")
        if not token_ok(tok):
            raise pd_error(401, "unauthorized access", "E_UNAUTHORIZED")

    def throttle(self, wait):
        return Reply(429, {"success": False, "error": "Request over limit", "code": "E_TOO_MANY_REQUESTS"},
                     {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(max(1, int(math.ceil(wait))))})

    def email_of(self, data):
        em = data.get("emails") if isinstance(data, dict) else None
        if isinstance(em, list) and em and isinstance(em[0], dict):
            return em[0].get("value")
        return None

    def person(self, key, r):
        return dict(r["row"], id=r["id"])

    def handle(self, req):
        if req.path == "/api/v2/persons/search" and req.method == "GET":
            STATE["lookups"] += 1
            term = req.q("term") or ""
            if len(term) < 2:
                raise pd_error(400, "term must be at least 2 characters", "E_VALIDATION")
            if req.q("fields") != "email" or req.q("exact_match") != "true":
                violation("a search not by exact e-mail")
            items = [{"result_score": 1, "item": {"id": r["id"], "name": r["row"].get("name"),
                                                  "emails": [e.get("value") for e in r["row"].get("emails", [])]}}
                     for k, r in STATE["records"].items() if k.lower() == term.lower()]
            return Reply(200, {"success": True, "data": {"items": items}, "additional_data": {"next_cursor": None}})
        if req.path == "/api/v2/persons" and req.method == "GET":
            return Reply(200, {"success": True, "data": [], "additional_data": {"next_cursor": None}})
        if req.path == "/api/v2/persons" and req.method == "POST":
            data = req.json
            why = invalid({"email": self.email_of(data)} if isinstance(data, dict) else None) or \
                (None if isinstance(data, dict) and data.get("name") else "name is required")
            if why:
                raise pd_error(400, why, "E_VALIDATION")
            key = self.email_of(data) or "id:%d" % (SEQ[0] + 1)
            if key in STATE["records"]:
                pass  # Pipedrive allows duplicates; the fake keeps one per e-mail, as rx must
            rid, _ = put(key, data)
            return Reply(201, {"success": True, "data": self.person(key, STATE["records"].get(key) or {"row": data, "id": rid})})
        m = re.match(r"^/api/v2/persons/([^/]*)$", req.path)
        if m:
            sid = m.group(1)
            if not sid.isdigit():
                violation("a person request naming no id (%r)" % sid)
                raise pd_error(400, "Invalid id", "E_VALIDATION")
            key = by_id(int(sid))
            if key is None:
                raise pd_error(404, "Person not found", "E_NOT_FOUND")
            if req.method == "DELETE":
                drop(key)
                return Reply(200, {"success": True, "data": {"id": int(sid)}})
            if req.method == "PATCH":
                data = req.json
                why = invalid({"email": self.email_of(data)}) if isinstance(data, dict) else "not an object"
                if why:
                    raise pd_error(400, why, "E_VALIDATION")
                new = self.email_of(data)
                r = STATE["records"].pop(key)
                r["row"].update(data)
                STATE["records"][new or key] = r
                STATE["accepted"] += 1
                return Reply(200, {"success": True, "data": self.person(new or key, r)})
            if req.method == "GET":
                return Reply(200, {"success": True, "data": self.person(key, STATE["records"][key])})
        raise pd_error(404, "Unknown method", "E_NOT_FOUND")


# Attio ------------------------------------------------------------------------

def attio_error(status, typ, code, message, headers=None):
    return Reply(status, {"status_code": status, "type": typ, "code": code, "message": message}, headers)


def attio_value(v):
    """The plain value of an attribute's value list."""
    if isinstance(v, list):
        if not v:
            return None
        v = v[0]
    if isinstance(v, dict):
        for k in ("email_address", "value", "domain", "full_name", "phone_number", "option", "status"):
            if k in v:
                return v[k]
        return json.dumps(v, sort_keys=True)
    return v


class Attio:
    def limit_headers(self):
        return {}

    def free(self, req):
        return False

    def auth(self, req):
        if not token_ok(bearer(req)):
            raise attio_error(401, "auth_error", "unauthorized", "Invalid or expired access token")

    def throttle(self, wait):
        when = email.utils.formatdate(time.time() + max(1.0, wait), usegmt=True)
        return attio_error(429, "rate_limit_error", "rate_limit_exceeded", "Rate limit exceeded, please try again later",
                           {"Retry-After": when})

    def handle(self, req):
        if req.path == "/v2/self" and req.method == "GET":
            return Reply(200, {"active": True, "workspace_id": "w1"})
        m = re.match(r"^/v2/objects/([^/]+)/records(?:/([^/]*))?$", req.path)
        if not m:
            raise attio_error(404, "invalid_request_error", "not_found", "no such route")
        if req.method == "POST" and m.group(2) == "query":
            STATE["lookups"] += 1
            flt = (req.json or {}).get("filter") if isinstance(req.json, dict) else None
            if not isinstance(flt, dict) or len(flt) != 1:
                raise attio_error(400, "invalid_request_error", "filter_error", "filter must name one attribute")
            (attr, want), = flt.items()
            if want in (None, ""):
                violation("a query for a null or empty value")
            found = [r for k, r in STATE["records"].items()
                     if str(attio_value(r["row"].get(attr))).lower() == str(want).lower()]
            return Reply(200, {"data": [{"id": {"workspace_id": "w1", "object_id": m.group(1), "record_id": r["id"]},
                                         "values": {}} for r in found]})
        if req.method == "PUT" and m.group(2) is None:
            attr = req.q("matching_attribute")
            if not attr:
                raise attio_error(400, "invalid_request_error", "validation_type", "matching_attribute is required")
            data = (req.json or {}).get("data") if isinstance(req.json, dict) else None
            values = data.get("values") if isinstance(data, dict) else None
            if not isinstance(values, dict):
                raise attio_error(400, "invalid_request_error", "validation_type", "Body payload validation error: data.values")
            if attr not in values or attio_value(values[attr]) in (None, ""):
                raise attio_error(400, "invalid_request_error", "value_not_found",
                                  "No value was found for matching_attribute %s" % attr)
            for k, v in values.items():
                if not isinstance(v, list):
                    raise attio_error(400, "invalid_request_error", "validation_type",
                                      'Body payload validation error: values.%s must be an array' % k)
            plain = {k: attio_value(v) for k, v in values.items()}
            why = invalid({"email": plain.get("email_addresses"), "_reject": plain.get("_reject")})
            if why:
                raise attio_error(400, "invalid_request_error", "validation_type", why)
            key = str(attio_value(values[attr]))
            rid, _ = put(key, plain)
            return Reply(200, {"data": {"id": {"workspace_id": "w1", "object_id": m.group(1), "record_id": rid},
                                        "created_at": "2026-12-01T00:00:00.000Z", "values": values}})
        if req.method == "DELETE" and m.group(2) is not None:
            rid = m.group(2)
            if rid in ("", "null"):
                violation("a delete naming no record id")
                raise attio_error(400, "invalid_request_error", "validation_type", "record_id is not a UUID")
            key = by_id(rid)
            if key is None:
                raise attio_error(404, "invalid_request_error", "not_found", "Record with ID \"%s\" not found." % rid)
            drop(key)
            return Reply(200, {})
        raise attio_error(404, "invalid_request_error", "not_found", "no such route")


# Dataverse --------------------------------------------------------------------

def dv_error(status, code, message, headers=None):
    return Reply(status, {"error": {"code": code, "message": message}}, headers)


KEYSEG = re.compile(r"^/api/data/v9\.2/(\w+)\((.*)\)$")
# the characters of a key value that break a request by the key (Microsoft's
# "Define alternate keys using Power Apps", its Important note)
DV_KEY_BAD = re.compile(r"[/#<>*%&:\\?+]")


def odata_key(s):
    """(name, value) of "name='va''lue'", or (None, guid) of a bare GUID."""
    m = re.match(r"^(\w+)='((?:[^']|'')*)'$", s)
    if m:
        return m.group(1), m.group(2).replace("''", "'")
    if re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", s):
        return None, s
    return "", s


class Dataverse:
    def limit_headers(self):
        return {}

    def free(self, req):
        return False

    def auth(self, req):
        if not token_ok(bearer(req)):
            raise Reply(401, None, {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    def throttle(self, wait):
        return dv_error(429, "0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
                        {"Retry-After": str(max(1, int(math.ceil(wait))))})

    def handle(self, req):
        if req.path == "/api/data/v9.2/WhoAmI" and req.method == "GET":
            return Reply(200, {"UserId": "00000000-0000-0000-0000-000000000001"})
        m = KEYSEG.match(req.path)
        if not m:
            raise dv_error(404, "0x80060888", "Resource not found for the segment '%s'." % req.path)
        name, value = odata_key(m.group(2))
        if name == "" or value in ("", "null"):
            violation("a request naming no key (%r)" % m.group(2))
            raise dv_error(400, "0x80060888", "Bad Request - Error in query syntax.")
        if name and DV_KEY_BAD.search(value):
            # Microsoft: a key value with one of / # < > * % & : \ ? + does
            # not work in GET or PATCH, encoded or not; as replied: a query
            # syntax error (a PATCH), "does not exist" (a key lookup)
            violation("a key value Dataverse cannot take in a URL (%r)" % value)
            if req.method == "PATCH":
                raise dv_error(400, "0x80060888", "Bad Request - Error in query syntax.")
            raise dv_error(404, "0x80040217", "A record with the specified key values does not exist in %s entity"
                           % m.group(1).rstrip("s"))
        if req.headers.get("odata-version") != "4.0":
            violation("no OData-Version: 4.0 header")
        if req.method == "PATCH":
            if name is None:
                violation("an upsert by GUID (rx upserts by alternate key)")
            body = req.json
            if not isinstance(body, dict):
                raise dv_error(400, "0x80048d19", "Error identified in Payload provided by the user.")
            why = invalid({"email": body.get("emailaddress1"), "_reject": body.get("_reject")})
            if why:
                raise dv_error(400, "0x80040216", why)
            rid, created = put(value, body)
            eid = "%s/api/data/v9.2/%s(%s)" % ("http://" + req.headers.get("host", ""), m.group(1), rid)
            return Reply(204, None, {"OData-EntityId": eid})
        if req.method == "DELETE":
            key = value if name is not None else by_id(value)
            if key is None or key not in STATE["records"]:
                raise dv_error(404, "0x80040217", "%s With Id = %s Does Not Exist" % (m.group(1), value))
            drop(key)
            return Reply(204, None)
        raise dv_error(405, "0x8006088a", "The HTTP verb %s is not allowed here." % req.method)


VENDORS = {"salesforce": Salesforce, "pipedrive": Pipedrive, "attio": Attio, "dataverse": Dataverse}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, r):
        raw = isinstance(r.body, bytes)  # a CSV, its Content-Type in r.headers
        data = b"" if r.body is None else r.body if raw else json.dumps(r.body).encode()
        self.send_response(r.status)
        if r.body is not None and not raw:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in r.headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def serve(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.path == "/_state":
            with LOCK:
                return self.send(Reply(200, STATE))
        req = Req(self.command, self.path, self.headers, raw)
        if self.path == "/_seed" and self.command == "POST":
            with LOCK:
                rid, _ = put(req.json["key"], req.json["row"])
            return self.send(Reply(200, {"id": rid}))
        with LOCK:
            if OPT.log:
                with open(OPT.log, "a") as f:
                    f.write(json.dumps({"method": self.command, "path": self.path,
                                        "content_type": self.headers.get("Content-Type"),
                                        "body": raw.decode("utf-8", "replace"), "t": time.time()}) + "\n")
            try:
                r = self.decide(req)
            except Reply as e:
                r = e
            for k, v in VENDOR.limit_headers().items():
                r.headers.setdefault(k, v)
        self.send(r)

    def decide(self, req):
        if VENDOR.free(req):
            return VENDOR.token(req)
        STATE["requests"] += 1
        now = time.time()
        try:
            VENDOR.auth(req)
        except Reply:
            STATE["unauthorized"] += 1
            raise
        if STATE["requests"] <= OPT.throttle_first:
            STATE["throttled"] += 1
            return VENDOR.throttle(1.0)
        if OPT.rate:
            limit, per = OPT.rate
            while ADMITTED and ADMITTED[0] <= now - per + OPT.rate_grace:
                ADMITTED.popleft()
            if len(ADMITTED) >= limit:
                STATE["throttled"] += 1
                return VENDOR.throttle(ADMITTED[0] + per - now)
            ADMITTED.append(now)
            STATE["max_in_window"] = max(STATE["max_in_window"], len(ADMITTED))
        if OPT.quota is not None and STATE["requests"] > OPT.quota:
            STATE["quota_refusals"] += 1
            return VENDOR.quota()
        if STATE["requests"] <= OPT.throttle_first + OPT.fail_first:
            STATE["errors"] += 1
            return Reply(503, [{"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE"}])
        if STATE["first_at"] is None:
            STATE["first_at"] = now
        STATE["last_at"] = now
        return VENDOR.handle(req)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = serve


def main():
    global OPT, VENDOR
    ap = argparse.ArgumentParser()
    ap.add_argument("--vendor", required=True, choices=sorted(VENDORS))
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--token")
    ap.add_argument("--refresh-token")
    ap.add_argument("--token-uses", type=int, default=0)
    ap.add_argument("--rate")
    ap.add_argument("--rate-grace", type=float, default=0.05)
    ap.add_argument("--throttle-first", type=int, default=0)
    ap.add_argument("--quota", type=int)
    ap.add_argument("--lock-first", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--bulk-fail", type=int, default=0)
    ap.add_argument("--bulk-drop", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--sink", action="store_true")
    OPT = ap.parse_args()
    if OPT.rate:
        n, s = OPT.rate.split("/")
        OPT.rate = (int(n), float(s))
    VENDOR = VENDORS[OPT.vendor]()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(*_):
        if OPT.state_file:
            with LOCK, open(OPT.state_file, "w") as f:
                json.dump(STATE, f)
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(OPT.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(OPT.port_file + ".tmp", OPT.port_file)
    srv.serve_forever()


VENDOR = None
if __name__ == "__main__":
    main()
