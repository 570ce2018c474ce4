#!/usr/bin/env python3
"""mailchimp.py - a fake Mailchimp Marketing API (destinations-2.md section
13; the shapes of ../shared/conformance/specs/mailchimp.json), on vendorlib.

Paths may carry the /3.0 prefix of the real base URL or not.
  POST /lists/{list_id}  {"members":[..500],"update_existing":bool}: 200
        {"new_members":[{id,email_address,status,...}],"updated_members":[..],
         "errors":[{email_address,error,error_code,field,field_message}],
         "total_created","total_updated","error_count"}.  An invalid address
        (vendorlib.invalid) is ERROR_GENERIC "looks fake or invalid"; an
        existing member with update_existing false is ERROR_CONTACT_EXISTS;
        a new member needs a status; merge_fields with "_reject": true are
        refused.  id = MD5 of the lowercased address (the subscriber hash).
        More than 500 members: 400.  An unknown list: 404.
  DELETE /lists/{list_id}/members/{hash or address}  204; not a member: 404
  Auth: HTTP Basic, any user, the API key (--key) as the password; else
  401 problem+json "API Key Invalid".  Over --max-inflight (Mailchimp: 10
  simultaneous connections): 429 problem+json.  --list ID (default list1).
The store is keyed by the lowercased address; a record's row is the
member less its address: {"status", "merge_fields", ...}.
"""
import base64
import hashlib

import vendorlib
from vendorlib import invalid, store, stored, drop

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")


def problem(status, title, detail):
    return status, {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title,
                    "status": status, "detail": detail, "instance": "fake-0001"}, \
        {"Content-Type": "application/problem+json; charset=utf-8"}


def subscriber_hash(address):
    return hashlib.md5(address.lower().encode()).hexdigest()


class Mailchimp(vendorlib.Base):
    name = "mailchimp"

    def __init__(self, opt):
        self.opt = opt

    def auth(self, req):
        if self.opt.key is None:
            return None
        a = req.headers.get("authorization", "")
        if a.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(a[6:]).decode().partition(":")
                if password == self.opt.key:
                    return None
            except ValueError:
                pass
        return problem(401, "API Key Invalid",
                       "Your API key may be invalid, or you've attempted to access the wrong datacenter.")

    def busy(self, req):
        return problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")

    def throttle(self, req, wait):
        return self.busy(req)

    def handle(self, req):
        path = req.path[4:] if req.path.startswith("/3.0/") else req.path
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "lists" and parts[1] != self.opt.list:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        if req.method == "GET" and len(parts) == 2 and parts[0] == "lists":
            return 200, {"id": self.opt.list, "name": "rx fake audience"}, {}
        if req.method == "POST" and len(parts) == 2 and parts[0] == "lists":
            return self.batch(req.json)
        if req.method == "DELETE" and len(parts) == 4 and parts[2] == "members":
            return self.archive(parts[3])
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    def batch(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("members"), list):
            return problem(400, "Invalid Resource", "The resource submitted could not be validated.")
        members = body["members"]
        if len(members) > 500:
            return problem(400, "Invalid Resource", "members: Array must have at most 500 items")
        update = body.get("update_existing") is True
        doc = {"new_members": [], "updated_members": [], "errors": []}

        def error(address, text, code="ERROR_GENERIC", field="", field_message=""):
            doc["errors"].append({"email_address": address, "error": text, "error_code": code,
                                  "field": field, "field_message": field_message})
        for m in members:
            address = m.get("email_address") if isinstance(m, dict) else None
            if not isinstance(address, str) or invalid({"email": address}):
                error(address, "%s looks fake or invalid, please enter a real email address." % address,
                      field="email_address", field_message="Please enter a real email address")
                continue
            key = address.lower()
            old = stored(key)
            merge = m.get("merge_fields") or {}
            if not isinstance(merge, dict) or merge.get("_reject") is True:
                error(address, "Your merge fields were invalid.", field="merge_fields",
                      field_message="rejected by the destination's validation")
                continue
            status = m.get("status")
            if status is not None and status not in STATUSES:
                error(address, "Invalid status", field="status", field_message="not a valid status")
                continue
            if old is not None and not update:
                error(address, "%s is already a list member. Use PUT to insert or update list members." % address,
                      code="ERROR_CONTACT_EXISTS")
                continue
            if old is None and status is None:
                error(address, "Please provide a status for new members.", field="status",
                      field_message="Status is required")
                continue
            new = dict(old or {})
            for k, v in m.items():
                if k == "email_address":
                    continue
                if k == "merge_fields":
                    mf = dict(new.get("merge_fields") or {})
                    mf.update(v)
                    new["merge_fields"] = mf
                else:
                    new[k] = v
            store(key, new)
            entry = {"id": subscriber_hash(address), "email_address": key, "status": new.get("status")}
            (doc["updated_members"] if old is not None else doc["new_members"]).append(entry)
        doc["total_created"] = len(doc["new_members"])
        doc["total_updated"] = len(doc["updated_members"])
        doc["error_count"] = len(doc["errors"])
        return 200, doc, {}

    def archive(self, who):
        if "@" in who:
            key = who.lower()
        else:
            key = next((k for k in vendorlib.STATE["records"] if subscriber_hash(k) == who), None)
        if key is None or stored(key) is None:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        drop(key)
        return 204, None, {}


def args(ap):
    ap.add_argument("--list", default="list1")


if __name__ == "__main__":
    vendorlib.main(Mailchimp, args)
