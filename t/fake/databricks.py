#!/usr/bin/env python3
"""databricks.py - a fake Databricks SQL Statement Execution API 2.0 for
rx-extract's tests (stdlib only).

Follows ../shared/reference/warehouses.md section 3 (databricks-sdk-py's
StatementExecutionAPI docstrings, generated from Databricks' OpenAPI, and
databricks-sql-python's SEA backend).  Listens on 127.0.0.1, port 0, and
writes the port to --port-file; start and stop it with t/lib-fake.sh
(FAKE_SCRIPT=... fake_start NAME -- SWITCHES).

Endpoints
  POST /api/2.0/sql/statements                          execute
  GET  /api/2.0/sql/statements/{id}                     poll
  GET  /api/2.0/sql/statements/{id}/result/chunks/{i}   a chunk (ResultData)
  POST /api/2.0/sql/statements/{id}/cancel              cancel
  GET  /_links/{id}/{i}?X-Sig=...&expires=...           a presigned "cloud
                                                        storage" link
  POST /oidc/v1/token                                   OAuth M2M
  GET  /_state                                          counters (JSON)

Every workspace request needs "Authorization: Bearer" with --token or a
token from /oidc/v1/token (Basic rx-sp:sp-secret, grant_type
client_credentials).  A presigned link refuses (and counts a violation) a
request that carries an Authorization header, and needs the link's
http_headers.  A statement needs warehouse_id = --warehouse, a wait_timeout
of 0s or 5s..50s (else 400), format JSON_ARRAY.  wait_timeout 0s answers
PENDING at once; a poll then moves PENDING -> RUNNING -> SUCCEEDED.  A
failing statement is HTTP 200 with state FAILED.

Statements (the SQL, case and white space aside):
  select * from types      one row of each type
  select * from big        --rows rows of 12 columns
  select * from empty      no rows
  select * from dup        two columns named id
  select * from slow       RUNNING for --slow-polls polls
  select * from forever    RUNNING until cancelled
  anything else            FAILED, TABLE_OR_VIEW_NOT_FOUND
  SELECT * FROM `big` (a --table), and rx-extract's LIMIT 0 and shard
  wrappers (see SHARD_RE) around any of these

Switches
  --token T --warehouse W
  --rows N (25000) --chunk-rows K (10000) --slow-polls N (2)
  --inline-limit BYTES    an INLINE result larger than this FAILS (the 25 MiB
                          limit), default 25 MiB
  --truncate              manifest.truncated true (as a row_limit does)
  --throttle-first N      the first N workspace requests: 429, Retry-After: 0
  --expire-link I         the first fetch of chunk I's link: 403 (expired)
  --fail-chunk I          chunk I (link or inline): 500 every time
  --short-chunk I         chunk I is served one row short
  --log FILE              append {"method","path","headers","body"} a request
"""
import argparse
import base64
import hashlib
import json
import os
import re
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
STATE = {"requests": 0, "executions": 0, "polls": 0, "chunks": 0, "links": 0, "cancels": 0,
         "unauthorized": 0, "throttled": 0, "expired": 0, "tokens_issued": 0, "violations": 0,
         "violation_list": [], "last_statement": None, "last_request": None}
STATEMENTS = {}
TOKENS = set()
EXPIRED_DONE = set()
CACHE = {}
OPT = None

# (name, type_name, type_text)
TYPES_COLS = [
    ("id", "LONG", "BIGINT"), ("small", "SHORT", "SMALLINT"), ("tiny", "BYTE", "TINYINT"), ("i", "INT", "INT"),
    ("dec", "DECIMAL", "DECIMAL(38,10)"), ("f", "FLOAT", "FLOAT"), ("d", "DOUBLE", "DOUBLE"),
    ("b", "BOOLEAN", "BOOLEAN"), ("s", "STRING", "STRING"), ("c", "CHAR", "CHAR(3)"), ("dt", "DATE", "DATE"),
    ("ts", "TIMESTAMP", "TIMESTAMP"), ("bin", "BINARY", "BINARY"), ("arr", "ARRAY", "ARRAY<BIGINT>"),
    ("m", "MAP", "MAP<STRING,INT>"), ("st", "STRUCT", "STRUCT<x: INT, y: STRING>"),
    ("iv", "INTERVAL", "INTERVAL DAY TO SECOND"),
]
TYPES_ROWS = [
    ["9007199254740993", "-32768", "127", "2147483647", "12345678901234567890.0123456789", "1.5", "0.1", "true",
     "\u00e9 \"q\"", "abc", "2024-02-29", "2024-02-29T12:34:56.789Z", "48656C6C6F", "[1,2,12345678901234567890]",
     "{\"a\":1}", "{\"x\":1,\"y\":\"z\"}", "1 02:03:04.000000000"],
    ["-9223372036854775808", "0", "-1", "0", "-0.0000000001", "NaN", "-Infinity", "false", "", "  x",
     "1970-01-01", "1970-01-01T00:00:00Z", "", "[]", "{}", "{x:1}", "0 00:00:00.000000000"],
    [None] * 17,
]
BIG_COLS = [
    ("id", "LONG", "BIGINT"), ("name", "STRING", "STRING"), ("email", "STRING", "STRING"),
    ("plan", "STRING", "STRING"), ("ltv", "DECIMAL", "DECIMAL(12,2)"), ("score", "DOUBLE", "DOUBLE"),
    ("active", "BOOLEAN", "BOOLEAN"), ("signup", "DATE", "DATE"), ("seen", "TIMESTAMP", "TIMESTAMP"),
    ("updated", "TIMESTAMP", "TIMESTAMP"), ("org", "LONG", "BIGINT"), ("note", "STRING", "STRING"),
]
PLANS = ["free", "pro", "team", "enterprise"]


def big_row(i):
    return [str(i), "Customer %d" % i, "c%d@example.com" % i, PLANS[i % 4], "%d.%02d" % (i * 7 % 100000, i % 100),
            "%.4f" % ((i % 1000) / 7.0), "true" if i % 3 else "false", "2024-%02d-%02d" % (i % 12 + 1, i % 28 + 1),
            "2024-01-01T00:%02d:%02d.%03dZ" % (i // 60 % 60, i % 60, i % 1000), "2024-06-01T12:00:00Z",
            str(9007199254740993 + i) if i % 10 == 0 else str(i % 97), None if i % 5 == 0 else "note \"%d\"" % i]


def dataset(name):
    if name == "types":
        return TYPES_COLS, lambda i: TYPES_ROWS[i], len(TYPES_ROWS)
    if name in ("big", "slow"):
        return BIG_COLS, big_row, OPT.rows
    if name in ("empty", "forever"):
        return BIG_COLS, big_row, 0
    if name == "dup":
        return [("id", "LONG", "BIGINT"), ("id", "STRING", "STRING")], lambda i: ["1", "x"], 1
    return None


def shard_of(text, n):
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "big") % n + 1


SHARD_RE = re.compile(r"^SELECT \* FROM \(\n(.*)\n\) AS rx_q WHERE pmod\(CAST\(conv\(substr\(md5\(CAST\(rx_q\.`((?:[^`]|``)+)` AS STRING\)\), 1, 8\), 16, 10\) AS BIGINT\), (\d+)\) \+ 1 = (\d+)( OR rx_q\.`(?:[^`]|``)+` IS NULL)?$", re.S)
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
        col = m.group(2).replace("``", "`")
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
    m = TABLE_RE.match(sql) or PATH_RE.match(sql)
    if not m:
        return None
    name = m.group(1).lower()
    d = dataset(name)
    return d and (d[0], d[1], d[2], name if name in ("slow", "forever") else "fast", name)


def chunk_bounds(st):
    n, k = st["count"], OPT.chunk_rows
    return [(s, min(k, n - s)) for s in range(0, n, k)] or [(0, 0)]


def chunk_rows_json(st, i):
    key = (st["cache_key"], i)
    if st["cache_key"] and key in CACHE:
        return CACHE[key]
    start, count = chunk_bounds(st)[i]
    if OPT.short_chunk is not None and i == OPT.short_chunk:
        count -= 1
    body = json.dumps([st["rows"](start + r) for r in range(count)], separators=(",", ":")).encode()
    if st["cache_key"]:
        CACHE[key] = body
    return body


def manifest(st):
    bounds = chunk_bounds(st)
    return {"format": "JSON_ARRAY", "schema": {"column_count": len(st["cols"]), "columns": [
        {"name": n, "type_name": t, "type_text": tt, "position": i} for i, (n, t, tt) in enumerate(st["cols"])]},
        "total_chunk_count": len(bounds), "total_row_count": st["count"],
        "chunks": [{"chunk_index": i, "row_offset": s, "row_count": c} for i, (s, c) in enumerate(bounds)],
        "truncated": bool(OPT.truncate)}


def link_for(st, i, base):
    s, c = chunk_bounds(st)[i]
    sig = uuid.uuid4().hex
    l = {"chunk_index": i, "row_offset": s, "row_count": c, "byte_count": c * 100,
         "external_link": "%s/_links/%s/%d?X-Sig=%s&expires=%d" % (base, st["id"], i, sig, int(time.time()) + 900),
         "expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 900)),
         "http_headers": {"x-ms-blob-type": "BlockBlob"}}
    if i + 1 < len(chunk_bounds(st)):
        l["next_chunk_index"] = i + 1
        l["next_chunk_internal_link"] = "/api/2.0/sql/statements/%s/result/chunks/%d" % (st["id"], i + 1)
    return l


def result_data(st, i, base):
    """ResultData of chunk i, as bytes (an inline data_array is spliced raw)."""
    s, c = chunk_bounds(st)[i]
    if st["disposition"] == "EXTERNAL_LINKS":
        return json.dumps({"external_links": [link_for(st, i, base)]}).encode()
    doc = {"chunk_index": i, "row_offset": s, "row_count": c}
    if i + 1 < len(chunk_bounds(st)):
        doc["next_chunk_index"] = i + 1
        doc["next_chunk_internal_link"] = "/api/2.0/sql/statements/%s/result/chunks/%d" % (st["id"], i + 1)
    head = json.dumps(doc)
    if c == 0:
        return head.encode()
    return head[:-1].encode() + b',"data_array":' + chunk_rows_json(st, i) + b"}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, doc, headers=None, ctype="application/json"):
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def base(self):
        return "http://%s" % self.headers.get("Host")

    def violation(self, what):
        with LOCK:
            STATE["violations"] += 1
            STATE["violation_list"].append(what)

    def log(self, body):
        if OPT.log:
            with LOCK, open(OPT.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                                    "body": body.decode("utf-8", "replace")}) + "\n")

    def checks(self):
        with LOCK:
            STATE["requests"] += 1
            n = STATE["requests"]
        auth = self.headers.get("Authorization") or ""
        tok = auth[7:] if auth.startswith("Bearer ") else None
        if tok is None or (tok != OPT.token and tok not in TOKENS):
            with LOCK:
                STATE["unauthorized"] += 1
            self.reply(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
            return False
        if n <= OPT.throttle_first:
            with LOCK:
                STATE["throttled"] += 1
            self.reply(429, {"error_code": "TOO_MANY_REQUESTS", "message": "Too many requests. Please wait a moment and try again."},
                       {"Retry-After": "0"})
            return False
        return True

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/_state":
            with LOCK:
                return self.reply(200, json.dumps(STATE, sort_keys=True).encode())
        self.log(b"")
        m = re.match(r"^/_links/([0-9a-f-]+)/(\d+)$", u.path)
        if m:
            return self.link(m.group(1), int(m.group(2)), parse_qs(u.query))
        m = re.match(r"^/api/2.0/sql/statements/([0-9a-f-]+)(?:/result/chunks/(\d+))?$", u.path)
        if not m:
            return self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found"})
        if not self.checks():
            return
        with LOCK:
            st = STATEMENTS.get(m.group(1))
        if st is None:
            return self.reply(404, {"error_code": "NOT_FOUND", "message": "The statement %s was not found." % m.group(1)})
        if m.group(2) is not None:
            i = int(m.group(2))
            if i >= len(chunk_bounds(st)):
                return self.reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "chunk index out of range"})
            if OPT.fail_chunk is not None and i == OPT.fail_chunk and st["disposition"] == "INLINE":
                return self.reply(500, {"error_code": "INTERNAL_ERROR", "message": "Failed to fetch the chunk"})
            with LOCK:
                STATE["chunks"] += 1
            return self.reply(200, result_data(st, i, self.base()))
        with LOCK:
            STATE["polls"] += 1
            st["polls"] += 1
        self.reply(200, self.status_doc(st))

    def link(self, sid, i, q):
        with LOCK:
            STATE["links"] += 1
            st = STATEMENTS.get(sid)
        if self.headers.get("Authorization") is not None:
            self.violation("a presigned link was sent an Authorization header")
            return self.reply(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
                              ctype="application/xml")
        if self.headers.get("x-ms-blob-type") != "BlockBlob":
            self.violation("a presigned link without its http_headers")
        if st is None or not q.get("X-Sig"):
            return self.reply(403, b"<Error><Code>AccessDenied</Code></Error>", ctype="application/xml")
        if OPT.expire_link is not None and i == OPT.expire_link and (sid, i) not in EXPIRED_DONE:
            EXPIRED_DONE.add((sid, i))
            with LOCK:
                STATE["expired"] += 1
            return self.reply(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                              ctype="application/xml")
        if OPT.fail_chunk is not None and i == OPT.fail_chunk:
            return self.reply(500, b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>",
                              ctype="application/xml")
        self.reply(200, chunk_rows_json(st, i), ctype="application/octet-stream")

    def status_doc(self, st):
        if st["cancelled"]:
            return {"statement_id": st["id"], "status": {"state": "CANCELED"}}
        if st["failure"]:
            return {"statement_id": st["id"], "status": {"state": "FAILED", "sql_state": st["failure"][2],
                    "error": {"error_code": st["failure"][0], "message": st["failure"][1]}}}
        if st["kind"] == "forever" or (st["kind"] == "slow" and st["polls"] < OPT.slow_polls):
            return {"statement_id": st["id"], "status": {"state": "RUNNING" if st["polls"] else "PENDING"}}
        if st["disposition"] == "INLINE" and st["count"] * 100 > OPT.inline_limit:
            return {"statement_id": st["id"], "status": {"state": "FAILED", "sql_state": "54000", "error": {
                "error_code": "BAD_REQUEST", "message": "Inline byte limit exceeded. Statements executed with disposition=INLINE can have a result size of at most 26214400 bytes. Please use disposition=EXTERNAL_LINKS to fetch results of this size."}}}
        head = json.dumps({"statement_id": st["id"], "status": {"state": "SUCCEEDED"}, "manifest": manifest(st)})
        return head[:-1].encode() + b',"result":' + result_data(st, 0, self.base()) + b"}"

    def do_POST(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.log(body)
        if u.path == "/oidc/v1/token":
            return self.token(body)
        m = re.match(r"^/api/2.0/sql/statements/([0-9a-f-]+)/cancel$", u.path)
        if m:
            if not self.checks():
                return
            with LOCK:
                st = STATEMENTS.get(m.group(1))
                if st:
                    st["cancelled"] = True
                    STATE["cancels"] += 1
            return self.reply(200, b"{}") if st else self.reply(404, {"error_code": "NOT_FOUND", "message": "no such statement"})
        if u.path != "/api/2.0/sql/statements":
            return self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found"})
        if not self.checks():
            return
        try:
            req = json.loads(body)
            sql = req["statement"]
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"error_code": "MALFORMED_REQUEST", "message": "Could not parse request object"})
        with LOCK:
            STATE["last_request"] = req
        if req.get("warehouse_id") != OPT.warehouse:
            return self.reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Warehouse %s does not exist." % req.get("warehouse_id")})
        wt = req.get("wait_timeout", "10s")
        mm = re.match(r"^(\d+)s$", wt)
        if not mm or not (int(mm.group(1)) == 0 or 5 <= int(mm.group(1)) <= 50):
            return self.reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "wait_timeout must be 0s or between 5s and 50s"})
        disp = req.get("disposition", "INLINE")
        if req.get("format", "JSON_ARRAY") != "JSON_ARRAY" and disp == "INLINE":
            return self.reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "INLINE takes JSON_ARRAY only"})
        p = plan(sql)
        st = {"id": str(uuid.uuid4()), "disposition": disp, "polls": 0, "cancelled": False, "failure": None,
              "cols": p[0] if p else [], "rows": p[1] if p else None, "count": p[2] if p else 0,
              "kind": p[3] if p else "fast", "cache_key": p[4] if p else None}
        if p is None:
            st["failure"] = ("BAD_REQUEST", "[TABLE_OR_VIEW_NOT_FOUND] The table or view `%s` cannot be found. SQLSTATE: 42P01" % sql.strip()[14:][:40], "42P01")
        with LOCK:
            STATE["executions"] += 1
            STATE["last_statement"] = sql
            STATEMENTS[st["id"]] = st
        if int(mm.group(1)) == 0:
            return self.reply(200, {"statement_id": st["id"], "status": {"state": "PENDING"}})
        self.reply(200, self.status_doc(st))

    def token(self, body):
        form = parse_qs(body.decode())
        auth = self.headers.get("Authorization") or ""
        ok = auth == "Basic " + base64.b64encode(b"rx-sp:sp-secret").decode() and \
            form.get("grant_type") == ["client_credentials"] and "all-apis" in (form.get("scope") or [""])[0]
        if not ok:
            return self.reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        with LOCK:
            STATE["tokens_issued"] += 1
            tok = "dapi-oauth-%s" % uuid.uuid4().hex
            TOKENS.add(tok)
        self.reply(200, {"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": "all-apis"})


def main():
    global OPT
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--token", default="dapi-s3cret")
    ap.add_argument("--warehouse", default="wh123")
    ap.add_argument("--rows", type=int, default=25000)
    ap.add_argument("--chunk-rows", type=int, default=10000)
    ap.add_argument("--slow-polls", type=int, default=2)
    ap.add_argument("--inline-limit", type=int, default=25 << 20)
    ap.add_argument("--truncate", action="store_true")
    ap.add_argument("--throttle-first", type=int, default=0)
    ap.add_argument("--expire-link", type=int)
    ap.add_argument("--fail-chunk", type=int)
    ap.add_argument("--short-chunk", type=int)
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
