#!/usr/bin/env python3
"""google-ads.py - a fake of Google Ads Customer Match (stdlib only):
OfflineUserDataJobService over REST, the job's status through
GoogleAdsService.Search, and Google's OAuth2 token endpoint, after
../shared/reference/destinations.md section 9 and destinations-2.md
section 34.

  POST /token                     refresh_token grant -> {"access_token","expires_in","token_type"}
  POST /{v}/customers/{cid}/offlineUserDataJobs:create
       {"job":{"type":"CUSTOMER_MATCH_USER_LIST","customerMatchUserListMetadata":{"userList":"customers/{cid}/userLists/{id}"}}}
       -> {"resourceName":"customers/{cid}/offlineUserDataJobs/{id}"}
  POST /{v}/customers/{cid}/offlineUserDataJobs/{id}:addOperations
       {"enablePartialFailure":true,"operations":[{"create"|"remove":{"userIdentifiers":[..]}}]}
       -> {} or {"partialFailureError":{"code":3,"message","details":[GoogleAdsFailure]}}
  POST /{v}/customers/{cid}/offlineUserDataJobs/{id}:run   -> {"name":"customers/{cid}/operations/.."}
  POST /{v}/customers/{cid}/googleAds:search  {"query":"SELECT offline_user_data_job.status ... WHERE offline_user_data_job.id = N"}
       -> {"results":[{"offlineUserDataJob":{"resourceName","id","status","failureReason"?}}],"fieldMask"}
  GET  /{v}/customers:listAccessibleCustomers -> {"resourceNames":[...]}
  GET  /_state   {"records":{member key:{"row":{...}}}, "jobs":{...}, counters}

A job is a promise: its operations touch the list only when it has run
and been searched --polls N times (PENDING -> RUNNING -> SUCCESS).  The
job run --fail-job K times (the K-th job run) ends FAILED with
failureReason INSUFFICIENT_MATCHED_TRANSACTIONS (a value of Google's enum) after applying the first half of
its operations, as Google says a FAILED job may have.  A list member is
keyed by its hashedEmail (else its phone, else its address): a create
adds or replaces it, a remove of the same identifiers removes it.

Validation as Google's (partial failure: the operation's index in
location.fieldPathElements[0]): a hashed value that is not 64 lowercase
hex digits, or the --reject HEX value, is INVALID_SHA256_FORMAT; an
operation with no identifiers, more than 20, or an identifier setting
other than exactly one field is refused; more than 100,000 identifiers
a request is TOO_MANY_USER_IDENTIFIERS (400, whole request); an
operation on a job that is not PENDING is refused (400).  A request
over --rate N/SECONDS, or one of the first --throttle-first N API
requests, is 429 RESOURCE_EXHAUSTED with quotaErrorDetails.retryDelay
"--retry-delay s".  Auth: the bearer token the token endpoint gave (or
--access-token), and the developer-token header; else 401
UNAUTHENTICATED.  Every API request is logged to --log as one JSON line.
(Unverified and modelled loosely: the exact error names for a job not
PENDING and an empty operation, and 401 for a bad developer token.)
"""
import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
members = {}
jobs = {}
tokens = set()
counters = {"requests": 0, "created": 0, "added": 0, "runs": 0, "polls": 0, "throttled": 0, "unauthorized": 0,
            "violations": 0, "applied": 0, "failed_jobs": 0, "partial_failures": 0, "tokens": 0}
window = deque()
next_job = [18025019000]
args = None
HEX = re.compile(r"^[0-9a-f]{64}$")
HASHED = ("hashedEmail", "hashedPhoneNumber")
ONE_OF = ("hashedEmail", "hashedPhoneNumber", "addressInfo", "mobileId", "thirdPartyUserId")


def member_key(ids):
    for want in ("hashedEmail", "hashedPhoneNumber", "addressInfo", "mobileId", "thirdPartyUserId"):
        for i in ids:
            if want in i:
                v = i[want]
                return v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return None


def as_row(ids):
    row = {}
    for i in ids:
        for k, v in i.items():
            if k == "addressInfo":
                row.update(v)
            else:
                row[k] = v
    return row


def failure(index, code, message, where):
    path = [{"fieldName": "operations", "index": index}, {"fieldName": where[0]}]
    path += [{"fieldName": "user_identifiers", "index": where[1]}] if where[1] is not None else []
    path += [{"fieldName": where[2]}] if where[2] else []
    return {"errorCode": code, "message": message, "location": {"fieldPathElements": path}}


def check_op(i, op):
    """The errors of one operation (a list, empty when it is valid)."""
    verbs = [v for v in ("create", "remove") if v in op]
    if len(verbs) != 1 or not isinstance(op[verbs[0]], dict):
        return [failure(i, {"requestError": "INVALID_INPUT"}, "An operation sets exactly one of create, remove.",
                        ("create", None, None))]
    verb = verbs[0]
    ids = op[verb].get("userIdentifiers")
    if not isinstance(ids, list) or not ids:
        return [failure(i, {"collectionSizeError": "TOO_FEW"}, "Too few user identifiers.", (verb, None, None))]
    if len(ids) > 20:
        return [failure(i, {"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"},
                        "Too many user identifiers in one operation (20 at most).", (verb, None, None))]
    errs = []
    for j, ident in enumerate(ids):
        set_ = [k for k in ONE_OF if k in ident] if isinstance(ident, dict) else []
        if len(set_) != 1 or len(ident) != 1:
            errs.append(failure(i, {"requestError": "INVALID_INPUT"}, "A user identifier sets exactly one field.",
                                (verb, j, None)))
            continue
        k = set_[0]
        vals = [(k, ident[k])] if k in HASHED else []
        if k == "addressInfo":
            a = ident[k]
            vals = [("hashed_first_name", a.get("hashedFirstName")), ("hashed_last_name", a.get("hashedLastName"))]
            if not a.get("countryCode") or not a.get("postalCode"):
                errs.append(failure(i, {"offlineUserDataJobError": "INCOMPATIBLE_UPLOAD_KEY_TYPE"},
                                    "An address needs country_code and postal_code.", (verb, j, "address_info")))
        for name, v in vals:
            if v is not None and (not isinstance(v, str) or not HEX.match(v) or v == args.reject):
                errs.append(failure(i, {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
                                    "The SHA256 encoded value is malformed.", (verb, j, re.sub(
                                        r"([A-Z])", lambda m: "_" + m.group(1).lower(), name))))
    return errs


def run_job(j):
    """Apply a job's operations (the first half of them for a FAILED one)."""
    ops = j["ops"]
    if j["fail"]:
        ops = ops[:len(ops) // 2]
    for verb, ids in ops:
        key = member_key(ids)
        if verb == "create":
            members[key] = {"row": as_row(ids)}
        else:
            members.pop(key, None)
    counters["applied"] += len(ops)


def google_error(status, gstatus, message, errors=None):
    doc = {"error": {"code": status, "message": message, "status": gstatus}}
    if errors:
        doc["error"]["details"] = [{"@type": "type.googleapis.com/google.ads.googleads.%s.errors.GoogleAdsFailure"
                                    % args.version, "errors": errors, "requestId": "fake"}]
    return doc


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send(self, status, doc, headers=None):
        data = json.dumps(doc).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log(self, body):
        if args.log:
            with open(args.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body}) + "\n")

    def guard(self):
        """Auth and the rate limit: True when the request may go on."""
        counters["requests"] += 1
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        if tok is None or (tok not in tokens and tok != args.access_token) or \
                self.headers.get("developer-token") != args.developer_token:
            counters["unauthorized"] += 1
            self.send(401, google_error(401, "UNAUTHENTICATED",
                                        "Request is missing required authentication credential. Expected OAuth 2 "
                                        "access token, login cookie or other valid authentication credential.",
                                        [{"errorCode": {"authenticationError": "AUTHENTICATION_ERROR"},
                                          "message": "Authentication of the request failed."}]))
            return False
        if args.login_customer_id and self.headers.get("login-customer-id") != args.login_customer_id:
            counters["violations"] += 1
        throttle = False
        if args.throttle_first and counters["throttled"] < args.throttle_first:
            throttle = True
        elif args.rate:
            n, per = args.rate
            now = time.monotonic()
            while window and now - window[0] > per:
                window.popleft()
            if len(window) >= n:
                throttle = True
            else:
                window.append(now)
        if throttle:
            counters["throttled"] += 1
            self.send(429, google_error(429, "RESOURCE_EXHAUSTED", "Too many requests. Retry in %s seconds."
                                        % args.retry_delay,
                                        [{"errorCode": {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"},
                                          "message": "Too many requests. Retry in %s seconds." % args.retry_delay,
                                          "details": {"quotaErrorDetails": {"rateScope": "ACCOUNT",
                                                                            "rateName": "Requests per service per method",
                                                                            "retryDelay": "%ss" % args.retry_delay}}}]))
            return False
        return True

    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        with lock:
            if path == "/_state":
                self.send(200, {"records": members, "jobs": jobs, **counters})
                return
            self.log(None)
            if not self.guard():
                return
            if path == "/%s/customers:listAccessibleCustomers" % args.version:
                self.send(200, {"resourceNames": ["customers/%s" % args.customer]})
                return
        self.send(404, google_error(404, "NOT_FOUND", "The requested URL was not found on this server."))

    def token(self, raw):
        form = urllib.parse.parse_qs(raw.decode())
        get = lambda k: form.get(k, [""])[0]
        if get("grant_type") != "refresh_token" or get("client_id") != args.client_id or \
                get("client_secret") != args.client_secret or get("refresh_token") != args.refresh_token:
            self.send(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
            return
        counters["tokens"] += 1
        tok = "ya29.fake-%d" % counters["tokens"]
        tokens.add(tok)
        self.send(200, {"access_token": tok, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/adwords",
                        "token_type": "Bearer"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        path = urllib.parse.urlparse(self.path).path
        with lock:
            if path == "/token":
                self.token(raw)
                return
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            self.log(body)
            if not self.guard():
                return
            if body is None or not isinstance(body, dict):
                self.send(400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
                return
            base = "/%s/customers/%s/" % (args.version, args.customer)
            if not path.startswith(base):
                counters["violations"] += 1
                self.send(403, google_error(403, "PERMISSION_DENIED", "The caller does not have permission",
                                            [{"errorCode": {"authorizationError": "USER_PERMISSION_DENIED"},
                                              "message": "User doesn't have permission to access customer."}]))
                return
            rest = path[len(base):]
            if rest == "offlineUserDataJobs:create":
                self.create(body)
                return
            m = re.match(r"^offlineUserDataJobs/([0-9]+):(addOperations|run)$", rest)
            if m:
                j = jobs.get(m.group(1))
                if j is None:
                    self.send(404, google_error(404, "NOT_FOUND", "Resource was not found."))
                elif m.group(2) == "addOperations":
                    self.add(j, body)
                else:
                    self.run(j)
                return
            if rest == "googleAds:search":
                self.search(body)
                return
        self.send(404, google_error(404, "NOT_FOUND", "The requested URL was not found on this server."))

    def create(self, body):
        job = body.get("job") or {}
        meta = job.get("customerMatchUserListMetadata") or {}
        want = "customers/%s/userLists/%s" % (args.customer, args.list)
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or meta.get("userList") != want:
            counters["violations"] += 1
            self.send(400, google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                        [{"errorCode": {"offlineUserDataJobError": "INVALID_USER_LIST_ID"},
                                          "message": "The user list ID provided for the job is invalid.",
                                          "location": {"fieldPathElements": [{"fieldName": "job"}]}}]))
            return
        next_job[0] += 1
        jid = str(next_job[0])
        jobs[jid] = {"status": "PENDING", "ops": [], "polls": 0, "fail": False, "consent": meta.get("consent")}
        counters["created"] += 1
        self.send(200, {"resourceName": "customers/%s/offlineUserDataJobs/%s" % (args.customer, jid)})

    def add(self, j, body):
        if j["status"] != "PENDING":
            counters["violations"] += 1
            self.send(400, google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                        [{"errorCode": {"offlineUserDataJobError": "INVALID_JOB_STATUS"},
                                          "message": "The job is not PENDING: operations cannot be added."}]))
            return
        ops = body.get("operations")
        if not isinstance(ops, list) or not ops:
            self.send(400, google_error(400, "INVALID_ARGUMENT", "operations: at least one is required."))
            return
        nids = sum(len((o.get("create") or o.get("remove") or {}).get("userIdentifiers") or [])
                   for o in ops if isinstance(o, dict))
        if nids > 100000:
            counters["violations"] += 1
            self.send(400, google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                        [{"errorCode": {"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"},
                                          "message": "Too many user identifiers (100,000 a request at most)."}]))
            return
        errors, good = [], []
        for i, op in enumerate(ops):
            e = check_op(i, op) if isinstance(op, dict) else [failure(i, {"requestError": "INVALID_INPUT"},
                                                                      "Not an operation.", ("create", None, None))]
            if e:
                errors += e
            else:
                verb = "create" if "create" in op else "remove"
                good.append((verb, op[verb]["userIdentifiers"]))
        counters["added"] += len(good)
        if errors and not body.get("enablePartialFailure"):
            self.send(400, google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", errors))
            return
        j["ops"] += good
        if not errors:
            self.send(200, {})
            return
        counters["partial_failures"] += len(errors)
        first = errors[0]
        self.send(200, {"partialFailureError": {
            "code": 3, "message": "%s, at operations[%d]" % (first["message"],
                                                              first["location"]["fieldPathElements"][0]["index"]),
            "details": [{"@type": "type.googleapis.com/google.ads.googleads.%s.errors.GoogleAdsFailure" % args.version,
                         "errors": errors, "requestId": "fake"}]}})

    def run(self, j):
        if j["status"] != "PENDING":
            self.send(400, google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                        [{"errorCode": {"offlineUserDataJobError": "INVALID_JOB_STATUS"},
                                          "message": "The job has already been run."}]))
            return
        counters["runs"] += 1
        j["status"] = "RUNNING"
        j["fail"] = args.fail_job > 0 and counters["runs"] == args.fail_job
        self.send(200, {"name": "customers/%s/operations/%d" % (args.customer, counters["runs"])})

    def search(self, body):
        q = body.get("query") or ""
        m = re.search(r"FROM\s+offline_user_data_job\s+WHERE\s+offline_user_data_job\.id\s*=\s*([0-9]+)", q)
        if not m or "offline_user_data_job.status" not in q:
            counters["violations"] += 1
            self.send(400, google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                                        [{"errorCode": {"queryError": "UNEXPECTED_END_OF_QUERY"},
                                          "message": "Error in query."}]))
            return
        jid = m.group(1)
        j = jobs.get(jid)
        if j is None:
            self.send(200, {"fieldMask": "offlineUserDataJob.id,offlineUserDataJob.status"})
            return
        counters["polls"] += 1
        if j["status"] == "RUNNING":
            j["polls"] += 1
            if j["polls"] >= args.polls:
                run_job(j)
                j["status"] = "FAILED" if j["fail"] else "SUCCESS"
                counters["failed_jobs"] += 1 if j["fail"] else 0
        doc = {"resourceName": "customers/%s/offlineUserDataJobs/%s" % (args.customer, jid), "id": jid,
               "status": j["status"]}
        if j["status"] == "FAILED":
            doc["failureReason"] = "INSUFFICIENT_MATCHED_TRANSACTIONS"
        self.send(200, {"results": [{"offlineUserDataJob": doc}],
                        "fieldMask": "offlineUserDataJob.id,offlineUserDataJob.status,offlineUserDataJob.failureReason"})


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--state-file")
    ap.add_argument("--version", default="v23")
    ap.add_argument("--customer", default="1234567890")
    ap.add_argument("--login-customer-id")
    ap.add_argument("--list", default="555")
    ap.add_argument("--developer-token", default="dev-test")
    ap.add_argument("--client-id", default="client.test")
    ap.add_argument("--client-secret", default="secret.test")
    ap.add_argument("--refresh-token", default="refresh.test")
    ap.add_argument("--access-token")
    ap.add_argument("--polls", type=int, default=2)
    ap.add_argument("--fail-job", type=int, default=0)
    ap.add_argument("--reject")
    ap.add_argument("--throttle-first", type=int, default=0)
    ap.add_argument("--retry-delay", default="1")
    ap.add_argument("--rate")
    ap.add_argument("--log")
    a = ap.parse_args()
    if a.rate:
        n, s = a.rate.split("/")
        a.rate = (int(n), float(s))
    args = a
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
