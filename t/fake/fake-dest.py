#!/usr/bin/env python3
"""fake-dest.py - a fake destination API for rx-push's tests (stdlib only).

Listens on 127.0.0.1, port 0 (the kernel picks one), and writes the port
to --port-file once it accepts connections.  Start and stop it with the
helpers of t/lib-fake.sh (fake_start, fake_state, fake_stop).

Endpoints
  POST|PUT|PATCH|DELETE any path   the destination: records in the body
                                   (shape set by --family), a reply in that
                                   family's format
  GET  /_state                     what the destination holds, and counters:
       {"records": {KEY: {"op","hash","row"}}, "deleted": [KEY...],
        "requests", "accepted", "throttled", "violations", "quota_refusals",
        "errors", "drops", "unauthorized", "tokens_issued",
        "max_in_window", "max_inflight", "first_admitted", "last_admitted"}
       (the last two: when the first and the last request the --rate
       window admitted arrived, in seconds since the epoch)
  POST /oauth/token                OAuth2 token endpoint (client_credentials
                                   with client_id=rx, client_secret=s3cret,
                                   or refresh_token=r3fresh)

A record is invalid (rejected in the family's way) when its row has an
"email" without "@", or "_reject": true.  Everything valid is stored
under its key; a webhook delete removes the key (and lists it in
"deleted").  --state-file FILE: the /_state document is also written
there at exit (SIGTERM) and after every request.

Families (--family), after destinations.md "Common patterns":
  webhook       {"op","records":[change]} -> 200 {"results":[{"ok":true,"id"}|
                {"ok":false,"error"}]} in order (rx's own webhook contract); a
                row with "_flaky": true fails once with "retry": true
  positional    Salesforce collections: {"records":[{"Ext_Id__c":key,...}]}
                -> 200 [{"id","success","errors":[{"statusCode","message"}]}]
  correlation   HubSpot batch: {"inputs":[{"id":key,"properties":row,
                "objectWriteTraceId"}]} -> 200 or 207 {"results":[shuffled],
                "errors":[{"message","context":{"objectWriteTraceId":[..]}}]}
  index         Braze /users/track: {"attributes":[{"external_id":key,...}]}
                -> 201 {"message":"success","errors":[{"type","input_array","index"}]}
  keyed         Iterable bulk update: {"users":[{"email","userId":key,"dataFields"}]}
                -> 200 {"successCount","failCount","invalidEmails":[email],
                "failedUpdates":{"invalidDataEmails":[email]}}
  allornothing  {"inputs":[{"id":key,"properties":row}]} -> 400 for any invalid
                record (nothing stored), else 200
  failure2xx    Mixpanel /engage: [{"$distinct_id":key,"$set":row}] -> always 200;
                {"status":0,"error":...} (nothing stored) or {"status":1,"error":null}
  success4xx    Mixpanel /import strict: [{"event","properties":{"distinct_id":key,
                "$insert_id",...}}] -> 400 with failed_records[{index,insert_id,message}]
                and the valid ones stored, or 200

Switches
  --rate N/SECONDS      admit at most N requests in any sliding window; over it:
                        429 and a wait hint (--hint seconds|date|reset|body|none);
                        a request arriving before an announced wait has passed
                        (250 ms of grace for requests already in flight) counts
                        as a violation
  --quota N             after N accepted requests, refuse with --quota-style
                        429 (HubSpot policyName DAILY) or 403 (Salesforce
                        REQUEST_LIMIT_EXCEEDED)
  --fail-first K        the first K requests get 503
  --fail-every K        every K-th request gets 503
  --slow-every K --slow-ms MS   every K-th request waits MS before replying
                                (a row's "_slow_ms": N makes its own request wait N ms)
  --drop-every K        every K-th request: the connection is closed, no reply
  --token T             require "Authorization: Bearer T"
  --oauth               require a token issued by /oauth/token
  --token-uses N        an issued token expires after N requests (401 then)
  --window SECONDS      window for max_in_window (default the --rate window, or 1)
  --log FILE            append each request: {"method","path","headers","body"}
"""
import argparse
import email.utils
import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
STATE = {
    "records": {}, "deleted": [], "requests": 0, "accepted": 0, "throttled": 0,
    "violations": 0, "quota_refusals": 0, "errors": 0, "drops": 0,
    "unauthorized": 0, "tokens_issued": 0, "max_in_window": 0, "max_inflight": 0,
    "accepted_requests": 0, "first_admitted": 0.0, "last_admitted": 0.0,
}
ADMITTED = deque()      # arrival times of admitted requests (rate window)
ARRIVALS = deque()      # arrival times of all requests (max_in_window)
BLOCKED = {"until": 0.0, "announced": 0.0}
TOKENS = {}             # token -> uses left
INFLIGHT = [0]
OPT = None


def invalid(row):
    if not isinstance(row, dict):
        return "the row is not an object"
    if row.get("_reject") is True:
        return "rejected by the destination's validation"
    e = row.get("email")
    if isinstance(e, str) and "@" not in e:
        return "'%s' is not a valid email" % e
    return None


def store(key, row, op="upsert", hash_=None):
    k = key if isinstance(key, str) else json.dumps(key, separators=(",", ":"))
    if op == "delete":
        STATE["records"].pop(k, None)
        STATE["deleted"].append(k)
    else:
        STATE["records"][k] = {"op": op, "hash": hash_, "row": row}
    STATE["accepted"] += 1


def dump_state():
    return json.dumps(STATE, sort_keys=True, separators=(",", ":"))


def write_state_file():
    if OPT.state_file:
        tmp = OPT.state_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(dump_state() + "\n")
        os.replace(tmp, OPT.state_file)


# ---- families: (records from the body) and (reply for the results) ----
# each handler returns (status, body) and stores what it accepts

FLAKY_SEEN = set()


def fam_webhook(body):
    results = []
    for rec in body.get("records", []):
        row = rec.get("row")
        if isinstance(row, dict) and row.get("_flaky") and rec.get("key") not in FLAKY_SEEN:
            FLAKY_SEEN.add(rec.get("key"))
            results.append({"ok": False, "retry": True, "error": "busy, try again"})
            continue
        why = invalid(rec.get("row")) if rec.get("op") != "delete" else None
        if why:
            results.append({"ok": False, "error": why})
        else:
            store(rec.get("key"), rec.get("row"), rec.get("op", "upsert"), rec.get("hash"))
            results.append({"ok": True, "id": "d-%s" % rec.get("key")})
    return 200, {"results": results}


def fam_positional(body):
    out = []
    for rec in body.get("records", []):
        key = rec.get("Ext_Id__c")
        row = {k: v for k, v in rec.items() if k not in ("attributes", "Ext_Id__c")}
        why = invalid(row)
        if why:
            out.append({"id": None, "success": False, "created": False,
                        "errors": [{"statusCode": "INVALID_EMAIL_ADDRESS", "message": why, "fields": ["email"]}]})
        else:
            store(key, row)
            out.append({"id": "003-%s" % key, "success": True, "errors": [], "created": True})
    return 200, out


def fam_correlation(body):
    results, errors = [], []
    for inp in body.get("inputs", []):
        why = invalid(inp.get("properties"))
        if why:
            errors.append({"status": "error", "category": "VALIDATION_ERROR", "message": why,
                           "context": {"objectWriteTraceId": [inp.get("objectWriteTraceId")]}})
        else:
            store(inp.get("id"), inp.get("properties"))
            results.append({"id": "hs-%s" % inp.get("id"), "properties": inp.get("properties"),
                            "objectWriteTraceId": inp.get("objectWriteTraceId"), "new": True})
    random.shuffle(results)   # no documented order: correlate by trace id
    doc = {"status": "COMPLETE", "results": results}
    if errors:
        doc["numErrors"] = len(errors)
        doc["errors"] = errors
        return 207, doc
    return 200, doc


def fam_index(body):
    errors = []
    ok = 0
    for i, a in enumerate(body.get("attributes", [])):
        row = {k: v for k, v in a.items() if k != "external_id"}
        why = invalid(row)
        if why:
            errors.append({"type": why, "input_array": "attributes", "index": i})
        else:
            store(a.get("external_id"), row)
            ok += 1
    doc = {"message": "success", "attributes_processed": ok}
    if errors:
        doc["errors"] = errors
    return 201, doc


def fam_keyed(body):
    bad_emails, bad_data = [], []
    ok = 0
    for u in body.get("users", []):
        row = u.get("dataFields")
        why = invalid(row)
        if why and "email" in why:
            bad_emails.append(u.get("email"))
        elif why:
            bad_data.append(u.get("email"))
        else:
            store(u.get("userId"), row)
            ok += 1
    return 200, {"successCount": ok, "failCount": len(bad_emails) + len(bad_data),
                 "invalidEmails": bad_emails, "invalidUserIds": [],
                 "failedUpdates": {"invalidDataEmails": bad_data, "notFoundEmails": []}}


def fam_allornothing(body):
    inputs = body.get("inputs", [])
    for inp in inputs:
        why = invalid(inp.get("properties"))
        if why:
            return 400, {"status": "error", "category": "VALIDATION_ERROR",
                         "message": "Property values were not valid: %s" % why}
    for inp in inputs:
        store(inp.get("id"), inp.get("properties"))
    return 200, {"status": "COMPLETE"}


def fam_failure2xx(body):
    for u in body:
        why = invalid(u.get("$set"))
        if why:
            return 200, {"status": 0, "error": why}
    for u in body:
        store(u.get("$distinct_id"), u.get("$set"))
    return 200, {"status": 1, "error": None}


def fam_success4xx(body):
    failed = []
    ok = 0
    for i, ev in enumerate(body):
        props = ev.get("properties", {})
        row = {k: v for k, v in props.items() if k not in ("distinct_id", "$insert_id", "time")}
        why = invalid(row)
        if why:
            failed.append({"index": i, "insert_id": props.get("$insert_id"), "field": "properties.email",
                           "message": why})
        else:
            store(props.get("distinct_id"), row)
            ok += 1
    if failed:
        return 400, {"code": 400, "error": "some data points in the request failed validation",
                     "status": "Bad Request", "num_records_imported": ok, "failed_records": failed}
    return 200, {"code": 200, "num_records_imported": ok, "status": "OK"}


FAMILIES = {
    "webhook": fam_webhook, "positional": fam_positional, "correlation": fam_correlation,
    "index": fam_index, "keyed": fam_keyed, "allornothing": fam_allornothing,
    "failure2xx": fam_failure2xx, "success4xx": fam_success4xx,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # headers and body leave in two writes: without this, Nagle plus the
        # client's delayed ACK stall every keep-alive reply by 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, doc, headers=None):
        data = b"" if doc is None else (doc if isinstance(doc, bytes) else json.dumps(doc).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if urlsplit(self.path).path == "/_state":
            with LOCK:
                data = dump_state().encode()
            self.reply(200, data)
        else:
            self.reply(404, {"message": "not found"})

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def token(self):
        form = parse_qs(self.read_body().decode())
        get = lambda k: (form.get(k) or [None])[0]
        grant = get("grant_type")
        ok = (grant == "client_credentials" and get("client_id") == "rx" and get("client_secret") == "s3cret") or \
             (grant == "refresh_token" and get("refresh_token") == "r3fresh")
        if not ok:
            return self.reply(400, {"error": "invalid_grant"})
        with LOCK:
            STATE["tokens_issued"] += 1
            tok = "tok-%d" % STATE["tokens_issued"]
            TOKENS[tok] = OPT.token_uses if OPT.token_uses else 10 ** 9
        # the lifetime claimed is long: the token really expires by use count,
        # so the client meets a 401 and has to refresh
        self.reply(200, {"access_token": tok, "token_type": "bearer", "expires_in": 3600})

    def do_POST(self):
        path = urlsplit(self.path).path
        if path == "/oauth/token":
            return self.token()
        now = time.time()
        with LOCK:
            INFLIGHT[0] += 1
            STATE["max_inflight"] = max(STATE["max_inflight"], INFLIGHT[0])
        try:
            self.handle_write(now)
        finally:
            with LOCK:
                INFLIGHT[0] -= 1
                write_state_file()

    do_PUT = do_POST
    do_PATCH = do_POST
    do_DELETE = do_POST

    def handle_write(self, now):
        raw = self.read_body()
        if OPT.log:
            with LOCK, open(OPT.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": raw.decode("utf-8", "replace")}) + "\n")
        with LOCK:
            STATE["requests"] += 1
            nreq = STATE["requests"]
            ARRIVALS.append(now)
            while ARRIVALS and ARRIVALS[0] <= now - OPT.window:
                ARRIVALS.popleft()
            STATE["max_in_window"] = max(STATE["max_in_window"], len(ARRIVALS))
        if OPT.drop_every and nreq % OPT.drop_every == 0:
            with LOCK:
                STATE["drops"] += 1
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        # auth
        auth = self.headers.get("Authorization", "")
        if OPT.token is not None and auth != "Bearer " + OPT.token:
            with LOCK:
                STATE["unauthorized"] += 1
            return self.reply(401, {"message": "Unauthorized"})
        if OPT.oauth:
            tok = auth[7:] if auth.startswith("Bearer ") else ""
            with LOCK:
                left = TOKENS.get(tok, 0)
                if left > 0:
                    TOKENS[tok] = left - 1
                else:
                    STATE["unauthorized"] += 1
            if left <= 0:
                return self.reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        # rate limit
        if OPT.rate:
            limit, per = OPT.rate
            with LOCK:
                while ADMITTED and ADMITTED[0] <= now - per:
                    ADMITTED.popleft()
                if now < BLOCKED["until"] and now > BLOCKED["announced"] + 0.25:
                    STATE["violations"] += 1
                if len(ADMITTED) >= limit:
                    wait = ADMITTED[0] + per - now
                    STATE["throttled"] += 1
                    secs = max(1, math.ceil(wait))
                    BLOCKED["until"] = max(BLOCKED["until"], now + (secs if OPT.hint in ("seconds", "date", "reset") else wait))
                    BLOCKED["announced"] = now
                    throttle = secs
                else:
                    ADMITTED.append(now)
                    if not STATE["first_admitted"]:
                        STATE["first_admitted"] = now
                    STATE["last_admitted"] = now
                    throttle = None
            if throttle is not None:
                h = {}
                if OPT.hint == "seconds":
                    h["Retry-After"] = str(throttle)
                elif OPT.hint == "date":
                    h["Retry-After"] = email.utils.formatdate(now + throttle + 1, usegmt=True)
                elif OPT.hint == "reset":
                    h["X-RateLimit-Reset"] = str(int(now) + throttle + 1)
                    h["X-RateLimit-Remaining"] = "0"
                body = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                        "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
                if OPT.hint == "body":
                    body["retryDelay"] = "%ds" % throttle
                return self.reply(429, body, h)
        # quota
        if OPT.quota is not None:
            with LOCK:
                over = STATE["accepted_requests"] >= OPT.quota
                if over:
                    STATE["quota_refusals"] += 1
            if over:
                if OPT.quota_style == "403":
                    return self.reply(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
                return self.reply(429, {"status": "error", "message": "You have reached your daily limit.",
                                        "errorType": "RATE_LIMIT", "policyName": "DAILY"})
        # transient failures
        if (OPT.fail_first and nreq <= OPT.fail_first) or (OPT.fail_every and nreq % OPT.fail_every == 0):
            with LOCK:
                STATE["errors"] += 1
            return self.reply(503, {"message": "service unavailable, try again"})
        if OPT.slow_every and nreq % OPT.slow_every == 0:
            time.sleep(OPT.slow_ms / 1000.0)
        try:
            body = json.loads(raw.decode() or "null")
        except ValueError:
            return self.reply(400, {"message": "the body is not JSON"})
        # a row's "_slow_ms": its request waits that long before replying
        recs = body.get("records") if isinstance(body, dict) else None
        slow = [r["row"].get("_slow_ms") for r in recs or [] if isinstance(r, dict) and isinstance(r.get("row"), dict)]
        slow = [ms for ms in slow if isinstance(ms, int)]
        if slow:
            time.sleep(max(slow) / 1000.0)
        with LOCK:
            try:
                status, doc = FAMILIES[OPT.family](body)
            except (AttributeError, TypeError, KeyError) as e:
                status, doc = 400, {"message": "malformed request: %s" % e}
            STATE["accepted_requests"] += 1
        self.reply(status, doc)


def parse_rate(s):
    n, w = s.split("/")
    return int(n), float(w)


def main():
    global OPT
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--family", default="webhook", choices=sorted(FAMILIES))
    ap.add_argument("--rate", type=parse_rate)
    ap.add_argument("--hint", default="seconds", choices=["seconds", "date", "reset", "body", "none"])
    ap.add_argument("--quota", type=int)
    ap.add_argument("--quota-style", default="429", choices=["429", "403"])
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--slow-every", type=int, default=0)
    ap.add_argument("--slow-ms", type=int, default=0)
    ap.add_argument("--drop-every", type=int, default=0)
    ap.add_argument("--token")
    ap.add_argument("--oauth", action="store_true")
    ap.add_argument("--token-uses", type=int, default=0)
    ap.add_argument("--window", type=float)
    ap.add_argument("--log")
    ap.add_argument("--state-file")
    OPT = ap.parse_args()
    if OPT.window is None:
        OPT.window = OPT.rate[1] if OPT.rate else 1.0
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
