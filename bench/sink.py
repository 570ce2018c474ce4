#!/usr/bin/env python3
"""bench/sink.py - a loopback sink for bench/52-profiles.sh (stdlib only).

Answers every request at once with a success in the shape the named
vendor uses, so that each profile's response program runs on a real
reply: --vendor braze|iterable|mailchimp|customerio|marketo|mixpanel|
amplitude|segment|webhook.  It stores nothing and checks nothing (the
fakes in t/fake/ do); it parses a body only where the vendor's success
names the records (Mailchimp by address, Marketo by position).  Its own
CPU time is printed at exit (SIGTERM) to --cpu-file, so the bench can
say how much of a run was the sink.
"""
import argparse
import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def reply_for(vendor, path, body):
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
    a = ap.parse_args()

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
            status, data = reply_for(a.vendor, self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    ThreadingHTTPServer.daemon_threads = True
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
