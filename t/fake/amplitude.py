#!/usr/bin/env python3
"""amplitude.py - a fake Amplitude Identify API (destinations-2.md section 18),
on vendorlib.

  POST /identify  form-encoded api_key (--key) and identification (a JSON
        object or array, as a string): 200 "success" when every one was
        applied.  A user_id or device_id is required (events_with_missing_fields),
        ids need 5 characters (events_with_invalid_id_lengths), and $set
        values refused by vendorlib.invalid fail it (events_with_invalid_fields):
        400 {"code":400,"error":...,<those>:{field:[indices]}} and nothing is
        applied.  A wrong api_key: 400 {"code":400,"error":"Invalid API key"};
        a malformed identification: 400 {"error":"missing_event"}.
        user_properties {"$set": merged, "$unset": removed}.  Over 1 MB: 413.
  Over --rate: 429 {"code":429,"error":"Too many requests for some devices
  and users","eps_threshold":30,"throttled_users":{id:n},"throttled_events":[..]}.
The store is keyed by user_id; a record's row is the user's properties.
"""
import json

import vendorlib
from vendorlib import invalid, store, stored


class Amplitude(vendorlib.Base):
    name = "amplitude"

    def __init__(self, opt):
        self.opt = opt

    def idents(self, req):
        try:
            v = json.loads(req.f("identification") or "")
        except ValueError:
            return None
        return v if isinstance(v, list) else [v]

    def throttle(self, req, wait):
        ids = self.idents(req) or []
        users = {str(i.get("user_id")): 31 for i in ids if isinstance(i, dict)}
        return 429, {"code": 429, "error": "Too many requests for some devices and users", "eps_threshold": 30,
                     "throttled_devices": {}, "throttled_users": users,
                     "throttled_events": list(range(len(ids)))}, {}

    def handle(self, req):
        if req.method != "POST" or req.path != "/identify":
            return 404, {"code": 404, "error": "not found"}, {}
        if len(req.raw) > 1000000:
            return 413, {"code": 413, "error": "Payload too large"}, {}
        if req.f("api_key") in (None, ""):
            return 400, {"code": 400, "error": "Request missing required field", "missing_field": "api_key"}, {}
        if self.opt.key is not None and req.f("api_key") != self.opt.key:
            vendorlib.count("unauthorized")
            return 400, {"code": 400, "error": "Invalid API key"}, {}
        ids = self.idents(req)
        if not ids:
            return 400, {"code": 400, "error": "missing_event"}, {}
        missing, short, bad = {}, {}, {}
        for i, ident in enumerate(ids):
            if not isinstance(ident, dict):
                missing.setdefault("user_id", []).append(i)
                continue
            uid, did = ident.get("user_id"), ident.get("device_id")
            if uid in (None, "") and did in (None, ""):
                missing.setdefault("user_id", []).append(i)
            elif (uid not in (None, "") and len(str(uid)) < 5) or (did not in (None, "") and len(str(did)) < 5):
                short.setdefault("user_id" if uid else "device_id", []).append(i)
            elif invalid((ident.get("user_properties") or {}).get("$set") or {}):
                bad.setdefault("user_properties", []).append(i)
        if missing or short or bad:
            doc = {"code": 400, "error": "Invalid field values on some events"}
            if missing:
                doc["events_with_missing_fields"] = missing
            if short:
                doc["events_with_invalid_id_lengths"] = short
                doc["error"] = "Invalid id length for user_id or device_id"
            if bad:
                doc["events_with_invalid_fields"] = bad
            return 400, doc, {}
        for ident in ids:
            key = str(ident.get("user_id") or ident.get("device_id"))
            new = dict(stored(key) or {})
            props = ident.get("user_properties") or {}
            new.update(props.get("$set") or {})
            for k in props.get("$unset") or {}:
                new.pop(k, None)
            store(key, new)
        return 200, "success", {}


if __name__ == "__main__":
    vendorlib.main(Amplitude)
