#!/usr/bin/env python3
"""klaviyo.py - a fake of Klaviyo's profile bulk import jobs and data
privacy deletion (stdlib only), after ../shared/reference/destinations-2.md
sections 12 and 34 and Klaviyo's OpenAPI document (revision 2026-07-15).

  POST /api/profile-bulk-import-jobs              {"data":{"type":"profile-bulk-import-job","attributes":
                                                    {"profiles":{"data":[..<=10000]}}}} -> 202 the job, queued
  GET  /api/profile-bulk-import-jobs/{id}          the job: queued -> processing -> complete (after --polls)
  GET  /api/profile-bulk-import-jobs/{id}/import-errors?page[size]=N&page[cursor]=C
                                                  the failed profiles, N a page (default 20, at most 100),
                                                  links.next an absolute URL with the next cursor
  POST /api/data-privacy-deletion-jobs            one profile by email or phone_number -> 202, no body
  GET  /api/accounts                              the test request
  GET  /_state                                    {"profiles": {EXTERNAL_ID or EMAIL: attributes}, counters}

Every request needs "Authorization: Klaviyo-API-Key TOKEN" (--token) and
a "revision" header; a body must be application/vnd.api+json.  Nothing
is applied when a job is submitted: its profiles are written when it
completes.  A profile is refused (an import error pointing at it) when
its email has no "@", when it has no email, phone_number or external_id,
or when its properties say "_reject": true.  Profiles are matched on
email, then phone_number, then external_id.  Rate limits per class of
endpoint, fixed windows as Klaviyo counts them: bulk import (its jobs,
polls and errors) 10/s and 150/min, deletion 3/s and 60/min, accounts
1/s and 15/min (--scale multiplies them); over one: 429 with
Retry-After (integer seconds); every other reply carries RateLimit-Limit,
-Remaining and -Reset (the minute's); --throttle-first K throttles the
first K requests.  --cancel makes every job end
"cancelled"; --polls 1000000 makes jobs that never finish.
"""
import json
import sys
import time
import uuid

sys.path.insert(0, __import__("os").path.dirname(__file__))
import jobsbase as jb  # noqa: E402

profiles = {}   # internal id -> attributes
jobs = {}
next_id = [0]
windows = {}
VND = "application/vnd.api+json"


def err(status, code, title, detail, pointer="/data/"):
    return {"errors": [{"id": str(uuid.uuid4()), "status": status, "code": code, "title": title, "detail": detail,
                        "source": {"pointer": pointer}, "links": {}, "meta": {}}]}


def find(attrs):
    for field in ("email", "phone_number", "external_id"):
        v = attrs.get(field)
        if v:
            for pid, p in profiles.items():
                if p.get(field) == v:
                    return pid
    return None


def apply(job):
    errors = []
    for i, prof in enumerate(job["profiles"]):
        a = prof.get("attributes") or {}
        props = a.get("properties") or {}
        email = a.get("email")
        why = None
        if not (email or a.get("phone_number") or a.get("external_id")):
            why = ("missing", "One of email, phone_number or external_id is required.", "")
        elif email is not None and "@" not in email:
            why = ("invalid", "Invalid email address", "/email")
        elif props.get("_reject"):
            why = ("invalid", "Invalid input.", "/properties")
        if why:
            errors.append({"type": "import-error", "id": str(uuid.uuid4()),
                           "attributes": {"code": why[0], "title": "Invalid input.", "detail": why[1],
                                          "source": {"pointer": "/data/attributes/profiles/data/%d/attributes%s" % (i, why[2])},
                                          "original_payload": a}})
            continue
        if jb.args.sink:
            continue
        pid = find(a)
        if pid is None:
            next_id[0] += 1
            pid = "01K%010d" % next_id[0]
            profiles[pid] = {}
        cur = profiles[pid]
        for k, v in a.items():
            if k == "properties":
                cur.setdefault("properties", {}).update({pk: pv for pk, pv in (v or {}).items() if pv is not None})
            elif v is not None:  # nulls do not clear fields
                cur[k] = v
    job["errors"] = errors
    jb.counters["applied"] += len(job["profiles"])


def job_doc(j, host):
    done = j["status"] == "complete"
    return {"data": {"type": "profile-bulk-import-job", "id": j["id"],
                     "attributes": {"status": j["status"], "created_at": j["created"], "total_count": len(j["profiles"]),
                                    "completed_count": (len(j["profiles"]) - len(j["errors"])) if done else 0,
                                    "failed_count": len(j["errors"]) if done else 0,
                                    "completed_at": j["created"] if done else None, "expires_at": None,
                                    "started_at": j["created"] if j["status"] != "queued" else None},
                     "links": {"self": "%s/api/profile-bulk-import-jobs/%s/" % (host, j["id"])}}}


class Klaviyo(jb.Handler):
    content_type = VND

    def state(self):
        out = {}
        for pid, p in profiles.items():
            out[str(p.get("external_id") or p.get("email") or p.get("phone_number") or pid)] = dict(p, id=pid)
        return {"profiles": out, "jobs": len(jobs)}

    def route(self, method, path, query, raw):
        a = jb.args
        host = "http://%s" % self.headers.get("Host", "127.0.0.1")
        if a.token and self.headers.get("Authorization") != "Klaviyo-API-Key " + a.token:
            jb.counters["unauthorized"] += 1
            return 401, err(401, "not_authenticated", "Authentication credentials were not provided.",
                            "Missing or invalid private key.")
        if not self.headers.get("revision"):
            jb.violation("no revision header")
            return 400, err(400, "invalid", "Invalid input.", "The revision header is required.")
        if method != "GET" and not (self.headers.get("Content-Type") or "").startswith(VND):
            jb.violation("content type %s" % self.headers.get("Content-Type"))
            return 415, err(415, "unsupported_media_type", "Unsupported media type.", "Use %s" % VND)
        cls = ("deletion" if path.startswith("/api/data-privacy-deletion-jobs")
               else "accounts" if path.startswith("/api/accounts") else "bulk")
        w = windows[cls].take() if jb.counters["requests"] > a.throttle_first else 1
        if w is not True:
            jb.counters["throttled"] += 1
            secs = max(1, int(w + 0.999))
            return 429, err(429, "throttled", "Request was throttled.",
                            "Request was throttled. Expected available in %d second%s." % (secs, "s" if secs > 1 else "")), \
                {"Retry-After": secs}
        lim, rem, reset = windows[cls].remaining()
        hdr = {"RateLimit-Limit": lim, "RateLimit-Remaining": rem, "RateLimit-Reset": int(reset + 0.999)}
        if path in ("/api/accounts", "/api/accounts/") and method == "GET":
            return 200, {"data": [{"type": "account", "id": "AbC123", "attributes": {}}], "links": {"self": host}}, hdr
        if path.rstrip("/") == "/api/profile-bulk-import-jobs" and method == "POST":
            try:
                d = json.loads(raw)["data"]
                assert d["type"] == "profile-bulk-import-job"
                profs = d["attributes"]["profiles"]["data"]
                assert isinstance(profs, list) and all(p.get("type") == "profile" and isinstance(p.get("attributes"), dict)
                                                       for p in profs)
            except (ValueError, KeyError, TypeError, AssertionError):
                jb.violation("bulk import body")
                return 400, err(400, "invalid", "Invalid input.", "The payload provided in the request is invalid."), hdr
            if len(profs) > 10000 or len(raw) > 5 * 1024 * 1024 or not profs:
                jb.violation("bulk import of %d profiles, %d bytes" % (len(profs), len(raw)))
                return 400, err(400, "invalid", "Invalid input.", "At most 10000 profiles and 5 MB a job."), hdr
            jid = str(uuid.uuid4()).replace("-", "")[:26]
            jobs[jid] = {"id": jid, "profiles": profs, "status": "queued", "polls": 0, "errors": [],
                         "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}
            jb.counters["submitted"] += 1
            return 202, job_doc(jobs[jid], host), hdr
        if path.startswith("/api/profile-bulk-import-jobs/") and method == "GET":
            rest = path[len("/api/profile-bulk-import-jobs/"):].strip("/").split("/")
            j = jobs.get(rest[0])
            if j is None:
                return 404, err(404, "not_found", "Not found.", "A job with id %s does not exist." % rest[0]), hdr
            if len(rest) == 1:
                jb.counters["polls"] += 1
                j["polls"] += 1
                if j["status"] == "queued":
                    j["status"] = "processing"
                elif j["status"] == "processing" and j["polls"] >= a.polls:
                    if a.cancel:
                        j["status"] = "cancelled"
                    else:
                        apply(j)
                        j["status"] = "complete"
                return 200, job_doc(j, host), hdr
            if rest[1:] == ["import-errors"]:
                size = int((query.get("page[size]") or ["20"])[0])
                if size < 1 or size > 100:
                    jb.violation("page[size] %d" % size)
                    return 400, err(400, "invalid", "Invalid input.", "page[size] must be 1 to 100.",
                                    "page[size]"), hdr
                at = int((query.get("page[cursor]") or ["0"])[0] or 0)
                page = j["errors"][at:at + size]
                more = at + size < len(j["errors"])
                base = "%s/api/profile-bulk-import-jobs/%s/import-errors" % (host, j["id"])
                links = {"self": base, "next": ("%s?page%%5Bcursor%%5D=%d&page%%5Bsize%%5D=%d" % (base, at + size, size))
                         if more else None, "prev": None}
                return 200, {"data": page, "links": links}, hdr
            return None
        if path.rstrip("/") == "/api/data-privacy-deletion-jobs" and method == "POST":
            try:
                d = json.loads(raw)["data"]
                assert d["type"] == "data-privacy-deletion-job"
                p = d["attributes"]["profile"]["data"]
                assert p["type"] == "profile"
                at = p.get("attributes") or {}
                keys = [k for k in ("email", "phone_number") if at.get(k)] + (["id"] if p.get("id") else [])
                assert len(keys) == 1
            except (ValueError, KeyError, TypeError, AssertionError):
                jb.violation("deletion body")
                return 400, err(400, "invalid", "Invalid input.", "Give exactly one of email, phone_number or id."), hdr
            if keys[0] == "id":
                profiles.pop(p["id"], None)
            else:
                for pid in [pid for pid, q in profiles.items() if q.get(keys[0]) == at[keys[0]]]:
                    del profiles[pid]
            jb.counters["applied"] += 1
            return 202, None, hdr
        return None


def main():
    ap = jb.parser()
    ap.add_argument("--polls", type=int, default=2)
    ap.add_argument("--cancel", action="store_true")
    ap.add_argument("--scale", type=float, default=1)
    a = ap.parse_args()
    s = a.scale
    windows["bulk"] = jb.Windows([(10 * s, 1), (150 * s, 60)])
    windows["deletion"] = jb.Windows([(3 * s, 1), (60 * s, 60)])
    windows["accounts"] = jb.Windows([(1 * s, 1), (15 * s, 60)])
    jb.serve(Klaviyo, a)


if __name__ == "__main__":
    main()
