"""jobsbase.py - what the fakes of the job-based destinations share
(t/fake/klaviyo.py, sendgrid.py, intercom.py, googleads.py; stdlib only):
a JSON reply, the request's body, fixed-window rate limits per endpoint
class, the state document, and the server's start (a port file,
SIGTERM).  A fake is a Handler subclass with route(method, path, query,
body) returning (status, doc[, headers]) or None (404)."""
import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
counters = {"requests": 0, "throttled": 0, "unauthorized": 0, "violations": 0, "polls": 0, "submitted": 0,
            "applied": 0, "max_in_window": 0}
violations = []
args = None


class Windows:
    """Fixed windows, as Klaviyo, Intercom and SendGrid count them: at
    most n requests in each period of `per` seconds aligned to the epoch
    (per class of endpoint).  take() is True when the request may go on;
    else the seconds to the window's end."""

    def __init__(self, limits):
        self.limits = limits  # [(n, per)]
        self.count = {}

    def take(self, now=None):
        now = time.time() if now is None else now
        wait = 0
        for n, per in self.limits:
            w = int(now // per)
            if self.count.get((per, w), 0) >= n:
                wait = max(wait, (w + 1) * per - now)
        if wait > 0:
            return wait
        for n, per in self.limits:
            w = int(now // per)
            self.count[(per, w)] = self.count.get((per, w), 0) + 1
            counters["max_in_window"] = max(counters["max_in_window"], self.count[(per, w)])
        return True

    def remaining(self, now=None):
        """(limit, remaining, seconds to reset) of the longest window."""
        now = time.time() if now is None else now
        n, per = self.limits[-1]
        w = int(now // per)
        return n, max(0, n - self.count.get((per, w), 0)), (w + 1) * per - now


def violation(what):
    counters["violations"] += 1
    violations.append(what)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    content_type = "application/json"

    def log_message(self, fmt, *a):
        pass

    def send(self, status, doc, headers=None):
        data = b"" if doc is None else (doc if isinstance(doc, bytes) else json.dumps(doc).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if doc is not None:
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def state(self):
        return {}

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        u = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        with lock:
            if u.path == "/_state":
                self.send(200, dict(self.state(), **counters, violation_list=violations[-20:]))
                return
            counters["requests"] += 1
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps({"method": self.command, "path": self.path, "t": time.time(),
                                        "headers": dict(self.headers.items()),
                                        "body": raw.decode("utf-8", "replace")}) + "\n")
            out = self.route(self.command, u.path, query, raw)
        if out is None:
            self.send(404, {"error": "no such endpoint: %s %s" % (self.command, u.path)})
            return
        self.send(*out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def parser():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--token")
    ap.add_argument("--log")
    ap.add_argument("--sink", action="store_true", help="keep nothing (a loopback sink for make bench)")
    ap.add_argument("--throttle-first", type=int, default=0, help="the first K requests get the vendor's throttle")
    return ap


def serve(handler, a):
    global args
    args = a
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()
