#!/usr/bin/env python3
"""latency-dest.py - the loopback destination of bench/80-latency.sh.

Listens on 127.0.0.1 (port 0: the kernel picks one; written to
--port-file) and takes POSTs on any path, holding one table per path:

  - rx's webhook contract: {"op":OP,"records":[{"key","row",...}]}: an
    upsert stores row under key, a delete removes key; the reply is 200 {}
    (a 2xx without "results": every record acked);
  - anything else that is a JSON array of rows (the psql + curl loop's
    json_agg): each row stored under its "id".

For every row received it logs, to --log, one line
"PATH ID TS ARRIVAL": TS is the row's "ts" member (the source's commit
time, epoch seconds, written by the bench's writer) and ARRIVAL the
wall-clock time the request was read here.  GET /_rows?path=P returns
that path's table as {ID: row} (JSON), for the end check.

Stdlib only.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
tables = {}
log = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # one segment a reply, sent at once: without this the body waits for
    # the client's delayed ACK (Nagle), 40 ms a request
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
            status, "OK" if status == 200 else "Error", len(data))
        self.wfile.write(head.encode() + data)

    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/_rows":
            p = parse_qs(u.query).get("path", ["/"])[0]
            with lock:
                self.reply(200, tables.get(p, {}))
            return
        self.reply(404, {})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        arrival = time.time()
        path = urlparse(self.path).path
        try:
            doc = json.loads(body) if body.strip() else []
        except ValueError:
            self.reply(400, {"error": "not JSON"})
            return
        lines = []
        with lock:
            t = tables.setdefault(path, {})
            if isinstance(doc, dict) and "records" in doc:
                for r in doc["records"]:
                    key, row = str(r.get("key")), r.get("row") or {}
                    if r.get("op", doc.get("op")) == "delete":
                        t.pop(key, None)
                    else:
                        t[key] = row
                    lines.append("%s %s %s %.6f\n" % (path, key, row.get("ts", 0), arrival))
            elif isinstance(doc, list):
                for row in doc:
                    key = str(row.get("id"))
                    t[key] = row
                    lines.append("%s %s %s %.6f\n" % (path, key, row.get("ts", 0), arrival))
            if log is not None:
                log.write("".join(lines))
                log.flush()
        self.reply(200, {})


def main():
    global log
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1 << 16)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        log.flush()


if __name__ == "__main__":
    import signal
    import sys

    def stop(*_):
        if log is not None:
            log.flush()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    main()
