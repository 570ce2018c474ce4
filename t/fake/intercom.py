#!/usr/bin/env python3
"""intercom.py - a fake of Intercom's contacts API, REST 2.14 (stdlib only).

After ../shared/reference/destinations.md section 6 and destinations-2.md
(lookups): what rx-push's intercom-contacts profile must get right.

  POST   /contacts                  create {"role","external_id","email",...,"custom_attributes"} -> the contact
  PUT    /contacts/{id}             update -> the contact; 404 when there is no such contact
  DELETE /contacts/{id}             -> {"id","external_id","type":"contact","deleted":true}; 404 when gone
  POST   /contacts/{id}/archive     -> {"id","external_id","type":"contact","archived":true}
  POST   /contacts/search           {"query":{"field","operator":"="|"IN","value"},"pagination":{"per_page"}}
  GET    /me                        the admin the token belongs to (rx-push --test-connection)
  GET    /_state                    {"contacts":{id:{...}},counters...}
  POST   /_seed                     a contact made outside rx, even a twin -> the contact (indexed;
                                    /_seed?fresh=1: made just now, not yet searchable
                                    with --search-lag)

Faithful where it matters:
  - one contact a request; ids are Intercom's own (24 hex digits);
  - every failure is {"type":"error.list","request_id","errors":[{"code","message"}]};
  - a create whose e-mail or external_id a contact of the same role
    already has is a 409 conflict; an update taking another contact's
    e-mail too;
  - e-mail must contain "@"; a top-level field Intercom does not know,
    or a custom attribute that is an object or array, is a 400;
  - search is eventually consistent: with --search-lag N, a contact
    created or changed is not found by the next N searches (counted, not
    timed, so that a test does not depend on the machine's speed);
  - per_page at most 150; a search page shows at most per_page contacts
    and the total_count of all matches;
  - Bearer auth (--token), 401 "unauthorized" otherwise; --read-token T
    is a token without write scope: its writes get 403;
  - --throttle-first N answers the first N requests 429 (with the
    headers), --seed-count N starts with N contacts (ids 1..N as 24 hex
    digits, e-mails sN@example.com, external ids SN);
  - the rate limit (--rate N/SECONDS, default 1666/10: 10,000 a minute
    per app, distributed into 10-second windows), counted in a sliding
    window (stricter than Intercom's windows: any SECONDS hold at most
    N), with X-RateLimit-Limit, -Remaining and -Reset (a UNIX time) on
    every reply and 429 "rate_limit_exceeded" over it;
  - an Intercom-Version header is required (its absence is a violation);
    so is an id in a PUT, DELETE or archive path (rx must never send an
    empty or "null" one).
"""
import argparse
import json
import math
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIELDS = {"role", "external_id", "email", "phone", "name", "avatar", "signed_up_at", "last_seen_at",
          "owner_id", "unsubscribed_from_emails", "custom_attributes"}
lock = threading.Lock()
contacts = {}        # id -> contact
changed_at = {}      # id -> the count of searches at its last write (the search index lags behind it)
counters = {"requests": 0, "violations": 0, "throttled": 0, "unauthorized": 0, "forbidden": 0,
            "searches": 0, "creates": 0, "updates": 0, "deletes": 0, "archives": 0, "conflicts": 0,
            "not_found": 0, "invalid": 0, "max_in_window": 0, "writes": 0,
            "first_at": None, "last_at": None}
violations = []
window = deque()      # the times of the requests of the last window
args = None


def violation(why):
    counters["violations"] += 1
    violations.append(why)


def error(code, message, **extra):
    e = {"code": code, "message": message}
    e.update(extra)
    return {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [e]}


def new_id():
    while True:
        i = "%024x" % random.getrandbits(96)
        if i not in contacts:
            return i


def live(cid):
    c = contacts.get(cid)
    return c is not None and not c.get("_deleted")


def same(role, field, value, but=None):
    if value in (None, ""):
        return None
    for cid, c in contacts.items():
        if cid == but or c.get("_deleted") or c["role"] != role:
            continue
        have = c.get(field)
        if have is None:
            continue
        if (field == "email" and str(have).lower() == str(value).lower()) or (field != "email" and have == value):
            return cid
    return None


def view(c):
    return {k: v for k, v in c.items() if not k.startswith("_")}


def invalid(body):
    """a message for a body Intercom refuses, else None"""
    if not isinstance(body, dict):
        return "parameter_invalid", "the body must be a JSON object"
    for k, v in body.items():
        if k not in FIELDS:
            return "parameter_invalid", "%s is not a contact attribute (custom attributes go in custom_attributes)" % k
    email = body.get("email")
    if email is not None and (not isinstance(email, str) or (email != "" and "@" not in email)):
        return "parameter_invalid", "email is not a valid email address: %s" % json.dumps(email)
    for k in ("external_id", "role"):
        if k in body and not isinstance(body[k], str):
            return "parameter_invalid", "%s must be a string" % k
    if body.get("role") not in (None, "user", "lead"):
        return "parameter_invalid", "role must be user or lead"
    for k in ("signed_up_at", "last_seen_at", "owner_id"):
        if body.get(k) is not None and not isinstance(body[k], int):
            return "parameter_invalid", "%s must be an integer" % k
    ca = body.get("custom_attributes")
    if ca is not None:
        if not isinstance(ca, dict):
            return "parameter_invalid", "custom_attributes must be an object"
        for k, v in ca.items():
            if isinstance(v, (dict, list)):
                return "parameter_invalid", "Custom attribute '%s' must be a string, number, boolean or null" % k
    return None


def create(body, seeding=False):
    why = invalid(body)
    if why:
        counters["invalid"] += 1
        return 400, error(*why)
    role = body.get("role") or "user"
    for field in ("email", "external_id") if not seeding else ():
        other = same(role, field, body.get(field))
        if other:
            counters["conflicts"] += 1
            return 409, error("conflict", "A contact matching those details already exists with id=%s" % other)
    cid = new_id()
    c = {"type": "contact", "id": cid, "workspace_id": "ecahpwf5", "role": role, "email": None,
         "external_id": None, "phone": None, "name": None, "custom_attributes": {}}
    for k, v in body.items():
        if k != "custom_attributes":
            c[k] = v
    c["custom_attributes"] = dict(body.get("custom_attributes") or {})
    c["role"] = role
    contacts[cid] = c
    changed_at[cid] = counters["searches"]
    if not seeding:
        counters["creates"] += 1
    return 200, view(c)


def update(cid, body):
    if not live(cid):
        counters["not_found"] += 1
        return 404, error("not_found", "User Not Found")
    why = invalid(body)
    if why:
        counters["invalid"] += 1
        return 400, error(*why)
    c = contacts[cid]
    role = body.get("role") or c["role"]
    for field in ("email", "external_id"):
        other = same(role, field, body.get(field), but=cid)
        if other:
            counters["conflicts"] += 1
            return 409, error("conflict", "A contact matching those details already exists with id=%s" % other)
    for k, v in body.items():
        if k == "custom_attributes":
            c["custom_attributes"].update(v or {})
        else:
            c[k] = v
    changed_at[cid] = counters["searches"]
    counters["updates"] += 1
    return 200, view(c)


def search(body):
    counters["searches"] += 1
    q = body.get("query") if isinstance(body, dict) else None
    if not isinstance(q, dict) or "field" not in q or q.get("operator") not in ("=", "IN"):
        return 400, error("parameter_invalid", "this fake searches one field with = or IN")
    per = (body.get("pagination") or {}).get("per_page", 50)
    if not isinstance(per, int) or per < 1 or per > 150:
        return 400, error("parameter_invalid", "per_page must be between 1 and 150")
    values = q["value"] if q["operator"] == "IN" else [q["value"]]
    if not isinstance(values, list):
        return 400, error("parameter_invalid", "IN takes an array")
    field = q["field"]
    want = set(str(v).lower() if field == "email" else v for v in values)
    found = []
    for cid, c in contacts.items():
        if c.get("_deleted") or c.get("_archived"):
            continue
        if counters["searches"] - changed_at.get(cid, -1) <= args.search_lag:
            continue  # not indexed yet
        v = c.get(field)
        if v is None:
            continue
        if (str(v).lower() if field == "email" else v) in want:
            found.append(view(c))
    return 200, {"type": "list", "data": found[:per], "total_count": len(found),
                 "pages": {"type": "pages", "page": 1, "per_page": per,
                           "total_pages": max(1, math.ceil(len(found) / per))}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send(self, status, doc, headers=None):
        data = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None, True
        try:
            return json.loads(raw), True
        except ValueError:
            return None, False

    def handle_any(self, method):
        body, parsed = self.body()
        path = self.path.split("?", 1)[0]
        if path == "/_state" and method == "GET":
            with lock:
                self.send(200, {"contacts": {k: view(c) for k, c in contacts.items() if not c.get("_deleted")},
                                "archived": sorted(k for k, c in contacts.items() if c.get("_archived")),
                                "violations_list": violations, **counters})
            return
        if path == "/_seed" and method == "POST":
            with lock:
                status, reply = create(body, seeding=True)
                if status == 200 and "fresh=1" not in self.path:
                    changed_at[reply["id"]] = -args.search_lag - 1  # made long ago: indexed
            self.send(status, reply)
            return
        with lock:
            counters["requests"] += 1
            now = time.time()
            limit, per = args.rate
            while window and now - window[0] >= per:
                window.popleft()
            reset = int(math.ceil(window[0] + per)) if window else int(math.ceil(now + per))
            head = {"X-RateLimit-Limit": limit, "X-RateLimit-Reset": reset}
            if len(window) >= limit or counters["requests"] <= args.throttle_first:
                counters["throttled"] += 1
                head["X-RateLimit-Remaining"] = 0
                self.send(429, error("rate_limit_exceeded", "You have exceeded the rate limit. Please try again later."),
                          head)
                return
            window.append(now)
            counters["max_in_window"] = max(counters["max_in_window"], len(window))
            head["X-RateLimit-Remaining"] = limit - len(window)
            auth = self.headers.get("Authorization") or ""
            if auth not in ("Bearer " + args.token, "Bearer " + (args.read_token or args.token)):
                counters["unauthorized"] += 1
                self.send(401, error("unauthorized", "Access Token Invalid"), head)
                return
            if not self.headers.get("Intercom-Version"):
                violation("%s %s without an Intercom-Version header" % (method, path))
            if not parsed:
                self.send(400, error("parameter_invalid", "the body is not JSON"), head)
                return
            parts = path.strip("/").split("/")
            if method == "GET" and parts == ["me"]:
                self.send(200, {"type": "admin", "id": "991267", "email": "admin@example.com", "name": "Ada Admin",
                                "app": {"type": "app", "id_code": "ecahpwf5", "name": "Acme"}}, head)
                return
            if parts[0] != "contacts" or len(parts) > 3:
                self.send(404, error("not_found", "no such route: %s %s" % (method, path)), head)
                return
            if method != "GET" and args.read_token and auth == "Bearer " + args.read_token:
                counters["forbidden"] += 1
                self.send(403, error("token_unauthorized", "The access token does not have the write_users scope"),
                          head)
                return
            if len(parts) >= 2 and parts[1] != "search" and (parts[1] in ("", "null", "None") or len(parts[1]) != 24):
                violation("%s %s: not an Intercom id" % (method, path))
            if method == "POST" and parts == ["contacts"]:
                status, reply = create(body)
            elif method == "POST" and parts == ["contacts", "search"]:
                status, reply = search(body)
            elif method == "PUT" and len(parts) == 2:
                status, reply = update(parts[1], body)
            elif method == "DELETE" and len(parts) == 2:
                if live(parts[1]):
                    c = contacts[parts[1]]
                    c["_deleted"] = True
                    counters["deletes"] += 1
                    status, reply = 200, {"id": c["id"], "external_id": c.get("external_id"), "type": "contact",
                                          "deleted": True}
                else:
                    counters["not_found"] += 1
                    status, reply = 404, error("not_found", "User Not Found")
            elif method == "POST" and len(parts) == 3 and parts[2] == "archive":
                if live(parts[1]):
                    c = contacts[parts[1]]
                    c["_archived"] = True
                    counters["archives"] += 1
                    status, reply = 200, {"id": c["id"], "external_id": c.get("external_id"), "type": "contact",
                                          "archived": True}
                else:
                    counters["not_found"] += 1
                    status, reply = 404, error("not_found", "User Not Found")
            else:
                status, reply = 404, error("not_found", "no such route: %s %s" % (method, path))
            if parts != ["contacts", "search"]:
                counters["writes"] += 1
                t = time.monotonic()
                if counters["first_at"] is None:
                    counters["first_at"] = t
                counters["last_at"] = t
        self.send(status, reply, head)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--token", required=True)
    ap.add_argument("--read-token")
    ap.add_argument("--rate", default="1666/10")
    ap.add_argument("--search-lag", type=int, default=0)
    ap.add_argument("--throttle-first", type=int, default=0)
    ap.add_argument("--seed-count", type=int, default=0)
    a = ap.parse_args()
    for i in range(a.seed_count):
        cid = "%024x" % (i + 1)
        contacts[cid] = {"type": "contact", "id": cid, "workspace_id": "ecahpwf5", "role": "user",
                         "email": "s%d@example.com" % (i + 1), "external_id": "S%d" % (i + 1), "phone": None,
                         "name": None, "custom_attributes": {}}
    n, s = a.rate.split("/")
    a.rate = (int(n), float(s))
    args = a
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True

    def stop(*_):
        if a.state_file:
            with open(a.state_file, "w") as f:
                json.dump({"contacts": contacts, **counters}, f)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
