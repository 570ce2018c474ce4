#!/usr/bin/env python3
"""snowflake.py - a fake Snowflake SQL API v2 for rx-extract's tests (stdlib only).

Follows ../shared/reference/warehouses.md section 1 (the SQL API's OpenAPI
spec, snowflakedb/snowflake-rest-api-specs sqlapi.yaml, and the docs pages
it cites).  Listens on 127.0.0.1, port 0, and writes the port to
--port-file; start and stop it with t/lib-fake.sh (FAKE_SCRIPT=...
fake_start NAME -- SWITCHES).

Endpoints
  POST /api/v2/statements?requestId=&async=&retry=   submit one statement
  GET  /api/v2/statements/{handle}[?partition=N]      status, or a partition
  POST /api/v2/statements/{handle}/cancel             cancel
  GET  /_state                                        counters (JSON)

Checks on every API request (a failure counts a "violation", and most get
the status Snowflake gives): a User-Agent, Accept: application/json,
Content-Type: application/json on a POST (else 415), a requestId (UUID) on
a submit, no nullable=false, and the credentials:
  KEYPAIR_JWT  RS256 (verified with `openssl dgst` against --public-key),
               iss ACCOUNT.USER.SHA256:<fingerprint of that key>, sub
               ACCOUNT.USER, both upper case, exp - iat <= 3600, not expired
  OAUTH        (or no type header) the token given by --token
A resubmitted requestId with retry=true answers the first statement again
without running it; without retry=true it runs again (counted in "reruns").

Statements (the SQL, case and white space aside):
  select * from types        one row of each kind of cell (see TYPES)
  select * from big          --rows rows of 12 columns
  select * from empty        no rows
  select * from dup          two columns named ID
  select * from slow         202 for --slow-polls polls, then "big"
  select * from forever      202 until cancelled
  select * from fails_later  202 once, then 422 on the poll
  anything else              422 "SQL compilation error" on the submit
  SELECT * FROM IDENTIFIER('big')                     the table big
  SELECT * FROM (\\n<q>\\n) AS rx_q LIMIT 0            q's columns, no rows
  SELECT * FROM (\\n<q>\\n) AS rx_q WHERE MOD(TO_NUMBER(SUBSTR(MD5(TO_VARCHAR(
      rx_q."COL")), 1, 8), 'XXXXXXXX'), N) + 1 = I [OR rx_q."COL" IS NULL]
                             q's rows in that shard (rx_shard_of's hash)

Switches
  --public-key PEM --account A --user U   key-pair authentication
  --token T                 the OAuth token accepted
  --rows N                  rows of "big" (default 25000)
  --partition-rows K        rows per partition (default 10000)
  --slow-polls N            polls answered 202 for "slow" (default 3)
  --ignore-async            answer a fast statement 200 on the submit even
                            with async=true (the synchronous path)
  --throttle-first N        the first N API requests get 429 (Retry-After: 0)
  --throttle-all            every API request gets 429
  --unavailable-first N     the first N API requests get 503
  --flaky-partition P       the first GET of partition P gets 503
  --fail-partition P        every GET of partition P gets --fail-status (500)
  --short-partition P       partition P is served one row short
  --drop-submit             the first submit runs its statement, then the
                            connection is closed without a reply
  --log FILE                append {"method","path","headers","body"} a request
"""
import argparse
import base64
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
STATE = {"requests": 0, "submits": 0, "executions": 0, "reruns": 0, "polls": 0,
         "partitions": 0, "cancels": 0, "unauthorized": 0, "throttled": 0,
         "unavailable": 0, "violations": 0, "violation_list": [], "statements": {},
         "last_statement": None}
STATEMENTS = {}      # handle -> statement
BY_REQUEST = {}      # requestId -> handle
GOOD_TOKENS = set()
FLAKY_DONE = set()
CACHE = {}           # (dataset, partition) -> bytes
OPT = None
FINGERPRINT = None

# ---- data ----

TYPES_COLS = [
    ("ID", "fixed", 38, 0), ("AMOUNT", "fixed", 10, 2), ("BIGDEC", "fixed", 38, 10),
    ("RATIO", "real", None, None), ("NAME", "text", None, None), ("FLAG", "boolean", None, None),
    ("DAY", "date", None, None), ("TOD", "time", None, 9), ("NTZ", "timestamp_ntz", None, 9),
    ("LTZ", "timestamp_ltz", None, 9), ("TZ", "timestamp_tz", None, 9), ("DOC", "variant", None, None),
    ("TAGS", "array", None, None), ("BIN", "binary", None, None), ("DF", "decfloat", None, None),
]
TYPES_ROWS = [
    ["1", "123.45", "1234567890123456789.0123456789", "0.1", "Ada", "true", "18262",
     "82919.000000000", "1616173619.123456789", "1616173619.000000000", "1616173619.000000000 960",
     "{\n  \"a\": 1,\n  \"big\": 12345678901234567890\n}", "[\n  \"x\",\n  2\n]", "48656c6c6f", "1.5"],
    ["9007199254740993", "-0.50", None, "NaN", "\u00e9 \"q\" \\ \u2603", "false", "-1",
     "0.500000000", "-1.500000000", "0.000000000", "1616173619.500000000 1770",
     "\"just a string\"", "[]", "", "123456789012345678901234567890123456"],
    ["99999999999999999999999999999999999999", None, "0.0000000001", "-1.5e+300", None, None, "0",
     None, "253402300799.999999999", None, None, None, None, None, None],
]
BIG_COLS = [
    ("ID", "fixed", 38, 0), ("NAME", "text", None, None), ("EMAIL", "text", None, None),
    ("PLAN", "text", None, None), ("LTV", "fixed", 12, 2), ("SCORE", "real", None, None),
    ("ACTIVE", "boolean", None, None), ("SIGNUP", "date", None, None),
    ("SEEN", "timestamp_ntz", None, 9), ("UPDATED", "timestamp_ltz", None, 9),
    ("ORG", "fixed", 38, 0), ("NOTE", "text", None, None),
]
PLANS = ["free", "pro", "team", "enterprise"]


def big_row(i):
    return [str(i), "Customer %d" % i, "c%d@example.com" % i, PLANS[i % 4],
            "%d.%02d" % (i * 7 % 100000, i % 100), "%.4f" % ((i % 1000) / 7.0),
            "true" if i % 3 else "false", str(18000 + i % 3000),
            "%d.%09d" % (1600000000 + i, i % 1000000000), "%d.000000000" % (1700000000 + i),
            str(9007199254740993 + i) if i % 10 == 0 else str(i % 97),
            None if i % 5 == 0 else "note \"%d\"" % i]


def dataset(name):
    """(columns, row-generator function, row count) of a named table."""
    if name == "types":
        return TYPES_COLS, lambda i: TYPES_ROWS[i], len(TYPES_ROWS)
    if name in ("big", "slow"):
        return BIG_COLS, big_row, OPT.rows
    if name == "empty":
        return BIG_COLS, big_row, 0
    if name == "dup":
        return [("ID", "fixed", 38, 0), ("ID", "text", None, None)], lambda i: ["1", "x"], 1
    if name in ("forever", "fails_later"):
        return BIG_COLS, big_row, 0
    return None


def shard_of(text, n):
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "big") % n + 1


SHARD_RE = re.compile(r"^SELECT \* FROM \(\n(.*)\n\) AS rx_q WHERE MOD\(TO_NUMBER\(SUBSTR\(MD5\(TO_VARCHAR\(rx_q\.\"((?:[^\"]|\"\")+)\"\)\), 1, 8\), 'XXXXXXXX'\), (\d+)\) \+ 1 = (\d+)( OR rx_q\.\"(?:[^\"]|\"\")+\" IS NULL)?$", re.S)
LIMIT0_RE = re.compile(r"^SELECT \* FROM \(\n(.*)\n\) AS rx_q LIMIT 0$", re.S)
TABLE_RE = re.compile(r"^select \* from (\w+)$", re.I)
IDENT_RE = re.compile(r"^SELECT \* FROM IDENTIFIER\('(\w+)'\)$")


def plan(sql):
    """The statement's (columns, rows function, count, kind) or None."""
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
        col = m.group(2).replace('""', '"')
        n, i, keep_null = int(m.group(3)), int(m.group(4)), m.group(5) is not None
        names = [c[0] for c in p[0]]
        if col not in names:
            return None
        at = names.index(col)
        picked = []
        for r in range(p[2]):
            v = p[1](r)[at]
            if (v is None and keep_null) or (v is not None and shard_of(v, n) == i):
                picked.append(r)
        return (p[0], (lambda k, f=p[1], picked=picked: f(picked[k])), len(picked), p[3], None)
    m = TABLE_RE.match(sql) or IDENT_RE.match(sql)
    if not m:
        return None
    d = dataset(m.group(1).lower())
    if d is None:
        return None
    kind = m.group(1).lower()
    return (d[0], d[1], d[2], kind if kind in ("slow", "forever", "fails_later") else "fast", kind)


def row_type(cols):
    out = []
    for name, typ, prec, scale in cols:
        c = {"name": name, "database": "DB", "schema": "PUBLIC", "table": "T", "nullable": True,
             "type": typ, "byteLength": None, "length": None, "scale": scale, "precision": prec,
             "collation": None}
        out.append(c)
    return out


def partitions(st):
    n, k = st["count"], OPT.partition_rows
    if n == 0:
        return [0]
    return [min(k, n - s) for s in range(0, n, k)]


def partition_data(st, p):
    key = (st["cache_key"], p)
    if key in CACHE:
        return CACHE[key]
    k = OPT.partition_rows
    start = p * k
    count = partitions(st)[p]
    if OPT.short_partition is not None and p == OPT.short_partition:
        count -= 1
    rows = [st["rows"](start + r) for r in range(count)]
    body = json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()
    if st["cache_key"] is not None:
        CACHE[key] = body
    return body


def result_set(st):
    parts = partitions(st)
    info = [{"rowCount": n, "uncompressedSize": n * 100} for n in parts]
    doc = {"resultSetMetaData": {"numRows": st["count"], "format": "jsonv2",
                                 "partitionInfo": info, "rowType": row_type(st["cols"])},
           "code": "090001", "statementStatusUrl": "/api/v2/statements/%s?requestId=%s" % (st["handle"], st["request_id"]),
           "requestId": st["request_id"], "sqlState": "00000", "statementHandle": st["handle"],
           "message": "Statement executed successfully.", "createdOn": int(time.time() * 1000)}
    head = json.dumps(doc, separators=(",", ":"))
    # the data of partition 0 goes last, spliced as raw bytes
    return head[:-1].encode() + b',"data":' + partition_data(st, 0) + b"}"


def query_status(st):
    return {"code": "333334", "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
            "statementHandle": st["handle"], "statementStatusUrl": "/api/v2/statements/%s" % st["handle"],
            "createdOn": int(time.time() * 1000)}


def failure_status(st, msg):
    return {"code": "002003", "sqlState": "42S02", "message": msg, "statementHandle": st["handle"] if st else str(uuid.uuid4()),
            "createdOn": int(time.time() * 1000)}

# ---- auth ----


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_rs256(signed, sig):
    with tempfile.NamedTemporaryFile() as f:
        f.write(sig)
        f.flush()
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", OPT.public_key, "-signature", f.name],
                           input=signed, capture_output=True)
    return r.returncode == 0


def check_jwt(token):
    """None when the JWT is good, else why not."""
    if token in GOOD_TOKENS:
        claims = json.loads(b64url_decode(token.split(".")[1]))
        return None if claims["exp"] >= time.time() else "JWT token has expired"
    parts = token.split(".")
    if len(parts) != 3:
        return "not a JWT"
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return "JWT parts are not base64url JSON"
    if "=" in token:
        return "JWT parts must be unpadded base64url"
    if header.get("alg") != "RS256" or header.get("typ") != "JWT":
        return "header must be {alg: RS256, typ: JWT}"
    qual = "%s.%s" % (OPT.account, OPT.user)
    if claims.get("sub") != qual:
        return "sub is %r, expected %r" % (claims.get("sub"), qual)
    if claims.get("iss") != qual + "." + FINGERPRINT:
        return "iss is %r, expected %r" % (claims.get("iss"), qual + "." + FINGERPRINT)
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        return "iat and exp must be integer seconds"
    now = time.time()
    if exp - iat > 3600 or exp < now or iat > now + 60:
        return "iat/exp out of range (lifetime %d s)" % (exp - iat)
    if not verify_rs256((parts[0] + "." + parts[1]).encode(), b64url_decode(parts[2])):
        return "JWT signature does not verify"
    GOOD_TOKENS.add(token)
    return None


def fingerprint_of(pem):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()

# ---- the server ----


def violation(what):
    with LOCK:
        STATE["violations"] += 1
        STATE["violation_list"].append(what)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, doc, headers=None, gz=False):
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        if gz:
            body = gzip.compress(body, 1)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log(self, body):
        if OPT.log:
            with LOCK, open(OPT.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "headers": {k: v for k, v in self.headers.items()},
                                    "body": body.decode("utf-8", "replace")}) + "\n")

    def common(self, body):
        """Checks every API request shares; a reply was sent when it returns False."""
        self.log(body)
        with LOCK:
            STATE["requests"] += 1
            n = STATE["requests"]
        if not self.headers.get("User-Agent"):
            violation("no User-Agent")
            self.reply(400, {"code": "391901", "message": "User-Agent is required"})
            return False
        if self.headers.get("Accept") != "application/json":
            violation("Accept is %r" % self.headers.get("Accept"))
        if "gzip" not in (self.headers.get("Accept-Encoding") or ""):
            violation("no Accept-Encoding: gzip")
        if self.command == "POST" and self.headers.get("Content-Type") != "application/json":
            violation("Content-Type is %r" % self.headers.get("Content-Type"))
            self.reply(415, {"code": "391902", "message": "Unsupported media type"})
            return False
        auth = self.headers.get("Authorization") or ""
        ttype = self.headers.get("X-Snowflake-Authorization-Token-Type")
        why = None
        if not auth.startswith("Bearer "):
            why = "no bearer token"
        elif ttype == "KEYPAIR_JWT":
            why = check_jwt(auth[7:]) if OPT.public_key else "key-pair authentication is not set up"
        elif ttype in (None, "OAUTH", "PROGRAMMATIC_ACCESS_TOKEN"):
            why = None if OPT.token and auth[7:] == OPT.token else "invalid OAuth access token"
        else:
            why = "unknown token type %r" % ttype
        if why is not None:
            with LOCK:
                STATE["unauthorized"] += 1
            self.reply(401, {"code": "390144", "message": "JWT token is invalid. [%s]" % why})
            return False
        if OPT.throttle_all or n <= OPT.throttle_first:
            with LOCK:
                STATE["throttled"] += 1
            self.reply(429, {"code": "390000", "message": "Too many requests: slow down"}, {"Retry-After": "0"})
            return False
        if n <= OPT.throttle_first + OPT.unavailable_first:
            with LOCK:
                STATE["unavailable"] += 1
            self.reply(503, {"code": "390000", "message": "Service unavailable"})
            return False
        return True

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/_state":
            with LOCK:
                return self.reply(200, json.dumps(STATE, sort_keys=True).encode())
        m = re.match(r"^/api/v2/statements/([0-9a-f-]+)$", u.path)
        if not m:
            return self.reply(404, {"code": "000404", "message": "no such endpoint"})
        if not self.common(b""):
            return
        q = parse_qs(u.query)
        with LOCK:
            st = STATEMENTS.get(m.group(1))
        if st is None:
            return self.reply(404, {"code": "000709", "message": "Statement not found"})
        if "partition" in q:
            return self.partition(st, int(q["partition"][0]))
        with LOCK:
            STATE["polls"] += 1
            st["polls"] += 1
        if st["cancelled"]:
            return self.reply(422, failure_status(st, "SQL execution canceled"))
        if st["kind"] == "fails_later":
            return self.reply(422, failure_status(st, "Division by zero"))
        if st["kind"] == "forever" or (st["kind"] == "slow" and st["polls"] < OPT.slow_polls):
            return self.reply(202, query_status(st))
        self.reply(200, result_set(st))

    def partition(self, st, p):
        parts = partitions(st)
        if p < 0 or p >= len(parts):
            return self.reply(422, failure_status(st, "partition %d does not exist" % p))
        if OPT.fail_partition is not None and p == OPT.fail_partition:
            return self.reply(OPT.fail_status, {"code": "000603", "message": "Internal error processing the partition"})
        if OPT.flaky_partition is not None and p == OPT.flaky_partition and p not in FLAKY_DONE:
            FLAKY_DONE.add(p)
            return self.reply(503, {"code": "390000", "message": "Service unavailable"})
        with LOCK:
            STATE["partitions"] += 1
        base = "/api/v2/statements/%s" % st["handle"]
        links = ['<%s?requestId=%s&partition=0>; rel="first"' % (base, uuid.uuid4()),
                 '<%s?requestId=%s&partition=%d>; rel="last"' % (base, uuid.uuid4(), len(parts) - 1)]
        if p + 1 < len(parts):
            links.append('<%s?requestId=%s&partition=%d>; rel="next"' % (base, uuid.uuid4(), p + 1))
        if p > 0:
            links.append('<%s?requestId=%s&partition=%d>; rel="prev"' % (base, uuid.uuid4(), p - 1))
        # partitions after the first come gzip-compressed, whatever was asked
        key = (st["cache_key"], p, "gz")
        body = CACHE.get(key) if st["cache_key"] else None
        if body is None:
            body = gzip.compress(b'{"data":' + partition_data(st, p) + b"}", 1)
            if st["cache_key"]:
                CACHE[key] = body
        self.reply(200, body, {"Link": ",".join(links), "Content-Encoding": "gzip"})

    def do_POST(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        m = re.match(r"^/api/v2/statements/([0-9a-f-]+)/cancel$", u.path)
        if m:
            if not self.common(body):
                return
            with LOCK:
                st = STATEMENTS.get(m.group(1))
                if st is None:
                    return self.reply(404, {"code": "000709", "message": "Statement not found"})
                st["cancelled"] = True
                STATE["cancels"] += 1
            return self.reply(200, {"code": "000604", "message": "successfully canceled", "statementHandle": st["handle"]})
        if u.path != "/api/v2/statements":
            return self.reply(404, {"code": "000404", "message": "no such endpoint"})
        if not self.common(body):
            return
        q = parse_qs(u.query)
        rid = (q.get("requestId") or [None])[0]
        try:
            uuid.UUID(rid or "")
        except ValueError:
            violation("submit without a UUID requestId")
        if (q.get("nullable") or [""])[0] == "false":
            violation("nullable=false")
        try:
            doc = json.loads(body)
            sql = doc["statement"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"code": "390142", "message": "malformed request body"})
        if doc.get("parameters", {}).get("MULTI_STATEMENT_COUNT") not in (None, "1", 1):
            violation("MULTI_STATEMENT_COUNT")
        retry = (q.get("retry") or [""])[0] == "true"
        with LOCK:
            STATE["submits"] += 1
            STATE["last_statement"] = sql
            if rid in BY_REQUEST:
                if retry:
                    st = STATEMENTS[BY_REQUEST[rid]]
                    return self.answer(st, q)
                STATE["reruns"] += 1
        p = plan(sql)
        if p is None:
            return self.reply(422, failure_status(None, "SQL compilation error:\nObject '%s' does not exist or not authorized." % sql.strip()[:60]))
        st = {"handle": str(uuid.uuid4()), "request_id": rid, "cols": p[0], "rows": p[1], "count": p[2],
              "kind": p[3], "cache_key": p[4] if sql.strip() == "select * from %s" % p[4] or sql.strip().startswith("SELECT * FROM IDENTIFIER") else None,
              "polls": 0, "cancelled": False}
        with LOCK:
            STATE["executions"] += 1
            STATEMENTS[st["handle"]] = st
            BY_REQUEST[rid] = st["handle"]
            STATE["statements"][st["handle"]] = {"sql": sql, "warehouse": doc.get("warehouse"),
                                                 "database": doc.get("database"), "schema": doc.get("schema"),
                                                 "role": doc.get("role"), "timeout": doc.get("timeout")}
            drop = OPT.drop_submit and STATE["submits"] == 1
        if drop:
            self.close_connection = True
            return
        self.answer(st, q)

    def answer(self, st, q):
        asynchronous = (q.get("async") or [""])[0] == "true"
        if st["kind"] != "fast" or (asynchronous and not OPT.ignore_async):
            return self.reply(202, query_status(st))
        self.reply(200, result_set(st))


def main():
    global OPT, FINGERPRINT
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--public-key")
    ap.add_argument("--account", default="MYORG-ACCT")
    ap.add_argument("--user", default="RX_USER")
    ap.add_argument("--token")
    ap.add_argument("--rows", type=int, default=25000)
    ap.add_argument("--partition-rows", type=int, default=10000)
    ap.add_argument("--slow-polls", type=int, default=3)
    ap.add_argument("--ignore-async", action="store_true")
    ap.add_argument("--throttle-first", type=int, default=0)
    ap.add_argument("--throttle-all", action="store_true")
    ap.add_argument("--unavailable-first", type=int, default=0)
    ap.add_argument("--flaky-partition", type=int)
    ap.add_argument("--fail-partition", type=int)
    ap.add_argument("--fail-status", type=int, default=500)
    ap.add_argument("--short-partition", type=int)
    ap.add_argument("--drop-submit", action="store_true")
    ap.add_argument("--log")
    OPT = ap.parse_args()
    if OPT.public_key:
        FINGERPRINT = fingerprint_of(OPT.public_key)
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
