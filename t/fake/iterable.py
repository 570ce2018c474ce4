#!/usr/bin/env python3
"""iterable.py - a fake Iterable API (destinations.md section 5), on vendorlib.

  POST /api/users/bulkUpdate  {"users":[{email, userId?, dataFields}]}: always
          200 {"successCount","failCount","invalidEmails","invalidUserIds",
          "filteredOutFields","createdFields","noOpEmails","noOpUserIds",
          "failedUpdates":{invalidEmails, notFoundEmails, invalidDataEmails,
          conflictEmails, forgottenEmails, ...UserIds}}: a user without a
          valid e-mail is listed in invalidEmails, one whose dataFields are
          refused (vendorlib.invalid: "_reject") in failedUpdates.invalidDataEmails;
          failures are named by value, never by position.  dataFields merge
          into the stored user (top-level members replaced).  More than 4 MB:
          413.
  DELETE /api/users/{email}   200 {"msg","code":"Success","params":null};
          an unknown user: 404 {"msg":"User does not exist","code":"NotFound"}
  Auth: "Api-Key: KEY" (--key), else 401 {"msg":"Invalid API key",
  "code":"BadApiKey"}.  Over --rate: 429 {"code":"RateLimitExceeded"}, no
  headers (Iterable documents none).  The store is keyed by the e-mail,
  lowercased; a record's row is the user's dataFields.
"""
import vendorlib
from vendorlib import invalid, store, stored, drop

LISTS = ("invalidEmails", "notFoundEmails", "invalidDataEmails", "conflictEmails", "forgottenEmails",
         "invalidUserIds", "notFoundUserIds", "invalidDataUserIds", "conflictUserIds", "forgottenUserIds")


class Iterable(vendorlib.Base):
    name = "iterable"

    def __init__(self, opt):
        self.opt = opt

    def auth(self, req):
        if self.opt.key is None or req.headers.get("api-key") == self.opt.key:
            return None
        return 401, {"msg": "Invalid API key", "code": "BadApiKey",
                     "params": {"endpoint": req.path}}, {}

    def throttle(self, req, wait):
        return 429, {"msg": "Exceeded rate limit for endpoint: %s, project: 1 " % req.path,
                     "code": "RateLimitExceeded", "params": {}}, {}

    def handle(self, req):
        if req.method == "GET" and req.path == "/api/channels":
            return 200, {"channels": [{"id": 1, "name": "Email", "channelType": "Marketing", "messageMedium": "Email"}]}, {}
        if req.method == "POST" and req.path == "/api/users/bulkUpdate":
            if len(req.raw) > 4000000:
                return 413, {"msg": "Request entity too large", "code": "BadParams", "params": None}, {}
            if not isinstance(req.json, dict) or not isinstance(req.json.get("users"), list):
                return 400, {"msg": "[/api/users/bulkUpdate] Invalid JSON body", "code": "BadJsonBody",
                             "params": None}, {}
            return self.bulk(req.json["users"])
        if req.method == "DELETE" and req.path.startswith("/api/users/"):
            email = req.path[len("/api/users/"):].lower()
            if stored(email) is None:
                return 404, {"msg": "User does not exist", "code": "NotFound", "params": None}, {}
            drop(email)
            return 200, {"msg": "User deleted", "code": "Success", "params": None}, {}
        return 404, {"msg": "no such endpoint", "code": "NotFound", "params": None}, {}

    def bulk(self, users):
        doc = {"successCount": 0, "failCount": 0, "invalidEmails": [], "invalidUserIds": [],
               "filteredOutFields": [], "createdFields": [], "noOpEmails": [], "noOpUserIds": [],
               "failedUpdates": {k: [] for k in LISTS}}
        for u in users:
            email = u.get("email") if isinstance(u, dict) else None
            fields = u.get("dataFields") if isinstance(u, dict) else None
            if not isinstance(email, str) or invalid({"email": email}):
                doc["invalidEmails"].append(email)
                doc["failedUpdates"]["invalidEmails"].append(email)
                doc["failCount"] += 1
                continue
            if fields is not None and (not isinstance(fields, dict) or invalid(fields)):
                doc["failedUpdates"]["invalidDataEmails"].append(email)
                doc["failCount"] += 1
                continue
            key = email.lower()
            new = dict(stored(key) or {})
            new.update(fields or {})
            if new == stored(key):
                doc["noOpEmails"].append(email)
            store(key, new)
            doc["successCount"] += 1
        return 200, doc, {}


if __name__ == "__main__":
    vendorlib.main(Iterable)
