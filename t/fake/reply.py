#!/usr/bin/env python3
"""reply.py - a one-answer HTTP server for tests (stdlib only).

Answers every request with the same status, headers and body, and logs
each request as it arrived: one JSON line {"method","path","headers",
"body"} where "path" is the request target exactly as sent (no dot
segments resolved, nothing decoded).  Start it with t/lib-fake.sh's
reply_start.

  --port-file FILE     the port, once it listens on 127.0.0.1
  --status N           default 200
  --body TEXT          default {}; with --echo-headers, the request's
                       path and headers as JSON (a server that echoes what
                       it got, as some do in their error bodies)
  --body-file FILE     the body's bytes from a file (any bytes at all)
  --header 'Name: v'   repeatable
  --log FILE           the requests, one JSON line each
  --tls CERT KEY       serve HTTPS with this certificate and key
"""
import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--body", default="{}")
    ap.add_argument("--body-file")
    ap.add_argument("--echo-headers", action="store_true")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--log")
    ap.add_argument("--tls", nargs=2)
    a = ap.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
            if a.log:
                with open(a.log, "a") as f:
                    f.write(json.dumps({"method": self.command, "path": self.path,
                                        "headers": dict(self.headers.items()), "body": body}) + "\n")
            out = a.body
            if a.echo_headers:
                out = json.dumps({"error": "bad request", "path": self.path, "you_sent": dict(self.headers.items())})
            data = out.encode("utf-8", "surrogateescape")
            if a.body_file:
                with open(a.body_file, "rb") as f:
                    data = f.read()
            self.send_response(a.status)
            for h in a.header:
                name, _, value = h.partition(":")
                self.send_header(name.strip(), value.strip())
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if a.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
