#!/usr/bin/env python3
"""segment.py - a fake Segment HTTP Tracking API (destinations.md section 10),
on vendorlib.  Segment answers 200 for everything except an oversized or
malformed request, and drops what it refuses afterwards, silently: this
fake does the same, and counts what it dropped ("dropped" in the state).

  POST /v1/batch  {"batch":[{"type":"identify","userId"|"anonymousId",
        "traits","messageId"}], "context"?}: 200 {"success":true}.  A body
        of 500 KB or more, a call of 32 KB or more, or bad JSON: 400.  More
        than 2,500 calls: 200, and every call dropped.  A call without
        userId or anonymousId, or a request whose HTTP Basic user is not the
        write key (--key): dropped after the 200.  A messageId seen before is
        not applied twice.  identify merges the traits.
  Over --rate: 429 with Retry-After and X-RateLimit-Reset (seconds).
The store is keyed by userId; a record's row is the user's traits.
"""
import base64
import json
import math

import vendorlib
from vendorlib import store, stored

SEEN = set()


class Segment(vendorlib.Base):
    name = "segment"

    def __init__(self, opt):
        self.opt = opt
        vendorlib.STATE["dropped"] = 0

    def throttle(self, req, wait):
        s = str(max(1, math.ceil(wait)))
        return 429, {"success": False, "message": "too many requests"}, {"Retry-After": s, "X-RateLimit-Reset": s}

    def key_ok(self, req):
        if self.opt.key is None:
            return True
        a = req.headers.get("authorization", "")
        try:
            return a.startswith("Basic ") and base64.b64decode(a[6:]).decode() == self.opt.key + ":"
        except ValueError:
            return False

    def handle(self, req):
        if req.method != "POST" or req.path != "/v1/batch":
            return 404, {"success": False, "message": "not found"}, {}
        if len(req.raw) >= 500 * 1024:
            return 400, {"success": False, "message": "batch request exceeds 500KB"}, {}
        if not isinstance(req.json, dict) or not isinstance(req.json.get("batch"), list):
            return 400, {"success": False, "message": "Invalid JSON"}, {}
        calls = req.json["batch"]
        if any(len(json.dumps(c)) >= 32 * 1024 for c in calls):
            return 400, {"success": False, "message": "an event exceeds 32KB"}, {}
        if len(calls) > 2500 or not self.key_ok(req):
            vendorlib.count("dropped", len(calls))
            if not self.key_ok(req):
                vendorlib.count("unauthorized")
            return 200, {"success": True}, {}
        for c in calls:
            uid = c.get("userId") if isinstance(c, dict) else None
            if c.get("type") != "identify" or (uid in (None, "") and not c.get("anonymousId")):
                vendorlib.count("dropped")
                continue
            if c.get("messageId") in SEEN:
                continue
            SEEN.add(c.get("messageId"))
            new = dict(stored(uid) or {})
            new.update(c.get("traits") or {})
            store(uid, new)
        return 200, {"success": True}, {}


if __name__ == "__main__":
    vendorlib.main(Segment)
