#!/usr/bin/env python3
"""braze.py - a fake Braze REST API (destinations.md section 3), on vendorlib.

  POST /users/track   {"attributes":[{external_id, ...}], "events", "purchases"}:
                      at most 75 objects in all (else 400 "Max Input Length
                      Exceeded"); each needs an external_id; an invalid one
                      (vendorlib.invalid) is a non-fatal error
                      {"type","input_array":"attributes","index"} and the others
                      are processed: 201 {"message":"success",
                      "attributes_processed":N[,"errors":[..]]}.  Attributes
                      merge into the stored user; a null removes one;
                      "_update_existing_only": true never creates a user.
  POST /users/delete  {"external_ids":[..50]} (more: 400) -> 201
                      {"deleted":N,"message":"success"}
  Auth: "Authorization: Bearer KEY" (--key), else 401
  {"message":"Invalid API key"}.  Every reply carries X-RateLimit-Limit,
  -Remaining and -Reset (epoch seconds) of the --rate window; over it, 429
  {"message":"API rate limit exceeded"} with Remaining 0.
The store is keyed by external_id; a record's row is the user's
attributes less external_id.
"""
import math
import time

import vendorlib
from vendorlib import invalid, store, stored, drop


class Braze(vendorlib.Base):
    name = "braze"

    def __init__(self, opt):
        self.opt = opt

    def auth(self, req):
        if self.opt.key is None:
            return None
        if req.headers.get("authorization") == "Bearer " + self.opt.key:
            return None
        return 401, {"message": "Invalid API key"}, {}

    def headers(self, req, window):
        if window is None:
            return {"X-RateLimit-Limit": "250000", "X-RateLimit-Remaining": "249999",
                    "X-RateLimit-Reset": str(int(time.time()) + 3600)}
        limit, remaining, reset = window
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(int(math.ceil(reset)))}

    def throttle(self, req, wait):
        return 429, {"message": "API rate limit exceeded"}, {
            "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(math.ceil(time.time() + wait)))}

    def handle(self, req):
        body = req.json
        if req.method != "POST" or not isinstance(body, dict):
            return 400, {"message": "Invalid JSON"}, {}
        if req.path == "/users/track":
            return self.track(body)
        if req.path == "/users/delete":
            return self.delete(body)
        return 404, {"message": "no such endpoint"}, {}

    def track(self, body):
        attrs = body.get("attributes") or []
        total = sum(len(body.get(k) or []) for k in ("attributes", "events", "purchases"))
        if total > 75:
            return 400, {"message": "Max Input Length Exceeded", "errors": ["too many objects: %d" % total]}, {}
        errors, ok = [], 0
        for i, a in enumerate(attrs):
            if not isinstance(a, dict) or not isinstance(a.get("external_id"), str) or a["external_id"] == "":
                errors.append({"type": "Missing or invalid external_id", "input_array": "attributes", "index": i})
                continue
            row = {k: v for k, v in a.items() if k not in ("external_id", "_update_existing_only")}
            why = invalid(row)
            if why:
                errors.append({"type": "The value provided for the 'email' field is not a valid email."
                               if "email" in why else why, "input_array": "attributes", "index": i})
                continue
            old = stored(a["external_id"])
            if old is None and a.get("_update_existing_only") is True:
                ok += 1          # Braze skips it silently: nothing to update
                continue
            new = dict(old or {})
            for k, v in row.items():
                if v is None:
                    new.pop(k, None)
                else:
                    new[k] = v
            store(a["external_id"], new)
            ok += 1
        doc = {"message": "success", "attributes_processed": ok}
        if errors:
            doc["errors"] = errors
        return 201, doc, {}

    def delete(self, body):
        ids = body.get("external_ids")
        if not isinstance(ids, list):
            return 400, {"message": "external_ids, user_aliases, braze_ids, email_addresses or phone_numbers is required"}, {}
        if len(ids) > 50:
            return 400, {"message": "The max number of external_ids and aliases per request was exceeded"}, {}
        for i in ids:
            drop(i)
        return 201, {"deleted": len(ids), "message": "success"}, {}


if __name__ == "__main__":
    vendorlib.main(Braze)
