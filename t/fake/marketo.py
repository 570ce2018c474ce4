#!/usr/bin/env python3
"""marketo.py - a fake Marketo REST API (destinations-2.md section 17), on
vendorlib.  Errors are Marketo's: nearly all inside an HTTP 200.

  GET|POST /identity/oauth/token  grant_type=client_credentials, client_id,
        client_secret (query or form; --key "ID:SECRET") -> {"access_token",
        "token_type":"bearer","expires_in":3599,"scope"}; else 401
        {"error":"invalid_client"}.  --token-uses N: a token expires after N
        calls (then 602).
  Every other call needs "Authorization: Bearer TOKEN"; else 200
        {"success":false,"errors":[{"code":"601"}]} (602 for an expired one).
  POST /rest/v1/leads.json {"action","lookupField","input":[..300]}: 200
        {"requestId","success":true,"result":[...]} in the input's order:
        {"id","status":"created"|"updated"} or {"status":"skipped","reasons":
        [{"code","message"}]}: 1003 for an invalid e-mail (vendorlib.invalid),
        1004 updateOnly of an unknown lead, 1005 createOnly of a known one,
        1006 an unknown field ("_reject").  More than 300: 1003 for the request.
  POST /rest/v1/leads/delete.json {"input":[{"id"}]}: "deleted", or skipped 1004.
  Over 1 MB: HTTP 413.  Over --rate: 606; over --max-inflight: 615; after
  --quota accepted calls: 607 -- all inside a 200 with "success": false.
The store is keyed by the lookup value (lowercased); a record's row is the
lead's fields less the lookup field (its Marketo id is kept beside it).
"""
import itertools

import vendorlib
from vendorlib import invalid, store, stored, drop

IDS = itertools.count(1001)
LEAD_ID = {}    # store key -> Marketo id


def failed(code, message):
    return 200, {"requestId": "fake#1", "success": False, "errors": [{"code": code, "message": message}]}, {}


class Marketo(vendorlib.Base):
    name = "marketo"

    def __init__(self, opt):
        self.opt = opt

    def routes_free(self, req):
        return req.path == "/identity/oauth/token"

    def auth(self, req):
        a = req.headers.get("authorization", "")
        tok = a[7:] if a.startswith("Bearer ") else ""
        state = vendorlib.use_token(tok)
        if state == "ok":
            return None
        if state == "expired":
            return failed("602", "Access token expired")
        return failed("601", "Access token invalid")

    def throttle(self, req, wait):
        return failed("606", "Max rate limit '100' exceeded with in '20' secs")

    def busy(self, req):
        return failed("615", "Concurrent access limit reached")

    def quota(self, req):
        return failed("607", "Daily quota reached")

    def token(self, req):
        get = lambda k: req.q(k) or req.f(k)
        want_id, _, want_secret = (self.opt.key or "rx-client:rx-secret").partition(":")
        if get("grant_type") != "client_credentials" or get("client_id") != want_id or \
                get("client_secret") != want_secret:
            vendorlib.count("unauthorized")
            return 401, {"error": "invalid_client", "error_description": "Bad client credentials"}, {}
        return 200, {"access_token": vendorlib.issue_token(":sj"), "token_type": "bearer",
                     "expires_in": 3599, "scope": "rx@example.com"}, {}

    def handle(self, req):
        if req.path == "/identity/oauth/token":
            return self.token(req)
        if len(req.raw) > 1000000:
            return 413, "Request Entity Too Large", {}
        if req.method == "GET" and req.path == "/rest/v1/leads/describe.json":
            if self.opt.deny_read:
                # an API user whose role lacks "Read-Only Lead": Marketo
                # still answers 200, the refusal inside
                return failed("603", "Access denied")
            return 200, {"requestId": "d", "success": True,
                         "result": [{"id": 1, "displayName": "Email Address", "dataType": "email",
                                     "rest": {"name": "email", "readOnly": False}}]}, {}
        if req.method != "POST" or not isinstance(req.json, dict):
            return failed("609", "Invalid JSON")
        if req.path == "/rest/v1/leads.json":
            return self.sync(req.json)
        if req.path == "/rest/v1/leads/delete.json":
            return self.delete(req.json)
        return failed("610", "Requested resource not found")

    def sync(self, body):
        inputs = body.get("input")
        if not isinstance(inputs, list):
            return failed("1003", "Invalid data")
        if len(inputs) > 300:
            return failed("1003", "Input array exceeds the maximum of 300")
        action = body.get("action", "createOrUpdate")
        field = body.get("lookupField", "email")
        result = []
        for lead in inputs:
            def skip(code, message):
                result.append({"status": "skipped", "reasons": [{"code": code, "message": message}]})
            if not isinstance(lead, dict) or lead.get(field) in (None, ""):
                skip("1003", "Value for lookup field '%s' not found" % field)
                continue
            why = invalid(lead)
            if why and "email" in why:
                skip("1003", "Invalid email address")
                continue
            if why:
                skip("1006", "Field '_reject' not found")
                continue
            key = str(lead[field]).lower()
            old = stored(key)
            if old is None and action == "updateOnly":
                skip("1004", "Lead not found")
                continue
            if old is not None and action == "createOnly":
                skip("1005", "Lead already exists")
                continue
            new = dict(old or {})
            new.update({k: v for k, v in lead.items() if k != field})
            store(key, new)
            if key not in LEAD_ID:
                LEAD_ID[key] = next(IDS)
            result.append({"id": LEAD_ID[key], "status": "updated" if old is not None else "created"})
        return 200, {"requestId": "fake#1", "success": True, "result": result}, {}

    def delete(self, body):
        result = []
        for item in body.get("input") or []:
            lid = item.get("id") if isinstance(item, dict) else None
            key = next((k for k, i in LEAD_ID.items() if i == lid and stored(k) is not None), None)
            if lid is None or key is None:
                result.append({"id": lid, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]})
                continue
            drop(key)
            result.append({"id": lid, "status": "deleted"})
        return 200, {"requestId": "fake#1", "success": True, "result": result}, {}


if __name__ == "__main__":
    vendorlib.main(Marketo, lambda ap: ap.add_argument("--deny-read", action="store_true",
                                                        help="the API user's role may not read leads (603)"))
