#!/usr/bin/env python3
"""bench/sink.py - a loopback sink for bench/52-profiles.sh (stdlib only).

Answers every request at once with a success in the shape the named
vendor uses, so that each profile's response program runs on a real
reply: --vendor braze|iterable|mailchimp|customerio|marketo|mixpanel|
amplitude|segment|webhook.  It stores nothing and checks nothing (the
fakes in t/fake/ do); it parses a body only where the vendor's success
names the records (Mailchimp by address, Marketo by position).

The asynchronous-job vendors (bench/55-jobs.sh): --vendor klaviyo|
sendgrid|zendesk|googleads answer the job's create (or submission),
its polls and its results in the vendor's shape: a job is done at its
--polls'th poll (default 1: at once; 2: one "in progress" first), with
no failure (Klaviyo's failed_count 0, SendGrid's "completed", Zendesk's
results one a user, in order; Google Ads' SUCCESS).  Only a job's poll
count is kept (and, for Zendesk, its users' external ids).  Its own
CPU time is printed at exit (SIGTERM) to --cpu-file, so the bench can
say how much of a run was the sink.
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


jobs = {}
jobs_lock = threading.Lock()
polls_needed = [1]
job_seq = [0]


def new_job(info):
    with jobs_lock:
        job_seq[0] += 1
        jid = "%026d" % job_seq[0]
        jobs[jid] = [0, info]
        return jid


def polled(jid):
    """(done, info) of a job at this poll; (None, None): no such job."""
    with jobs_lock:
        j = jobs.get(jid)
        if j is None:
            return None, None
        j[0] += 1
        done = j[0] >= polls_needed[0]
        if done:
            del jobs[jid]
        return done, j[1]


def job_reply(vendor, method, path, body):
    if vendor == "klaviyo":
        if path.startswith("/api/profile-bulk-import-jobs/"):
            jid = path.split("/")[3]
            done, n = polled(jid)
            if done is None:
                return 404, b'{"errors":[{"status":404,"code":"not_found","title":"Not found."}]}'
        else:
            n = len(json.loads(body)["data"]["attributes"]["profiles"]["data"])
            jid, done = new_job(n), None
        st = "complete" if done else "processing" if done is False else "queued"
        return (200 if done is not None else 202), json.dumps(
            {"data": {"type": "profile-bulk-import-job", "id": jid,
                      "attributes": {"status": st, "created_at": "2026-12-01T21:00:00+00:00", "total_count": n,
                                     "completed_count": n if done else 0, "failed_count": 0,
                                     "completed_at": "2026-12-01T21:00:01+00:00" if done else None,
                                     "expires_at": None, "started_at": "2026-12-01T21:00:00+00:00"},
                      "relationships": {"lists": {"data": []}},
                      "links": {"self": "https://a.klaviyo.com/api/profile-bulk-import-jobs/%s/" % jid}}}).encode()
    if vendor == "sendgrid":
        if method == "GET" and path.startswith("/v3/marketing/contacts/imports/"):
            jid = path.rstrip("/").split("/")[-1]
            done, n = polled(jid.split("-")[-1])
            if done is None:
                return 404, b'{"errors":[{"field":null,"message":"job not found"}]}'
            return 200, json.dumps(
                {"id": jid, "status": "completed" if done else "pending", "job_type": "upsert",
                 "results": {"requested_count": n, "created_count": n if done else 0, "updated_count": 0,
                             "deleted_count": 0, "errored_count": 0},
                 "started_at": "2026-12-01T21:00:00Z", "finished_at": "2026-12-01T21:00:01Z" if done else None}).encode()
        n = len(json.loads(body)["contacts"]) if body else 0
        return 202, json.dumps({"job_id": "%s-%s" % ("a" * 8, new_job(n))}).encode()
    if vendor == "zendesk":
        if path.startswith("/api/v2/job_statuses/"):
            jid = path[len("/api/v2/job_statuses/"):-len(".json")]
            done, ext = polled(jid)
            if done is None:
                return 404, b'{"error":"RecordNotFound","description":"Not found"}'
            res = [{"id": 900 + i, "status": "Created", "external_id": e} for i, e in enumerate(ext)] if done else None
            return 200, json.dumps({"job_status": {
                "id": jid, "url": "/api/v2/job_statuses/%s.json" % jid, "total": len(ext),
                "progress": len(ext) if done else None, "status": "completed" if done else "working",
                "message": "Completed at 2026-12-01 21:00:01 +0000" if done else None, "results": res}}).encode()
        ext = [str(u.get("external_id")) for u in json.loads(body)["users"]]
        jid = new_job(ext)
        return 200, json.dumps({"job_status": {"id": jid, "url": "/api/v2/job_statuses/%s.json" % jid,
                                               "total": len(ext), "progress": None, "status": "queued",
                                               "message": None, "results": None}}).encode()
    if vendor == "googleads":
        if path == "/token":
            return 200, b'{"access_token":"ya29.bench","expires_in":3599,"token_type":"Bearer"}'
        if path.endswith("offlineUserDataJobs:create"):
            cust = path.split("/")[3]
            return 200, json.dumps({"resourceName": "customers/%s/offlineUserDataJobs/%d"
                                    % (cust, int(new_job(None)))}).encode()
        if path.endswith(":addOperations"):
            return 200, b"{}"
        if path.endswith(":run"):
            return 200, json.dumps({"name": "customers/1/operations/%s" % path.split("/")[-1]}).encode()
        if path.endswith("googleAds:search"):
            jid = "%026d" % int(json.loads(body)["query"].rsplit("=", 1)[1])
            done, _ = polled(jid)
            st = "SUCCESS" if done else "RUNNING" if done is False else None
            return 200, json.dumps({"results": [{"offlineUserDataJob": {"resourceName": "x", "id": jid, "status": st}}]
                                    if st else [], "fieldMask": "offlineUserDataJob.id,offlineUserDataJob.status"}).encode()
    return None


def reply_for(vendor, path, body, method="POST"):
    out = job_reply(vendor, method, path, body)
    if out is not None:
        return out
    if vendor == "braze":
        return 201, b'{"message":"success","attributes_processed":75}'
    if vendor == "iterable":
        return 200, (b'{"successCount":1,"failCount":0,"invalidEmails":[],"invalidUserIds":[],'
                     b'"failedUpdates":{"invalidEmails":[],"invalidDataEmails":[]}}')
    if vendor == "mailchimp":
        members = json.loads(body).get("members", [])
        doc = {"new_members": [{"id": "x", "email_address": m.get("email_address")} for m in members],
               "updated_members": [], "errors": []}
        return 200, json.dumps(doc).encode()
    if vendor == "customerio":
        return 200, b"{}"
    if vendor == "marketo":
        if path.startswith("/identity/oauth/token"):
            return 200, b'{"access_token":"bench","token_type":"bearer","expires_in":3599}'
        n = len(json.loads(body).get("input", []))
        return 200, json.dumps({"requestId": "b", "success": True,
                                "result": [{"id": i, "status": "created"} for i in range(n)]}).encode()
    if vendor == "mixpanel":
        if path.startswith("/engage"):
            return 200, b'{"status":1,"error":null}'
        return 200, b'{"code":200,"num_records_imported":2000,"status":"OK"}'
    if vendor == "amplitude":
        return 200, b"success"
    if vendor == "segment":
        return 200, b'{"success":true}'
    return 200, b"{}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--vendor", default="webhook")
    ap.add_argument("--cpu-file")
    ap.add_argument("--polls", type=int, default=1, help="a job is done at its Nth poll")
    a = ap.parse_args()
    polls_needed[0] = a.polls

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            status, data = reply_for(a.vendor, self.path.split("?")[0], body, self.command)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(*_):
        if a.cpu_file:
            t = os.times()
            with open(a.cpu_file, "w") as f:
                f.write("%.3f\n" % (t.user + t.system))
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
