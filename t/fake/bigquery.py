#!/usr/bin/env python3
"""bigquery.py - a fake BigQuery REST API v2 and Google token endpoint for
rx-extract's tests (stdlib only).

Follows ../shared/reference/warehouses.md section 2 (the jobs.query and
getQueryResults references, python-bigquery's client and
google-auth-library-python's service-account grant).  Listens on
127.0.0.1, port 0, and writes the port to --port-file; start and stop it
with t/lib-fake.sh (FAKE_SCRIPT=... fake_start NAME -- SWITCHES).

Endpoints
  POST /token                                    the OAuth token endpoint
  POST /bigquery/v2/projects/{p}/queries         jobs.query
  GET  /bigquery/v2/projects/{p}/queries/{job}   getQueryResults
  POST /bigquery/v2/projects/{p}/jobs/{job}/cancel   jobs.cancel
  GET  /_state                                   counters (JSON)

/token takes grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer with
an assertion: RS256 (verified with `openssl dgst` against --public-key),
header kid = --key-id, iss = --client-email, a scope naming bigquery, aud
https://oauth2.googleapis.com/token, exp - iat <= 3600; or
grant_type=refresh_token with client_id rx-client, client_secret
rx-secret and refresh_token rx-refresh.  It answers access_token,
expires_in and token_type.  An API request needs a token it issued (not
used more than --token-uses times, when given) or --static-token.

jobs.query must send useLegacySql false (else a violation and 400) and a
requestId.  Timestamps are int64 microseconds when
formatOptions.useInt64Timestamp is true, else E-notation float seconds
(and always floats with --float-timestamps, a trap a client must survive).

Queries (the SQL, case and white space aside):
  select * from types     one row of each type, nested RECORD and REPEATED
  select * from big       --rows rows of 12 columns
  select * from empty     no rows (rows absent)
  select * from dup       two columns named id
  select * from slow      jobComplete false for --slow-polls polls
  select * from forever   jobComplete false until cancelled
  anything else           400 invalidQuery
  SELECT * FROM `big` (a --table), and the LIMIT 0 and shard wrappers of
  rx-extract (see SHARD_RE), applied to the inner query

Switches
  --public-key PEM --client-email E --key-id K   the service account
  --static-token T        an access token accepted as it is
  --token-uses N          an issued token is refused (401) after N uses
  --rows N (25000)  --page-rows K (10000)  --slow-polls N (3)
  --rate-limit-first N    the first N API requests: 403 rateLimitExceeded
  --backend-error-first N the next N: 503 backendError
  --quota                 every query: 403 quotaExceeded
  --fail-page P           getQueryResults of page P (1-based): 404 notFound
  --short-total           totalRows one more than the rows served
  --float-timestamps      TIMESTAMP as float seconds whatever was asked
  --log FILE              append {"method","path","headers","body"} a request
"""
import argparse
import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
STATE = {"requests": 0, "queries": 0, "polls": 0, "pages": 0, "cancels": 0, "tokens_issued": 0,
         "unauthorized": 0, "throttled": 0, "backend_errors": 0, "violations": 0, "violation_list": [],
         "last_query": None, "locations": []}
JOBS = {}
CACHE = {}    # (table, page, int timestamps) -> the rows of a page, as bytes
TOKENS = {}   # token -> uses left (None: unlimited)
OPT = None
AUD = "https://oauth2.googleapis.com/token"

# ---- data: (name, type, mode, subfields) ----

TYPES_SCHEMA = [
    ("id", "INTEGER", "NULLABLE", None), ("big", "INT64", "NULLABLE", None),
    ("num", "NUMERIC", "NULLABLE", None), ("bignum", "BIGNUMERIC", "NULLABLE", None),
    ("f", "FLOAT", "NULLABLE", None), ("b", "BOOLEAN", "NULLABLE", None),
    ("s", "STRING", "NULLABLE", None), ("by", "BYTES", "NULLABLE", None),
    ("ts", "TIMESTAMP", "NULLABLE", None), ("d", "DATE", "NULLABLE", None),
    ("dt", "DATETIME", "NULLABLE", None), ("t", "TIME", "NULLABLE", None),
    ("j", "JSON", "NULLABLE", None), ("g", "GEOGRAPHY", "NULLABLE", None),
    ("rec", "RECORD", "NULLABLE", [("x", "INT64", "NULLABLE", None), ("y", "STRING", "NULLABLE", None)]),
    ("arr", "INT64", "REPEATED", None),
    ("recs", "RECORD", "REPEATED", [("k", "STRING", "NULLABLE", None), ("v", "FLOAT", "NULLABLE", None)]),
]
# values as Python: a TIMESTAMP is (microseconds); RECORD a list; REPEATED a list
TYPES_ROWS = [
    ["1", "9007199254740993", "123.456", "578960446186580977117854925043439539266.34992332820282019728792003956564819967",
     "0.1", "true", "Ada \"q\" \u00e9", "aGVsbG8=", 1700000000123456, "2024-02-29", "2024-02-29T12:34:56.789",
     "23:59:59.999999", "{\"a\":[1,2.5,12345678901234567890]}", "POINT(1 2)", ["7", "seven"], ["1", "2", "9007199254740995"],
     [["a", "1.5"], ["b", None]]],
    ["-2", "-9223372036854775808", "-0.5", "1e-38", "NaN", "false", "", "", -1, "0001-01-01", "9999-12-31T23:59:59.999999",
     "00:00:00", "null", None, [None, None], [], []],
    [None, None, None, None, "-Infinity", None, None, None, 0, None, None, None, None, None, None, [], [[None, "Infinity"]]],
]


def schema_json(schema):
    out = []
    for name, typ, mode, sub in schema:
        f = {"name": name, "type": typ, "mode": mode}
        if sub:
            f["fields"] = schema_json(sub)
        out.append(f)
    return out


def cell(field, value, int_ts):
    name, typ, mode, sub = field
    if mode == "REPEATED":
        return {"v": [cell((name, typ, "NULLABLE", sub), x, int_ts) for x in value]}
    if value is None:
        return {"v": None}
    if typ == "RECORD":
        return {"v": {"f": [cell(f, x, int_ts) for f, x in zip(sub, value)]}}
    if typ == "TIMESTAMP":
        if int_ts and not OPT.float_timestamps:
            return {"v": str(value)}
        secs = Decimal(value) / Decimal(1000000)
        return {"v": format_float(secs)}
    return {"v": value}


def format_float(secs):
    """Seconds as BigQuery's float text: E-notation, as Java prints doubles."""
    if secs == 0:
        return "0.0"
    s = "{:.16E}".format(secs)          # 1.7000000001234560E+09
    mant, exp = s.split("E")
    mant = mant.rstrip("0").rstrip(".")
    if "." not in mant:
        mant += ".0"
    return "%sE%d" % (mant, int(exp))


BIG_SCHEMA = [
    ("id", "INT64", "NULLABLE", None), ("name", "STRING", "NULLABLE", None), ("email", "STRING", "NULLABLE", None),
    ("plan", "STRING", "NULLABLE", None), ("ltv", "NUMERIC", "NULLABLE", None), ("score", "FLOAT", "NULLABLE", None),
    ("active", "BOOLEAN", "NULLABLE", None), ("signup", "DATE", "NULLABLE", None), ("seen", "TIMESTAMP", "NULLABLE", None),
    ("updated", "DATETIME", "NULLABLE", None), ("org", "INT64", "NULLABLE", None), ("note", "STRING", "NULLABLE", None),
]
PLANS = ["free", "pro", "team", "enterprise"]


def big_row(i):
    return [str(i), "Customer %d" % i, "c%d@example.com" % i, PLANS[i % 4], "%d.%02d" % (i * 7 % 100000, i % 100),
            "%.4f" % ((i % 1000) / 7.0), "true" if i % 3 else "false", "2024-%02d-%02d" % (i % 12 + 1, i % 28 + 1),
            1700000000000000 + i * 1000001, "2024-01-01T00:00:%02d" % (i % 60),
            str(9007199254740993 + i) if i % 10 == 0 else str(i % 97), None if i % 5 == 0 else "note \"%d\"" % i]


def dataset(name):
    if name == "types":
        return TYPES_SCHEMA, lambda i: TYPES_ROWS[i], len(TYPES_ROWS)
    if name in ("big", "slow"):
        return BIG_SCHEMA, big_row, OPT.rows
    if name in ("empty", "forever"):
        return BIG_SCHEMA, big_row, 0
    if name == "dup":
        return [("id", "INT64", "NULLABLE", None), ("id", "STRING", "NULLABLE", None)], lambda i: ["1", "x"], 1
    return None


def shard_of(text, n):
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "big") % n + 1


SHARD_RE = re.compile(r"^SELECT \* FROM \(\n(.*)\n\) AS rx_q WHERE MOD\(CAST\(CONCAT\('0x', SUBSTR\(TO_HEX\(MD5\(CAST\(rx_q\.`((?:[^`\\]|\\.)+)` AS STRING\)\)\), 1, 8\)\) AS INT64\), (\d+)\) \+ 1 = (\d+)( OR rx_q\.`(?:[^`\\]|\\.)+` IS NULL)?$", re.S)
LIMIT0_RE = re.compile(r"^SELECT \* FROM \(\n(.*)\n\) AS rx_q LIMIT 0$", re.S)
TABLE_RE = re.compile(r"^select \* from (\w+)$", re.I)
PATH_RE = re.compile(r"^SELECT \* FROM `(\w+)`$")


def plan(sql):
    sql = sql.strip()
    m = LIMIT0_RE.match(sql)
    if m:
        p = plan(m.group(1))
        return p and (p[0], p[1], 0, "fast", None)
    m = SHARD_RE.match(sql)
    if m:
        p = plan(m.group(1))
        if p is None:
            return None
        col = re.sub(r"\\(.)", r"\1", m.group(2))
        n, i, keep_null = int(m.group(3)), int(m.group(4)), m.group(5) is not None
        names = [f[0] for f in p[0]]
        if col not in names:
            return None
        at = names.index(col)
        picked = [r for r in range(p[2]) if (p[1](r)[at] is None and keep_null) or
                  (p[1](r)[at] is not None and shard_of(p[1](r)[at], n) == i)]
        return (p[0], (lambda k, f=p[1], picked=picked: f(picked[k])), len(picked), p[3], None)
    m = TABLE_RE.match(sql) or PATH_RE.match(sql)
    if not m:
        return None
    name = m.group(1).lower()
    d = dataset(name)
    return d and (d[0], d[1], d[2], name if name in ("slow", "forever") else "fast", name)

# ---- auth ----


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def check_assertion(jwt):
    parts = jwt.split(".")
    if len(parts) != 3 or "=" in jwt:
        return "not a compact JWT"
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return "JWT parts are not base64url JSON"
    if header.get("alg") != "RS256" or header.get("kid") != OPT.key_id:
        return "header %r: alg RS256 and kid %r expected" % (header, OPT.key_id)
    if claims.get("iss") != OPT.client_email:
        return "iss %r" % claims.get("iss")
    if "bigquery" not in claims.get("scope", "") and "cloud-platform" not in claims.get("scope", ""):
        return "scope %r" % claims.get("scope")
    if claims.get("aud") != AUD:
        return "aud %r" % claims.get("aud")
    iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
    if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or exp < now or iat > now + 60:
        return "iat/exp out of range"
    with tempfile.NamedTemporaryFile() as f:
        f.write(b64url_decode(parts[2]))
        f.flush()
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", OPT.public_key, "-signature", f.name],
                           input=(parts[0] + "." + parts[1]).encode(), capture_output=True)
    if r.returncode != 0:
        return "Invalid JWT Signature."
    return None


def api_error(code, reason, message, status):
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": reason}], "status": status}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, doc, headers=None):
        body = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def violation(self, what):
        with LOCK:
            STATE["violations"] += 1
            STATE["violation_list"].append(what)

    def log(self, body):
        if OPT.log:
            with LOCK, open(OPT.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                                    "body": body.decode("utf-8", "replace")}) + "\n")

    def api_checks(self):
        """Auth and throttling of an API call; a reply was sent when False."""
        with LOCK:
            STATE["requests"] += 1
            n = STATE["requests"]
        if not self.headers.get("User-Agent"):
            self.violation("no User-Agent")
        auth = self.headers.get("Authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        ok = False
        with LOCK:
            if token is not None and token == OPT.static_token:
                ok = True
            elif token in TOKENS:
                left = TOKENS[token]
                if left is None or left > 0:
                    ok = True
                    if left is not None:
                        TOKENS[token] = left - 1
            if not ok:
                STATE["unauthorized"] += 1
        if not ok:
            self.reply(401, api_error(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token.", "UNAUTHENTICATED"),
                       {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
            return False
        if n <= OPT.rate_limit_first:
            with LOCK:
                STATE["throttled"] += 1
            self.reply(403, api_error(403, "rateLimitExceeded", "Exceeded rate limits: too many api requests per user per method for this user_method.", "PERMISSION_DENIED"))
            return False
        if n <= OPT.rate_limit_first + OPT.backend_error_first:
            with LOCK:
                STATE["backend_errors"] += 1
            self.reply(503, api_error(503, "backendError", "Backend error. Job aborted.", "UNAVAILABLE"))
            return False
        return True

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/_state":
            with LOCK:
                return self.reply(200, json.dumps(STATE, sort_keys=True).encode())
        self.log(b"")
        m = re.match(r"^/bigquery/v2/projects/([^/]+)/queries/([^/]+)$", u.path)
        if not m:
            return self.reply(404, api_error(404, "notFound", "Not found: URL", "NOT_FOUND"))
        if not self.api_checks():
            return
        q = parse_qs(u.query)
        with LOCK:
            job = JOBS.get(m.group(2))
            STATE["locations"].append((q.get("location") or [None])[0])
        if job is None or job["project"] != m.group(1):
            return self.reply(404, api_error(404, "notFound", "Not found: Job %s:%s" % (m.group(1), m.group(2)), "NOT_FOUND"))
        if (q.get("formatOptions.useInt64Timestamp") or [""])[0] != "true":
            self.violation("getQueryResults without formatOptions.useInt64Timestamp=true")
        token = (q.get("pageToken") or [None])[0]
        if token is None:
            with LOCK:
                STATE["polls"] += 1
                job["polls"] += 1
            if job["cancelled"]:
                return self.reply(400, api_error(400, "stopped", "Job execution was cancelled: User requested cancellation", "INVALID_ARGUMENT"))
            if job["kind"] == "forever" or (job["kind"] == "slow" and job["polls"] < OPT.slow_polls):
                return self.reply(200, {"kind": "bigquery#getQueryResultsResponse", "jobReference": job["ref"], "jobComplete": False})
            return self.reply(200, self.page(job, 0, "bigquery#getQueryResultsResponse"))
        page = int(token.split("-")[1])
        if OPT.fail_page is not None and page + 1 == OPT.fail_page:
            return self.reply(404, api_error(404, "notFound", "Not found: Job %s (the results have expired)" % job["id"], "NOT_FOUND"))
        with LOCK:
            STATE["pages"] += 1
        self.reply(200, self.page(job, page, "bigquery#getQueryResultsResponse"))

    def page(self, job, p, kind):
        k = OPT.page_rows
        start, end = p * k, min((p + 1) * k, job["count"])
        doc = {"kind": kind, "jobReference": job["ref"], "jobComplete": True,
               "schema": {"fields": schema_json(job["schema"])},
               "totalRows": str(job["count"] + (1 if OPT.short_total else 0)),
               "totalBytesProcessed": "0", "cacheHit": False}
        if end < job["count"]:
            doc["pageToken"] = "page-%d-%s" % (p + 1, job["id"][:8])
        head = json.dumps(doc, separators=(",", ":")).encode()
        if end <= start:
            return head
        # the rows are spliced in as bytes, cached for a plain table
        key = (job["cache_key"], p, job["int_ts"])
        rows = CACHE.get(key) if job["cache_key"] else None
        if rows is None:
            rows = json.dumps([{"f": [cell(f, v, job["int_ts"]) for f, v in zip(job["schema"], job["rows"](r))]}
                               for r in range(start, end)], separators=(",", ":")).encode()
            if job["cache_key"]:
                CACHE[key] = rows
        return head[:-1] + b',"rows":' + rows + b"}"

    def do_POST(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.log(body)
        if u.path == "/token":
            return self.token(body)
        m = re.match(r"^/bigquery/v2/projects/([^/]+)/jobs/([^/]+)/cancel$", u.path)
        if m:
            if not self.api_checks():
                return
            with LOCK:
                job = JOBS.get(m.group(2))
                if job:
                    job["cancelled"] = True
                    STATE["cancels"] += 1
            if job is None:
                return self.reply(404, api_error(404, "notFound", "Not found: Job", "NOT_FOUND"))
            return self.reply(200, {"kind": "bigquery#jobCancelResponse", "job": {"jobReference": job["ref"]}})
        m = re.match(r"^/bigquery/v2/projects/([^/]+)/queries$", u.path)
        if not m:
            return self.reply(404, api_error(404, "notFound", "Not found: URL", "NOT_FOUND"))
        if not self.api_checks():
            return
        try:
            req = json.loads(body)
            sql = req["query"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, api_error(400, "invalid", "Invalid JSON payload received.", "INVALID_ARGUMENT"))
        if req.get("useLegacySql") is not False:
            self.violation("useLegacySql is not false")
            return self.reply(400, api_error(400, "invalidQuery", "Legacy SQL: Encountered \" \"SELECT\" ...", "INVALID_ARGUMENT"))
        if not req.get("requestId"):
            self.violation("no requestId")
        if OPT.quota:
            return self.reply(403, api_error(403, "quotaExceeded", "Quota exceeded: Your project exceeded quota for free query bytes scanned.", "PERMISSION_DENIED"))
        with LOCK:
            STATE["queries"] += 1
            STATE["last_query"] = sql
            STATE["locations"].append(req.get("location"))
        p = plan(sql)
        if p is None:
            return self.reply(400, api_error(400, "invalidQuery", "Syntax error: Unexpected identifier \"%s\" at [1:1]" % sql.strip()[:30], "INVALID_ARGUMENT"))
        jid = "job_" + uuid.uuid4().hex
        ref = {"projectId": m.group(1), "jobId": jid, "location": req.get("location") or "US"}
        job = {"id": jid, "project": m.group(1), "ref": ref, "schema": p[0], "rows": p[1], "count": p[2], "kind": p[3],
               "cache_key": p[4],
               "polls": 0, "cancelled": False, "int_ts": (req.get("formatOptions") or {}).get("useInt64Timestamp") is True}
        with LOCK:
            JOBS[jid] = job
        if job["kind"] != "fast":
            return self.reply(200, {"kind": "bigquery#queryResponse", "jobReference": ref, "jobComplete": False})
        self.reply(200, self.page(job, 0, "bigquery#queryResponse"))

    def token(self, body):
        form = parse_qs(body.decode())
        g = (form.get("grant_type") or [""])[0]
        if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            self.violation("token request Content-Type %r" % self.headers.get("Content-Type"))
        if g == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            why = check_assertion((form.get("assertion") or [""])[0]) if OPT.public_key else "no service account"
        elif g == "refresh_token":
            ok = (form.get("client_id") == ["rx-client"] and form.get("client_secret") == ["rx-secret"]
                  and form.get("refresh_token") == ["rx-refresh"])
            why = None if ok else "Token has been expired or revoked."
        else:
            why = "unsupported grant_type %r" % g
        if why is not None:
            return self.reply(400, {"error": "invalid_grant", "error_description": why})
        with LOCK:
            STATE["tokens_issued"] += 1
            tok = "ya29.fake-%d-%s" % (STATE["tokens_issued"], uuid.uuid4().hex)
            TOKENS[tok] = OPT.token_uses
        self.reply(200, {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})


def main():
    global OPT
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--public-key")
    ap.add_argument("--client-email", default="rx@proj.iam.gserviceaccount.com")
    ap.add_argument("--key-id", default="k1")
    ap.add_argument("--static-token")
    ap.add_argument("--token-uses", type=int)
    ap.add_argument("--rows", type=int, default=25000)
    ap.add_argument("--page-rows", type=int, default=10000)
    ap.add_argument("--slow-polls", type=int, default=3)
    ap.add_argument("--rate-limit-first", type=int, default=0)
    ap.add_argument("--backend-error-first", type=int, default=0)
    ap.add_argument("--quota", action="store_true")
    ap.add_argument("--fail-page", type=int)
    ap.add_argument("--short-total", action="store_true")
    ap.add_argument("--float-timestamps", action="store_true")
    ap.add_argument("--log")
    OPT = ap.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(sig, frame):
        if OPT.state_file:
            with open(OPT.state_file, "w") as f:
                f.write(json.dumps(STATE, sort_keys=True))
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
