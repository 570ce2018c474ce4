#!/usr/bin/env python3
"""hubspot.py - a fake of HubSpot's CRM v3 object batch API (stdlib only).

After ../shared/reference/destinations.md section 1 and destinations-2.md
section 33: what rx-push's hubspot profiles must get right.

  POST /crm/v3/objects/{type}/batch/create   {"inputs":[{"properties","associations","objectWriteTraceId"}]}
  POST /crm/v3/objects/{type}/batch/update   {"inputs":[{"id":<hubspot id>,"properties","objectWriteTraceId"}]}
  POST /crm/v3/objects/{type}/batch/upsert   {"inputs":[{"id":<unique value>,"idProperty","properties"}]}
  POST /crm/v3/objects/{type}/batch/archive  {"inputs":[{"id":<hubspot id>}]}  -> 204, whatever was there
  POST /crm/v3/objects/{type}/batch/read     {"idProperty","properties","inputs":[{"id":<value>}]}
  POST /crm/v3/objects/{type}/search         {"filterGroups":[{"filters":[{"propertyName","operator":"EQ"|"IN","value"|"values"}]}],
                                              "properties","limit"<=200,"after"?}
  GET  /_state                               {"objects":{type:{id:{"properties","archived"}}},counters...}
  POST /_seed                                {"type","properties"}: a record made outside rx -> {"id"}

Faithful where it matters:
  - ids are HubSpot's own (numeric strings); results come back in no set
    order (shuffled), each with the input's objectWriteTraceId; a failed
    input is an entry of "errors" with context.objectWriteTraceId (create,
    upsert) or context.ids (update, read), and the reply is then 207;
  - property values must be strings: anything else fails the input;
    "email" must contain "@"; a create whose e-mail exists is a conflict;
  - at most 100 inputs, no duplicate ids in one batch (400 for the whole
    request); an archive or update with a null or missing id is a 400 and
    counts as a violation (rx must never send one);
  - a value HubSpot would not take for a property it types: "domain"
    (companies) with "@" or a space, "amount" (deals) that is not a
    number, "_reject" of any value -- the input fails, the others land;
  - Bearer auth (--token), 401 otherwise; rate limit (--rate N/SECONDS,
    default 100/10) with 429 policyName TEN_SECONDLY_ROLLING and the
    X-HubSpot-RateLimit-* headers; a request sent while over the limit
    counts in "throttled"; --throttle-first K: the first K requests
    get 429 policyName SECONDLY; --daily N: after N admitted requests, 429
    policyName DAILY (the day's quota) with X-HubSpot-RateLimit-Daily-*;
  - batch/read and batch/upsert take an idProperty only where its values
    are unique: a property HubSpot does not hold unique (companies'
    "domain", "name") is a 400 VALIDATION_ERROR "Unable to perform ... by
    non-unique 0-2 property domain" (the wording HubSpot gives an update
    or upsert; a read's own is unconfirmed), and counts as a violation;
  - search: its own limit (--search-rate N/SECONDS, default 5/1: HubSpot's
    five search requests a second), over which a 429 policyName SECONDLY
    (counted in "search_throttled"); filters ANDed in a group, groups ORed, values compared without
    regard to case; "total" counts every match, one page of "limit" (at
    most 200) with "paging.next.after" when there are more; archived
    records are not found;
  - --log FILE: each request as {"method","path","body"}, one a line.
"""
import argparse
import json
import random
import signal
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
objects = {}          # type -> id -> {"properties": {...}, "archived": bool}
counters = {"requests": 0, "violations": 0, "throttled": 0, "unauthorized": 0, "reads": 0, "admitted": 0,
            "creates": 0, "updates": 0, "archives": 0, "upserts": 0, "searches": 0, "search_throttled": 0}
violations = []
next_id = [44188066000]
window = deque()
search_window = deque()
args = None


def new_id():
    next_id[0] += 1
    return str(next_id[0])


def violation(why):
    counters["violations"] += 1
    violations.append(why)


def find_by(kind, prop, value):
    for oid, o in objects.get(kind, {}).items():
        if not o["archived"] and str(o["properties"].get(prop, "")).lower() == str(value).lower():
            return oid
    return None


# properties HubSpot does not hold unique, by object type (with its type id
# for the message)
NOT_UNIQUE = {"companies": ("0-2", {"domain", "name"})}


def not_unique(kind, prop, verb):
    tid, props = NOT_UNIQUE.get(kind, ("", set()))
    if prop not in props:
        return None
    violation("%s by the non-unique property %s of %s" % (verb, prop, kind))
    return 400, error("VALIDATION_ERROR", "Unable to perform %s by non-unique %s property %s in portal ID 1234"
                      % (verb, tid, prop))


def search(kind, body):
    """(status, reply) for POST /crm/v3/objects/{kind}/search."""
    counters["searches"] += 1
    if not isinstance(body, dict):
        return 400, error("VALIDATION_ERROR", "Invalid input JSON")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or limit < 1 or limit > 200:
        violation("search with limit %r" % (limit,))
        return 400, error("VALIDATION_ERROR", "limit must be between 1 and 200")
    groups = body.get("filterGroups") or []

    def holds(o, f):
        v = str(o["properties"].get(f.get("propertyName"), "")).lower()
        if f.get("operator") == "EQ":
            return v == str(f.get("value", "")).lower()
        if f.get("operator") == "IN":
            return v in {str(x).lower() for x in f.get("values") or []}
        return False
    for g in groups:
        for f in g.get("filters") or []:
            if f.get("operator") not in ("EQ", "IN"):
                violation("search operator %r" % f.get("operator"))
                return 400, error("VALIDATION_ERROR", "this fake knows EQ and IN only")
    hits = sorted(oid for oid, o in objects.get(kind, {}).items() if not o["archived"] and
                  (not groups or any(all(holds(o, f) for f in g.get("filters") or []) for g in groups)))
    after = int(body.get("after") or 0)
    page = hits[after:after + limit]
    want = body.get("properties") or []
    reply = {"total": len(hits),
             "results": [{"id": oid, "properties": dict({p: objects[kind][oid]["properties"].get(p) for p in want},
                                                        hs_object_id=oid),
                          "createdAt": "2026-12-01T00:00:00Z", "updatedAt": "2026-12-01T00:00:00Z",
                          "archived": False} for oid in page]}
    if after + limit < len(hits):
        reply["paging"] = {"next": {"after": str(after + limit)}}
    return 200, reply


def bad_properties(props):
    if not isinstance(props, dict):
        return "properties must be an object"
    for k, v in props.items():
        if not isinstance(v, str):
            return 'Property values must be strings: "%s" is %s' % (k, type(v).__name__)
    email = props.get("email")
    if email is not None and email != "" and "@" not in email:
        return 'Property value "%s" is not a valid email' % email
    domain = props.get("domain")
    if domain and ("@" in domain or " " in domain):
        return 'Property values were not valid: "%s" is not a valid domain' % domain
    amount = props.get("amount")
    if amount not in (None, ""):
        try:
            float(amount)
        except ValueError:
            return 'Property values were not valid: amount "%s" is not a valid number' % amount
    if "_reject" in props:
        return 'Property "_reject" does not exist'
    return None


def error(category, message, **context):
    return {"status": "error", "category": category, "message": message, "context": context}


def result(kind, oid, trace=None, new=None):
    r = {"id": oid, "properties": dict(objects[kind][oid]["properties"], hs_object_id=oid),
         "createdAt": "2026-12-01T00:00:00Z", "updatedAt": "2026-12-01T00:00:00Z", "archived": False}
    if trace is not None:
        r["objectWriteTraceId"] = trace
    if new is not None:
        r["new"] = new
    return r


def batch(kind, op, body):
    """(status, reply) for one batch request."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        return 400, error("VALIDATION_ERROR", "inputs must be an array")
    if len(inputs) > 100:
        violation("%s of %d inputs" % (op, len(inputs)))
        return 400, error("VALIDATION_ERROR", "Batch input is limited to 100 inputs")
    ids = [i.get("id") for i in inputs if isinstance(i, dict)]
    if op in ("update", "archive", "read", "upsert"):
        if any(i is None for i in ids) or len(ids) != len(inputs):
            violation("%s with a null or missing id" % op)
            return 400, error("VALIDATION_ERROR", "Some required fields were not set: [id]")
        seen = set()
        for i in ids:
            if str(i) in seen:
                violation("%s with duplicate id %s" % (op, i))
                return 400, error("VALIDATION_ERROR", "Duplicate IDs found in batch input: [%s]. IDs must be unique" % i,
                                  ids=[str(i)])
            seen.add(str(i))
    store = objects.setdefault(kind, {})
    results, errors = [], []
    if op == "archive":
        counters["archives"] += len(inputs)
        for i in inputs:
            o = store.get(str(i["id"]))
            if o is not None:
                o["archived"] = True
        return 204, None
    if op == "read":
        counters["reads"] += 1
        prop = body.get("idProperty")
        refused = not_unique(kind, prop, "read")
        if refused:
            return refused
        for i in inputs:
            oid = find_by(kind, prop, i["id"]) if prop else (str(i["id"]) if str(i["id"]) in store and not store[str(i["id"])]["archived"] else None)
            if oid is None:
                errors.append(error("OBJECT_NOT_FOUND", "Could not get some %s objects, they may be deleted or not exist." % kind,
                                    ids=[str(i["id"])]))
            else:
                results.append(result(kind, oid))
    if op == "upsert":
        for i in inputs:
            refused = not_unique(kind, i.get("idProperty", "email"), "update/upsert")
            if refused:
                return refused
    for i in inputs if op != "read" else []:
        trace = i.get("objectWriteTraceId")
        props = i.get("properties")
        why = bad_properties(props)
        if op == "create":
            if why is None and "associations" not in i:
                why = "associations is required"
            if why is None and props.get("email") and find_by(kind, "email", props["email"]):
                errors.append(error("CONFLICT", "Contact already exists. Existing ID: %s" % find_by(kind, "email", props["email"]),
                                    objectWriteTraceId=[trace]))
                continue
            if why:
                errors.append(error("VALIDATION_ERROR", why, objectWriteTraceId=[trace]))
                continue
            oid = new_id()
            store[oid] = {"properties": dict(props), "archived": False}
            counters["creates"] += 1
            results.append(result(kind, oid, trace))
        elif op == "update":
            oid = str(i["id"])
            if oid not in store or store[oid]["archived"]:
                errors.append(error("OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.", ids=[oid]))
                continue
            if why:
                errors.append(error("VALIDATION_ERROR", why, ids=[oid], objectWriteTraceId=[trace]))
                continue
            if props.get("email") and find_by(kind, "email", props["email"]) not in (None, oid):
                errors.append(error("CONFLICT", "A contact with the email already exists", ids=[oid]))
                continue
            store[oid]["properties"].update(props)
            counters["updates"] += 1
            results.append(result(kind, oid, trace))
        elif op == "upsert":
            if why:
                errors.append(error("VALIDATION_ERROR", why, objectWriteTraceId=[trace]))
                continue
            prop = i.get("idProperty", "email")
            oid = find_by(kind, prop, i["id"])
            new = oid is None
            if new:
                oid = new_id()
                store[oid] = {"properties": {prop: str(i["id"])}, "archived": False}
            store[oid]["properties"].update(props)
            counters["upserts"] += 1
            results.append(result(kind, oid, trace, new))
    random.shuffle(results)
    reply = {"status": "COMPLETE", "results": results, "startedAt": "2026-12-01T00:00:00Z",
             "completedAt": "2026-12-01T00:00:01Z"}
    if errors:
        reply["numErrors"] = len(errors)
        reply["errors"] = errors
        return 207, reply
    return 201 if op == "create" else 200, reply


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send(self, status, doc, headers=None):
        data = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if doc is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_state":
            with lock:
                self.send(200, {"objects": objects, "violations_list": violations, **counters})
            return
        path = self.path.split("?", 1)[0]
        if path.startswith("/crm/v3/objects/") and path.count("/") == 4:
            # GET /crm/v3/objects/{type}?limit=1: the read rx-push
            # --test-connection sends
            with lock:
                counters["requests"] += 1
                if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
                    counters["unauthorized"] += 1
                    self.send(401, error("INVALID_AUTHENTICATION", "Authentication credentials not found."))
                    return
                kind = path.rsplit("/", 1)[1]
                live = [{"id": k, "properties": v["properties"]} for k, v in objects.get(kind, {}).items()
                        if not v["archived"]][:1]
            self.send(200, {"results": live})
            return
        self.send(404, error("NOT_FOUND", "no such route"))

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self.send(400, error("VALIDATION_ERROR", "Invalid input JSON"))
            return
        if self.path == "/_seed":
            with lock:
                oid = new_id()
                objects.setdefault(body["type"], {})[oid] = {"properties": body["properties"], "archived": False}
            self.send(200, {"id": oid})
            return
        with lock:
            counters["requests"] += 1
            if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
                counters["unauthorized"] += 1
                self.send(401, error("INVALID_AUTHENTICATION", "Authentication credentials not found."))
                return
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps({"method": "POST", "path": self.path, "body": body, "t": time.time()}) + "\n")
            now = time.monotonic()
            limit, per = args.rate
            while window and now - window[0] > per:
                window.popleft()
            head = {"X-HubSpot-RateLimit-Max": limit, "X-HubSpot-RateLimit-Interval-Milliseconds": int(per * 1000)}
            if counters["requests"] <= args.throttle_first:
                counters["throttled"] += 1
                self.send(429, {"status": "error", "message": "You have reached your secondly limit.",
                                "errorType": "RATE_LIMIT", "correlationId": "c0ffee", "policyName": "SECONDLY"}, head)
                return
            if len(window) >= limit:
                counters["throttled"] += 1
                head["X-HubSpot-RateLimit-Remaining"] = 0
                self.send(429, {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                                "errorType": "RATE_LIMIT", "correlationId": "c0ffee",
                                "policyName": "TEN_SECONDLY_ROLLING"}, head)
                return
            if args.daily is not None:
                head["X-HubSpot-RateLimit-Daily"] = args.daily
                head["X-HubSpot-RateLimit-Daily-Remaining"] = max(0, args.daily - counters["admitted"])
                if counters["admitted"] >= args.daily:
                    counters["throttled"] += 1
                    self.send(429, {"status": "error", "message": "You have reached your daily limit.",
                                    "errorType": "RATE_LIMIT", "correlationId": "c0ffee", "policyName": "DAILY"}, head)
                    return
            counters["admitted"] += 1
            window.append(now)
            head["X-HubSpot-RateLimit-Remaining"] = limit - len(window)
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) == 5 and parts[:3] == ["crm", "v3", "objects"] and parts[4] == "search":
                slimit, sper = args.search_rate
                while search_window and now - search_window[0] > sper:
                    search_window.popleft()
                if len(search_window) >= slimit:
                    counters["search_throttled"] += 1
                    counters["throttled"] += 1
                    self.send(429, {"status": "error", "message": "You have reached your secondly limit.",
                                    "errorType": "RATE_LIMIT", "correlationId": "c0ffee", "policyName": "SECONDLY"}, head)
                    return
                search_window.append(now)
                status, reply = search(parts[3], body)
                self.send(status, reply, head)
                return
            if len(parts) != 6 or parts[:3] != ["crm", "v3", "objects"] or parts[4] != "batch" or \
                    parts[5] not in ("create", "update", "upsert", "archive", "read"):
                self.send(404, error("NOT_FOUND", "no such route: " + self.path))
                return
            status, reply = batch(parts[3], parts[5], body)
        self.send(status, reply, head)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--token")
    ap.add_argument("--rate", default="100/10")
    ap.add_argument("--search-rate", default="5/1")
    ap.add_argument("--daily", type=int)
    ap.add_argument("--throttle-first", type=int, default=0)
    ap.add_argument("--log")
    a = ap.parse_args()
    n, s = a.rate.split("/")
    a.rate = (int(n), float(s))
    n, s = a.search_rate.split("/")
    a.search_rate = (int(n), float(s))
    args = a
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(*_):
        if a.state_file:
            with open(a.state_file, "w") as f:
                json.dump({"objects": objects, **counters}, f)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
