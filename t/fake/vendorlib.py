"""vendorlib.py - what the vendor fakes of t/fake/ share (stdlib only).

A vendor fake (t/fake/braze.py, iterable.py, ...) is a small module that
copies one SaaS API as ../shared/reference/destinations*.md describes it:
its endpoints, its auth, its partial failures in its own shape, and its
rate-limit signals.  This library is the server around it, the same for
every vendor, and keeps the state document of t/lib-fake.sh
(fake_state, fake_records, fake_count), so a test reads a vendor fake as
it reads fake-dest.py.

A vendor module defines a class with:
  name                      for messages
  auth(req)                 None when the request carries the credential
                            (--key), else the vendor's refusal (a Reply)
  handle(req)               the reply; stores what it accepts (store/drop)
  throttle(req, wait)       the vendor's reply when --rate is exceeded
  busy(req)                 ... when --max-inflight requests are running
  quota(req)                ... when --quota requests were accepted
  headers(req, window)      headers on every reply (rate-limit headers);
                            window: (limit, remaining, reset epoch) or None
  routes_free(req)          True for requests that are not rate-limited
                            (an OAuth token endpoint)
and calls vendorlib.main(VendorClass).  A reply is (status, body,
headers): body a dict/list (sent as JSON), a str or bytes (sent as is),
or None (no body).

Switches (every vendor):
  --port-file FILE     the port, once it listens on 127.0.0.1
  --state-file FILE    the state document, after each request and at exit
  --log FILE           each request: {"method","path","headers","body"}
  --key KEY            the credential the vendor accepts (its meaning is
                       the vendor's: a bearer token, an API key, a password)
  --rate N/SECONDS     at most N requests in any sliding window; over it,
                       the vendor's throttle reply.  A request arriving
                       before a wait the fake announced has passed (250 ms
                       of grace) counts as a violation.
  --max-inflight N     requests being served at once; over it, busy()
  --quota N            accepted requests before quota() answers
  --fail-every K       every K-th request gets 503
  --slow-ms MS         every request waits MS before it is answered
  --token-uses N       (OAuth vendors) an issued token expires after N uses

A record is invalid -- rejected in the vendor's own way -- when its row
(the attributes the vendor got) has an "email" without "@", or
"_reject": true; vendors add their own rules (Amplitude's 5-character ids).
"""
import argparse
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LOCK = threading.RLock()
STATE = {
    "records": {}, "deleted": [], "requests": 0, "accepted": 0, "accepted_requests": 0,
    "throttled": 0, "violations": 0, "quota_refusals": 0, "busy": 0, "errors": 0,
    "unauthorized": 0, "tokens_issued": 0, "max_in_window": 0, "max_inflight": 0,
    "first_at": None, "last_at": None,
}
OPT = None
ADMITTED = deque()
BLOCKED = {"until": 0.0, "announced": 0.0}
INFLIGHT = [0]
TOKENS = {}


class Req:
    """One request: method, path (decoded, no query), target (as sent),
    query (dict of lists), headers (names lowercased), raw (bytes),
    json (parsed, or None), form (dict of lists, for form bodies)."""

    def __init__(self, method, target, headers, raw):
        self.method = method
        self.target = target
        u = urlsplit(target)
        self.path = unquote(u.path)
        self.raw_path = u.path
        self.query = parse_qs(u.query, keep_blank_values=True)
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.raw = raw
        self.json = None
        self.form = {}
        ctype = self.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            self.form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        elif raw:
            try:
                self.json = json.loads(raw.decode("utf-8"))
            except ValueError:
                self.json = None

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None

    def f(self, name):
        v = self.form.get(name)
        return v[0] if v else None


def invalid(row):
    """The common rule: why a row is refused, or None."""
    if not isinstance(row, dict):
        return "the record is not an object"
    if row.get("_reject") is True:
        return "rejected by the destination's validation"
    e = row.get("email")
    if isinstance(e, str) and "@" not in e:
        return "'%s' is not a valid email" % e
    return None


def store(key, row, op="upsert"):
    with LOCK:
        STATE["records"][str(key)] = {"op": op, "hash": None, "row": row}
        STATE["accepted"] += 1


def stored(key):
    with LOCK:
        r = STATE["records"].get(str(key))
        return None if r is None else r["row"]


def drop(key):
    """Delete; True if it was there."""
    with LOCK:
        had = STATE["records"].pop(str(key), None) is not None
        STATE["deleted"].append(str(key))
        STATE["accepted"] += 1
        return had


def issue_token(suffix=""):
    with LOCK:
        STATE["tokens_issued"] += 1
        tok = "tok-%d%s" % (STATE["tokens_issued"], suffix)
        TOKENS[tok] = OPT.token_uses if OPT.token_uses else 10 ** 9
        return tok


def use_token(tok):
    """'ok', 'expired' (issued, used up) or 'invalid'."""
    with LOCK:
        if tok not in TOKENS:
            return "invalid"
        if TOKENS[tok] <= 0:
            return "expired"
        TOKENS[tok] -= 1
        return "ok"


def count(name, n=1):
    with LOCK:
        STATE[name] += n


def dump_state():
    with LOCK:
        return json.dumps(STATE, sort_keys=True, separators=(",", ":"))


def write_state_file():
    if OPT.state_file:
        tmp = OPT.state_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(dump_state() + "\n")
        os.replace(tmp, OPT.state_file)


class Base:
    """Defaults a vendor overrides."""
    name = "vendor"

    def auth(self, req):
        return None

    def throttle(self, req, wait):
        return 429, {"message": "rate limit exceeded"}, {"Retry-After": str(max(1, math.ceil(wait)))}

    def busy(self, req):
        return 429, {"message": "too many concurrent requests"}, {}

    def quota(self, req):
        return 429, {"message": "daily quota exceeded"}, {}

    def headers(self, req, window):
        return {}

    def routes_free(self, req):
        return False

    def handle(self, req):
        return 404, {"message": "no such endpoint"}, {}


def rate_window(now):
    """(limit, remaining, reset epoch) of the --rate window, or None."""
    if not OPT.rate:
        return None
    limit, per = OPT.rate
    reset = (ADMITTED[0] + per) if ADMITTED else now + per
    return limit, max(0, limit - len(ADMITTED)), reset


def make_handler(vendor):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send(self, status, body, headers):
            if body is None:
                data, ctype = b"", None
            elif isinstance(body, bytes):
                data, ctype = body, "text/plain"
            elif isinstance(body, str):
                data, ctype = body.encode(), "text/plain"
            else:
                data, ctype = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            names = {k.lower() for k in headers}
            if ctype and "content-type" not in names:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if data:
                self.wfile.write(data)

        def serve(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            if urlsplit(self.path).path == "/_state":
                return self.send(200, json.loads(dump_state()), {})
            now = time.time()
            req = Req(self.command, self.path, self.headers, raw)
            if OPT.log:
                with LOCK, open(OPT.log, "a") as f:
                    f.write(json.dumps({"method": self.command, "path": self.path, "headers": req.headers,
                                        "body": raw.decode("utf-8", "replace")}) + "\n")
            free = vendor.routes_free(req)
            with LOCK:
                if not free:
                    STATE["requests"] += 1
                INFLIGHT[0] += 1
                STATE["max_inflight"] = max(STATE["max_inflight"], INFLIGHT[0])
                inflight = INFLIGHT[0]
                nreq = STATE["requests"]
            try:
                status, body, headers = self.decide(req, now, free, inflight, nreq)
            finally:
                with LOCK:
                    INFLIGHT[0] -= 1
            with LOCK:
                extra = vendor.headers(req, rate_window(time.time()))
            for k, v in extra.items():
                headers.setdefault(k, v)
            self.send(status, body, headers)
            with LOCK:
                write_state_file()

        def decide(self, req, now, free, inflight, nreq):
            if free:
                return vendor.handle(req)
            refused = vendor.auth(req)
            if refused is not None:
                count("unauthorized")
                return refused
            if OPT.max_inflight and inflight > OPT.max_inflight:
                count("busy")
                return vendor.busy(req)
            if OPT.rate:
                limit, per = OPT.rate
                with LOCK:
                    while ADMITTED and ADMITTED[0] <= now - per:
                        ADMITTED.popleft()
                    if now < BLOCKED["until"] and now > BLOCKED["announced"] + 0.25:
                        STATE["violations"] += 1
                    over = len(ADMITTED) >= limit
                    if over:
                        wait = ADMITTED[0] + per - now
                        STATE["throttled"] += 1
                        BLOCKED["until"] = max(BLOCKED["until"], now + wait)
                        BLOCKED["announced"] = now
                    else:
                        ADMITTED.append(now)
                        STATE["max_in_window"] = max(STATE["max_in_window"], len(ADMITTED))
                if over:
                    return vendor.throttle(req, wait)
            if OPT.quota is not None:
                with LOCK:
                    over = STATE["accepted_requests"] >= OPT.quota
                    if over:
                        STATE["quota_refusals"] += 1
                if over:
                    return vendor.quota(req)
            if OPT.fail_every and nreq % OPT.fail_every == 0:
                count("errors")
                return 503, {"message": "service unavailable"}, {}
            if OPT.slow_ms:
                time.sleep(OPT.slow_ms / 1000.0)
            with LOCK:
                try:
                    status, body, headers = vendor.handle(req)
                except (AttributeError, TypeError, KeyError, ValueError) as e:
                    status, body, headers = 400, {"message": "malformed request: %s" % e}, {}
                STATE["accepted_requests"] += 1
                t = time.time()
                if STATE["first_at"] is None:
                    STATE["first_at"] = t
                STATE["last_at"] = t
            return status, body, headers

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = serve

    return Handler


def parse_rate(s):
    n, w = s.split("/")
    return int(n), float(w)


def main(vendor_class, add_args=None):
    global OPT
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--log")
    ap.add_argument("--key")
    ap.add_argument("--rate", type=parse_rate)
    ap.add_argument("--max-inflight", type=int, default=0)
    ap.add_argument("--quota", type=int)
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--slow-ms", type=int, default=0)
    ap.add_argument("--token-uses", type=int, default=0)
    if add_args:
        add_args(ap)
    OPT = ap.parse_args()
    vendor = vendor_class(OPT)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(vendor))

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
