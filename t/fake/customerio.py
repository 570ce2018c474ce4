#!/usr/bin/env python3
"""customerio.py - a fake Customer.io Track API v2 (destinations-2.md section
14), on vendorlib.

  POST /api/v2/batch  {"batch":[{type:"person", action:"identify"|"delete",
        identifiers:{id|email|cio_id}, attributes}]}: 200 {} when every entry
        is accepted; 207 {"errors":[{"batch_index","reason","field","message"}]}
        when some are refused (the others are applied).  An entry needs one
        identifier; attributes refused by vendorlib.invalid fail that entry.
        A request of 500 KB or more: 400; an entry over 32 KB fails.
        identify merges the attributes (a null or "" removes one); delete
        removes the person.
  Auth: HTTP Basic SITE_ID:API_KEY (--key "site:key"), else 401
  {"meta":{"error":"Unauthorized request"}}.  Over --rate: 429.
The store is keyed by the identifier's value; a record's row is the
person's attributes.
"""
import base64
import json

import vendorlib
from vendorlib import invalid, store, stored, drop


class CustomerIO(vendorlib.Base):
    name = "customerio"

    def __init__(self, opt):
        self.opt = opt

    def auth(self, req):
        if self.opt.key is None:
            return None
        a = req.headers.get("authorization", "")
        if a.startswith("Basic "):
            try:
                if base64.b64decode(a[6:]).decode() == self.opt.key:
                    return None
            except ValueError:
                pass
        return 401, {"meta": {"error": "Unauthorized request"}}, {}

    def throttle(self, req, wait):
        return 429, {"meta": {"error": "Too many requests"}}, {}

    def handle(self, req):
        if req.method == "GET" and req.path == "/api/v1/accounts/region":
            return 200, {"url": "https://track.customer.io", "region": "us", "environment_id": 1}, {}
        if req.method != "POST" or req.path != "/api/v2/batch":
            return 404, {"meta": {"error": "not found"}}, {}
        if len(req.raw) >= 500 * 1000:
            return 400, {"errors": [{"reason": "invalid", "field": "batch", "message": "request is 500 KB or more"}]}, {}
        if not isinstance(req.json, dict) or not isinstance(req.json.get("batch"), list):
            return 400, {"errors": [{"reason": "invalid", "field": "batch", "message": "batch is required"}]}, {}
        errors = []
        for i, e in enumerate(req.json["batch"]):
            why = self.entry(e)
            if why:
                errors.append({"batch_index": i, "reason": why[0], "field": why[1], "message": why[2]})
        if errors:
            return 207, {"errors": errors}, {}
        return 200, {}, {}

    def entry(self, e):
        if not isinstance(e, dict) or e.get("type") != "person":
            return "invalid", "type", "only people here"
        if len(json.dumps(e)) > 32 * 1024:
            return "invalid", "", "entry over 32 KB"
        ids = {k: v for k, v in (e.get("identifiers") or {}).items() if v not in (None, "")}
        if len(ids) != 1 or list(ids)[0] not in ("id", "email", "cio_id"):
            return "required", "identifiers", "exactly one of id, email or cio_id is required"
        key = str(list(ids.values())[0])
        if e.get("action") == "delete":
            drop(key)
            return None
        if e.get("action") != "identify":
            return "invalid", "action", "unknown action"
        attrs = e.get("attributes") or {}
        why = invalid(attrs)
        if why:
            return "invalid", "attributes", why
        new = dict(stored(key) or {})
        for k, v in attrs.items():
            if v is None or v == "":
                new.pop(k, None)
            else:
                new[k] = v
        store(key, new)
        return None


if __name__ == "__main__":
    vendorlib.main(CustomerIO)
