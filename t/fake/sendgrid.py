#!/usr/bin/env python3
"""sendgrid.py - a fake of SendGrid's Marketing Contacts API (stdlib
only), after ../shared/reference/destinations-2.md sections 15, 33 and
34 and SendGrid's OpenAPI document (tsg_mc_contacts_v3).

  PUT    /v3/marketing/contacts                {"list_ids"?, "contacts": [..<=30000, 6 MB]} -> 202 {"job_id"}
  DELETE /v3/marketing/contacts?ids=a,b        no body -> 202 {"job_id"}
  GET    /v3/marketing/contacts/imports/{id}   {"id","status":"pending|completed|errored|failed","job_type",
                                                "results":{requested_count, created_count, updated_count,
                                                deleted_count, errored_count, errors_url}}
  POST   /v3/marketing/contacts/search/emails  {"emails": [..<=100]} -> 200 {"result": {EMAIL: {"contact"}|{"error"}}},
                                                404 when none is found
  GET    /v3/marketing/contacts/count          the test request
  GET    /_state                               {"contacts": {EMAIL: {...}}, counters}

Contacts are matched on their e-mail, lowercased.  A job applies
nothing until polled --polls times (default 2).  A contact with no
e-mail, an e-mail without "@", or custom_fields {"_reject": ...} errors
inside the job (the job is "errored", or "failed" when all did), unless
--sync-invalid, when the PUT is refused at once: 400 {"errors":[{"field":
"contacts[N].email","message"}]}.  Every reply carries X-RateLimit-Limit,
-Remaining and -Reset (epoch seconds) of its endpoint's window: --rate
N/SECONDS per endpoint (default 600/60), fixed windows; over it 429
{"errors":[{"field":null,"message":"too many requests"}]}.  Bearer
--token; 401 {"errors":[{"field":null,"message":"authorization required"}]}.
"""
import json
import sys
import time
import uuid

sys.path.insert(0, __import__("os").path.dirname(__file__))
import jobsbase as jb  # noqa: E402

contacts = {}  # email -> contact
jobs = {}
windows = {}
STD = ("address_line_1", "address_line_2", "alternate_emails", "city", "country", "email", "phone_number_id",
       "external_id", "anonymous_id", "first_name", "last_name", "postal_code", "state_province_region", "custom_fields")


def errors(msg, field=None):
    return {"errors": [{"field": field, "message": msg}]}


def bad_contact(c):
    e = c.get("email")
    if not e or "@" not in e:
        return "email is invalid: %r" % e
    if (c.get("custom_fields") or {}).get("_reject"):
        return "custom field is invalid"
    return None


def run(j):
    r = {"requested_count": len(j["work"]), "created_count": 0, "updated_count": 0, "deleted_count": 0,
         "errored_count": 0}
    if j["type"] == "delete":
        ids = set(j["work"])
        for e in [e for e, c in contacts.items() if c["id"] in ids]:
            del contacts[e]
            r["deleted_count"] += 1
    else:
        for c in j["work"]:
            if bad_contact(c):
                r["errored_count"] += 1
                continue
            e = c["email"].lower()
            if jb.args.sink:
                continue
            if e in contacts:
                r["updated_count"] += 1
            else:
                r["created_count"] += 1
                contacts[e] = {"id": str(uuid.uuid4())}
            cur = contacts[e]
            for k, v in c.items():
                if k == "custom_fields":
                    cur.setdefault("custom_fields", {}).update(v or {})
                else:
                    cur[k] = v.lower() if k == "email" else v
            if j.get("lists"):
                cur["list_ids"] = sorted(set(cur.get("list_ids", [])) | set(j["lists"]))
    jb.counters["applied"] += len(j["work"])
    if r["errored_count"]:
        r["errors_url"] = "https://api.sendgrid.com/v3/marketing/contacts/imports/errors/%s" % j["id"]
    j["results"] = r
    j["status"] = ("failed" if r["errored_count"] == len(j["work"]) else
                   "errored" if r["errored_count"] else "completed")


class SendGrid(jb.Handler):
    def state(self):
        return {"contacts": contacts, "jobs": len(jobs)}

    def route(self, method, path, query, raw):
        a = jb.args
        if a.token and self.headers.get("Authorization") != "Bearer " + a.token:
            jb.counters["unauthorized"] += 1
            return 401, errors("authorization required")
        w = windows.setdefault((method, path if not path.startswith("/v3/marketing/contacts/imports/") else "imports"),
                               jb.Windows([a.rate]))
        ok = w.take() if jb.counters["requests"] > a.throttle_first else 1
        lim, rem, reset = w.remaining()
        hdr = {"X-RateLimit-Limit": int(lim), "X-RateLimit-Remaining": int(rem),
               "X-RateLimit-Reset": int(time.time() + reset + 0.999)}
        if ok is not True:
            if ok == 1 and jb.counters["requests"] <= a.throttle_first:
                hdr.update({"X-RateLimit-Remaining": 0, "X-RateLimit-Reset": int(time.time()) + 1})
            jb.counters["throttled"] += 1
            return 429, errors("too many requests"), hdr
        if path == "/v3/marketing/contacts/count" and method == "GET":
            return 200, {"contact_count": len(contacts), "billable_count": len(contacts)}, hdr
        if path == "/v3/marketing/contacts" and method == "PUT":
            try:
                d = json.loads(raw)
                work = d["contacts"]
                assert isinstance(work, list) and all(isinstance(c, dict) for c in work)
                lists = d.get("list_ids") or []
            except (ValueError, KeyError, AssertionError, TypeError):
                jb.violation("PUT body")
                return 400, errors("contacts is required", "contacts"), hdr
            if not work or len(work) > 30000 or len(raw) > 6 * 1024 * 1024:
                jb.violation("PUT of %d contacts, %d bytes" % (len(work), len(raw)))
                return 400, errors("contacts: 1 to 30000, 6 MB at most", "contacts"), hdr
            for c in work:
                for k, v in c.items():
                    if k not in STD:
                        jb.violation("unknown contact field %s" % k)
                        return 400, errors("unknown field %s" % k, "contacts"), hdr
                    if k not in ("custom_fields", "alternate_emails") and not isinstance(v, str):
                        jb.violation("%s is not a string" % k)
                        return 400, errors("%s must be a string" % k, "contacts"), hdr
            if a.sync_invalid:
                bad = [{"field": "contacts[%d].email" % i, "message": bad_contact(c)}
                       for i, c in enumerate(work) if bad_contact(c)]
                if bad:
                    return 400, {"errors": bad}, hdr
            jid = str(uuid.uuid4())
            jobs[jid] = {"id": jid, "type": "upsert", "work": work, "lists": lists, "status": "pending", "polls": 0}
            jb.counters["submitted"] += 1
            return 202, {"job_id": jid}, hdr
        if path == "/v3/marketing/contacts" and method == "DELETE":
            if raw:
                jb.violation("DELETE with a body")
                return 400, errors("request body must be empty"), hdr
            ids = [i for i in (query.get("ids") or [""])[0].split(",") if i]
            if not ids:
                jb.violation("DELETE without ids")
                return 400, errors("ids or delete_all_contacts is required", "ids"), hdr
            jid = str(uuid.uuid4())
            jobs[jid] = {"id": jid, "type": "delete", "work": ids, "status": "pending", "polls": 0}
            jb.counters["submitted"] += 1
            return 202, {"job_id": jid}, hdr
        if path.startswith("/v3/marketing/contacts/imports/") and method == "GET":
            j = jobs.get(path.rsplit("/", 1)[1])
            if j is None:
                return 404, errors("job not found"), hdr
            jb.counters["polls"] += 1
            j["polls"] += 1
            if j["status"] == "pending" and j["polls"] >= a.polls:
                run(j)
            doc = {"id": j["id"], "status": j["status"], "job_type": j["type"],
                   "results": j.get("results", {}), "started_at": "2026-12-01T00:00:00Z"}
            if j["status"] != "pending":
                doc["finished_at"] = "2026-12-01T00:00:01Z"
            return 200, doc, hdr
        if path == "/v3/marketing/contacts/search/emails" and method == "POST":
            try:
                emails = json.loads(raw)["emails"]
                assert isinstance(emails, list) and all(isinstance(e, str) for e in emails)
            except (ValueError, KeyError, AssertionError, TypeError):
                jb.violation("search body")
                return 400, errors("emails is required", "emails"), hdr
            if len(emails) > 100:
                jb.violation("search of %d e-mails" % len(emails))
                return 400, errors("at most 100 emails", "emails"), hdr
            if any("@" not in e for e in emails):
                return 400, errors("invalid email", "emails"), hdr
            res = {}
            for e in emails:
                c = contacts.get(e.lower())
                res[e] = {"contact": dict(c, email=e.lower())} if c else {"error": "contact not found"}
            if not any("contact" in v for v in res.values()):
                return 404, errors("No contacts found"), hdr
            return 200, {"result": res}, hdr
        return None


def main():
    ap = jb.parser()
    ap.add_argument("--polls", type=int, default=2)
    ap.add_argument("--sync-invalid", action="store_true")
    ap.add_argument("--rate", default="600/60")
    a = ap.parse_args()
    n, per = a.rate.split("/")
    a.rate = (float(n), float(per))
    jb.serve(SendGrid, a)


if __name__ == "__main__":
    main()
