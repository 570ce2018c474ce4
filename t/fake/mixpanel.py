#!/usr/bin/env python3
"""mixpanel.py - a fake Mixpanel Ingestion API (destinations.md section 4;
the shapes of ../shared/conformance/specs/mixpanel-ingestion.yaml), on
vendorlib.  Two stores share the state: profiles under "p:DISTINCT_ID",
events under "e:INSERT_ID".

  POST /engage[?verbose=1]  [{"$token","$distinct_id","$set"|"$delete",..}]
        at most 2000: always 200.  With verbose=1 {"status":1,"error":null},
        or {"status":0,"error":...} when any update is invalid -- and then
        nothing is applied (Mixpanel gives no detail per update).  The
        $token must be --key ("Invalid token" otherwise); $set merges.
        Without verbose: the body 1 or 0.
  POST /import?strict=1&project_id=P  [{"event","properties":{"time",
        "distinct_id","$insert_id",..}}] at most 2000, HTTP Basic with a
        service account (--service USER:SECRET) of project --project: 200
        {"code":200,"num_records_imported","status":"OK"}, or 400 with
        "failed_records":[{"index","insert_id","field","message"}] -- and the
        valid events imported.  An event fails for a missing name, a time
        that is not a number of seconds or milliseconds in range, a
        distinct_id that is not a string, an $insert_id that is not 1-36
        characters of [A-Za-z0-9-], or properties refused by
        vendorlib.invalid.  401 {"code":401,"error":"Invalid credentials"}.
  Over 2 MiB: 413.  Over --rate: 429 {"code":429,"error":"Project exceeded
  rate limits. ...","status":"Too Many Requests"}, no wait hint.
A profile's row is its properties; an event's row is {"event", ...its
properties less $insert_id}.
"""
import base64
import re
import time

import vendorlib
from vendorlib import invalid, store, stored, drop

INSERT_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
OPS = ("$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset", "$delete")


class Mixpanel(vendorlib.Base):
    name = "mixpanel"

    def __init__(self, opt):
        self.opt = opt

    def throttle(self, req, wait):
        return 429, {"code": 429, "error": "Project exceeded rate limits. Please retry the request with exponential "
                     "backoff.", "status": "Too Many Requests"}, {}

    def auth(self, req):
        if req.path != "/import":
            return None          # /engage: the token is in the body
        a = req.headers.get("authorization", "")
        try:
            who = base64.b64decode(a[6:]).decode() if a.startswith("Basic ") else ""
        except ValueError:
            who = ""
        if who == self.opt.service and req.q("project_id") == self.opt.project:
            return None
        return 401, {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}, {}

    def handle(self, req):
        if len(req.raw) > 2097152:
            return 413, {"code": 413, "error": "request exceeds max limit of 2097152 bytes",
                         "status": "Request Entity Too Large"}, {}
        if req.method == "POST" and req.path == "/engage":
            return self.engage(req)
        if req.method == "POST" and req.path == "/import":
            return self.imports(req)
        return 404, {"error": "not found"}, {}

    def engage(self, req):
        verbose = req.q("verbose") == "1"

        def answer(error):
            if verbose:
                return 200, {"status": 0 if error else 1, "error": error}, {}
            return 200, "0" if error else "1", {}
        updates = req.json
        if not isinstance(updates, list) or not updates:
            return answer("data, missing or empty")
        if len(updates) > 2000:
            return answer("too many updates in the batch: at most 2000")
        for u in updates:
            if not isinstance(u, dict):
                return answer("an update is not an object")
            if not u.get("$token"):
                return answer("token, missing or empty")
            if u["$token"] != self.opt.key:
                return answer("Invalid token")
            if not isinstance(u.get("$distinct_id"), str) or u["$distinct_id"] == "":
                return answer("$distinct_id, missing or empty")
            ops = [k for k in u if k in OPS]
            if len(ops) != 1:
                return answer("an update needs exactly one operation")
            if "$set" in u and (not isinstance(u["$set"], dict) or invalid(u["$set"])):
                return answer("$set: %s" % (invalid(u["$set"]) or "not an object"))
        for u in updates:
            key = "p:" + u["$distinct_id"]
            if "$delete" in u:
                drop(key)
            elif "$set" in u:
                new = dict(stored(key) or {})
                new.update(u["$set"])
                store(key, new)
        return answer(None)

    def imports(self, req):
        events = req.json
        if not isinstance(events, list) or not events:
            return 400, {"code": 400, "error": "no events", "status": "Bad Request"}, {}
        if len(events) > 2000:
            return 400, {"code": 400, "error": "too many events: at most 2000", "status": "Bad Request"}, {}
        strict = req.q("strict") == "1"
        failed, ok = [], 0
        now_ms = time.time() * 1000
        for i, ev in enumerate(events):
            props = ev.get("properties") if isinstance(ev, dict) else None
            why = None
            if not isinstance(props, dict):
                why = ("properties", "'properties' must be an object")
            elif not isinstance(ev.get("event"), str) or ev["event"] == "":
                why = ("event", "'event' must be a non-empty string")
            else:
                t = props.get("time")
                ms = t * 1000 if isinstance(t, (int, float)) and t < 1e11 else t
                if not isinstance(t, (int, float)) or isinstance(t, bool) or ms < 31536000000 or ms > now_ms + 3600000:
                    why = ("properties.time", "'properties.time' is invalid: must be seconds or milliseconds since epoch")
                elif not isinstance(props.get("distinct_id"), str):
                    why = ("properties.distinct_id", "'properties.distinct_id' must be a string")
                elif not isinstance(props.get("$insert_id"), str) or not INSERT_ID.match(props["$insert_id"]):
                    why = ("properties.$insert_id", "'properties.$insert_id' must be 1-36 characters of [A-Za-z0-9-]")
                elif invalid(props):
                    why = ("properties", invalid(props))
            if why and strict:
                failed.append({"index": i, "insert_id": (props or {}).get("$insert_id"), "field": why[0],
                               "message": why[1]})
                continue
            if why:
                continue
            row = {"event": ev["event"]}
            row.update({k: v for k, v in props.items() if k != "$insert_id"})
            store("e:" + props["$insert_id"], row, "insert")
            ok += 1
        if failed:
            return 400, {"code": 400, "error": "some data points in the request failed validation",
                         "status": "Bad Request", "num_records_imported": ok, "failed_records": failed}, {}
        return 200, {"code": 200, "num_records_imported": ok, "status": "OK"}, {}


def args(ap):
    ap.add_argument("--service", default="sa-user:sa-secret")
    ap.add_argument("--project", default="1234567")


if __name__ == "__main__":
    vendorlib.main(Mixpanel, args)
