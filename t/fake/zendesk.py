#!/usr/bin/env python3
"""zendesk.py - a fake of Zendesk Support's users bulk API and job statuses
(stdlib only), after ../shared/reference/destinations-2.md sections 16
and 34.

  POST   /api/v2/users/create_or_update_many.json  {"users":[..<=100]} -> 200 {"job_status":{...queued}}
  DELETE /api/v2/users/destroy_many.json?external_ids=a,b        -> 200 {"job_status":{...queued}}
  GET    /api/v2/job_statuses/{id}.json                          -> {"job_status":{status, progress, results}}
  GET    /_state                                                 {"users":{external_id:{...}}, counters}

A job is a promise: nothing is applied when it is submitted.  It goes
queued -> working -> completed after --polls N polls of it (default 2),
and only then are its users written (or deleted).  Its results are in
request order: {"id", "status": "Created"|"Updated", "email",
"external_id"} for a written user, {"id" (its external id), "action":
"delete", "status": "Deleted", "success": true} for a deleted one
(--delete-result JSON puts
members over it), {"index", "error", "details", "status": "Failed"} for
a failure (an e-mail without "@", or "_reject": true).
A job polled after --expire-polls polls is gone (404).  Basic auth as
Zendesk's API tokens use it ("{email}/token:{token}"), checked when
--token is given; over --rate N/SECONDS: 429 with Retry-After.
"""
import argparse
import base64
import json
import signal
import sys
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
users = {}
jobs = {}
counters = {"requests": 0, "submitted": 0, "polls": 0, "throttled": 0, "unauthorized": 0, "violations": 0,
            "applied": 0}
window = deque()
next_user = [900]
next_job = [0]
args = None


def run_job(j):
    """Apply a job's work, once, and fill its results."""
    results = []
    for i, u in enumerate(j["work"]):
        if j["kind"] == "delete":
            ext = u
            if ext in users:
                del users[ext]
            # the result Zendesk's reference shows for Bulk Delete Users
            # (its OpenAPI example), its "id" the external id, a string, as
            # a delete by external_ids answers (cloudbees-oss/zendesk-java-client
            # issue 561); what a user not found gets is not documented.
            # --delete-result: members put over it (a reply rx must not
            # take for a deletion).
            results.append(dict({"id": ext, "action": "delete", "status": "Deleted", "success": True},
                                **json.loads(args.delete_result or "{}")))
            continue
        email = u.get("email")
        if u.get("_reject") or (email is not None and "@" not in email):
            results.append({"index": i, "error": "UserCreateError",
                            "details": "Email: %s is not properly formatted" % email, "status": "Failed"})
            continue
        ext = str(u.get("external_id"))
        if ext in users:
            users[ext].update(u)
            status = "Updated"
        else:
            next_user[0] += 1
            users[ext] = dict(u, id=next_user[0])
            status = "Created"
        results.append({"id": users[ext]["id"], "status": status, "email": email, "external_id": ext})
    counters["applied"] += len(j["work"])
    j["results"] = results


def job_status(j):
    return {"id": j["id"], "url": "/api/v2/job_statuses/%s.json" % j["id"], "total": len(j["work"]),
            "status": j["status"], "progress": len(j["work"]) if j["status"] == "completed" else None,
            "message": None, "results": j.get("results")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send(self, status, doc, headers=None):
        data = json.dumps(doc).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def guard(self):
        """Auth and the rate limit: True when the request may go on."""
        counters["requests"] += 1
        if args.token:
            want = "Basic " + base64.b64encode(("agent@example.com/token:" + args.token).encode()).decode()
            if self.headers.get("Authorization") != want:
                counters["unauthorized"] += 1
                self.send(401, {"error": "Couldn't authenticate you"})
                return False
        if args.rate:
            n, per = args.rate
            now = time.monotonic()
            while window and now - window[0] > per:
                window.popleft()
            if len(window) >= n:
                counters["throttled"] += 1
                self.send(429, {"error": "TooManyRequests", "description": "Rate limit exceeded"},
                          {"Retry-After": max(1, int(per - (now - window[0])) + 1)})
                return False
            window.append(now)
        return True

    def submit(self, kind, work):
        next_job[0] += 1
        jid = "8b72%04d" % next_job[0]
        jobs[jid] = {"id": jid, "kind": kind, "work": work, "status": "queued", "polls": 0}
        counters["submitted"] += 1
        self.send(200, {"job_status": job_status(jobs[jid])})

    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        with lock:
            if path == "/_state":
                self.send(200, {"users": users, "jobs": len(jobs), **counters})
                return
            if not self.guard():
                return
            if path == "/api/v2/users/me.json":
                self.send(200, {"user": {"id": 1, "name": "Agent", "role": "admin"}})
                return
            if path.startswith("/api/v2/job_statuses/") and path.endswith(".json"):
                jid = path[len("/api/v2/job_statuses/"):-5]
                j = jobs.get(jid)
                if j is None:
                    self.send(404, {"error": "RecordNotFound", "description": "Not found"})
                    return
                counters["polls"] += 1
                j["polls"] += 1
                if args.expire_polls and j["polls"] > args.expire_polls:
                    del jobs[jid]
                    self.send(404, {"error": "RecordNotFound", "description": "Not found"})
                    return
                if j["status"] == "queued":
                    j["status"] = "working"
                elif j["status"] == "working" and j["polls"] >= args.polls:
                    run_job(j)
                    j["status"] = "completed"
                self.send(200, {"job_status": job_status(j)})
                return
        self.send(404, {"error": "InvalidEndpoint"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        with lock:
            if not self.guard():
                return
            if urllib.parse.urlparse(self.path).path != "/api/v2/users/create_or_update_many.json":
                self.send(404, {"error": "InvalidEndpoint"})
                return
            try:
                body = json.loads(raw)
                work = body["users"]
                assert isinstance(work, list)
            except (ValueError, KeyError, AssertionError):
                self.send(400, {"error": "InvalidValue", "description": "users must be an array"})
                return
            if len(work) > 100:
                counters["violations"] += 1
                self.send(400, {"error": "InvalidValue", "description": "Too many users (100 at most)"})
                return
            if any(u.get("external_id") in (None, "") and not u.get("email") for u in work):
                counters["violations"] += 1
            self.submit("upsert", work)

    def do_DELETE(self):
        u = urllib.parse.urlparse(self.path)
        with lock:
            if not self.guard():
                return
            if u.path != "/api/v2/users/destroy_many.json":
                self.send(404, {"error": "InvalidEndpoint"})
                return
            q = urllib.parse.parse_qs(u.query)
            ext = q.get("external_ids", [""])[0].split(",") if q.get("external_ids") else []
            if not ext or len(ext) > 100 or "" in ext:
                counters["violations"] += 1
                self.send(400, {"error": "InvalidValue", "description": "external_ids: 1 to 100 values"})
                return
            self.submit("delete", ext)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--token")
    ap.add_argument("--polls", type=int, default=2)
    ap.add_argument("--expire-polls", type=int, default=0)
    ap.add_argument("--rate")
    ap.add_argument("--delete-result", help="JSON members over each delete job's result")
    a = ap.parse_args()
    if a.rate:
        n, s = a.rate.split("/")
        a.rate = (int(n), float(s))
    args = a
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
