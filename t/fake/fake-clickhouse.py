#!/usr/bin/env python3
"""fake-clickhouse.py - a fake of a current ClickHouse server's HTTP
interface, for what the Debian 12 server (18.16) cannot show: the types and
settings of current releases, and their ways of failing (stdlib only).

The tests run against a real clickhouse-server (t/lib-clickhouse.sh); this
fake answers only the three requests rx-extract --clickhouse makes, with
what a current server sends (https://clickhouse.com/docs/interfaces/http,
/docs/interfaces/formats/TabSeparatedWithNamesAndTypes):

  POST "SELECT name, value FROM system.settings ..."   the settings of
       --settings FILE (name TAB value lines; default: a current server's
       defaults, date_time_output_format=simple) and "rx:timezone TAB UTC"
  POST "DESCRIBE (...)"                  name TAB type lines from --body's header
  POST "SELECT *, unhex('FFFE') AS __rx_row_end FROM (...) FORMAT
       TabSeparatedWithNamesAndTypes"    the body of --body FILE (a
       TabSeparatedWithNamesAndTypes result as a current server writes it),
       with the marker column added to each line, chunked; then
       --exception TEXT if given: plain ("Code: 241. DB::Exception: ..."
       after the last row), or framed as 25.11+ does when --tag TAG is given
       (X-ClickHouse-Exception-Tag: TAG and
       "\r\n__exception__\r\nTAG\r\n<text>\n<len> __exception__\r\nTAG\r\n")

Switches
  --port-file FILE   written once the fake listens (127.0.0.1, a free port)
  --log FILE         one line per request: the URL (path and query), then
                     "user=<X-ClickHouse-User or ->", "key=<present|->"
                     (never the key itself) and "sql=<the query, one line>"
  --status N --error TEXT   answer the main query with HTTP N and TEXT
  --key KEY          require X-ClickHouse-Key KEY (else 401, Code: 516)
  --deny-settings    refuse to read system.settings (Code: 497, ACCESS_DENIED)
  --unknown A,B      settings this server does not know: a request that sets
                     one gets Code: 115 (UNKNOWN_SETTING), before any row
"""
import argparse
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
MARKER_NAME = b"__rx_row_end"
DEFAULT_SETTINGS = [
    ("readonly", "0"),
    ("date_time_output_format", "simple"),
    ("format_tsv_null_representation", "\\\\N"),
    ("output_format_tsv_crlf_end_of_line", "0"),
    ("bool_true_representation", "true"),
    ("bool_false_representation", "false"),
    ("result_overflow_mode", "throw"),
    ("read_overflow_mode", "throw"),
    ("timeout_overflow_mode", "throw"),
    ("sort_overflow_mode", "throw"),
    ("distinct_overflow_mode", "throw"),
    ("group_by_overflow_mode", "throw"),
    ("set_overflow_mode", "throw"),
    ("join_overflow_mode", "throw"),
    ("transfer_overflow_mode", "throw"),
    ("limit", "0"),
    ("offset", "0"),
    ("cancel_http_readonly_queries_on_client_close", "0"),
]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send_chunked(self, status, parts, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/tab-separated-values; charset=UTF-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-ClickHouse-Format", "TabSeparatedWithNamesAndTypes")
        self.send_header("X-ClickHouse-Timezone", "UTC")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        for p in parts:
            if p:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
        self.wfile.write(b"0\r\n\r\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        sql = self.rfile.read(n)
        user = self.headers.get("X-ClickHouse-User", "-")
        key = self.headers.get("X-ClickHouse-Key")
        if args.log:
            with open(args.log, "a") as f:
                f.write("%s user=%s key=%s sql=%s\n" % (self.path, user, "present" if key else "-",
                                                       sql.decode("utf-8", "replace").replace("\n", " ")))
        if args.key is not None and key != args.key:
            body = ("Code: 516. DB::Exception: %s: Authentication failed: password is incorrect, or there is "
                    "no user with such name. (AUTHENTICATION_FAILED) (version 24.8.4.13 (official build))\n"
                    % (user if user != "-" else "default")).encode()
            self.send_chunked(401, [body], [("X-ClickHouse-Exception-Code", "516")])
            return
        if args.deny_settings and sql.startswith(b"SELECT name, value FROM system.settings"):
            body = (b"Code: 497. DB::Exception: %s: Not enough privileges. To execute this query, it's necessary "
                    b"to have the grant SELECT(name, value) ON system.settings. (ACCESS_DENIED)\n" % user.encode())
            self.send_chunked(500, [body], [("X-ClickHouse-Exception-Code", "497")])
            return
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        for name in (args.unknown or "").split(","):
            if name and ("&" + query).find("&" + name + "=") >= 0:
                body = (b"Code: 115. DB::Exception: Setting %s is neither a builtin setting nor started with the "
                        b"prefix 'custom_' registered for user-defined settings. (UNKNOWN_SETTING)\n" % name.encode())
                self.send_chunked(500, [body], [("X-ClickHouse-Exception-Code", "115")])
                return
        if sql.startswith(b"SELECT name, value FROM system.settings"):
            rows = DEFAULT_SETTINGS
            if args.settings:
                rows = [tuple(l.rstrip("\n").split("\t", 1)) for l in open(args.settings) if "\t" in l]
            out = b"".join(b"%s\t%s\n" % (k.encode(), v.encode()) for k, v in rows)
            self.send_chunked(200, [out + b"rx:timezone\tUTC\n"])
            return
        lines = open(args.body, "rb").read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if sql.startswith(b"DESCRIBE"):
            names, types = lines[0].split(b"\t"), lines[1].split(b"\t")
            self.send_chunked(200, [b"".join(b"%s\t%s\t\t\t\t\t\n" % (a, b) for a, b in zip(names, types))])
            return
        if args.status:
            self.send_chunked(args.status, [args.error.encode() + b"\n"],
                              [("X-ClickHouse-Exception-Code", args.error.split(".")[0].split(" ")[-1])])
            return
        parts = [lines[0] + b"\t" + MARKER_NAME + b"\n", lines[1] + b"\tString\n"]
        parts += [l + b"\t\xff\xfe\n" for l in lines[2:]]
        headers = []
        if args.exception:
            text = args.exception.encode()
            if args.tag:
                headers.append(("X-ClickHouse-Exception-Tag", args.tag))
                tag = args.tag.encode()
                msg = text + b"\n"
                parts.append(b"\r\n__exception__\r\n" + tag + b"\r\n" + msg +
                             b"%d __exception__\r\n" % len(msg) + tag + b"\r\n")
            else:
                parts.append(text + b"\n")
        self.send_chunked(200, parts, headers)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--body", required=True)
    ap.add_argument("--settings")
    ap.add_argument("--log")
    ap.add_argument("--exception")
    ap.add_argument("--tag")
    ap.add_argument("--status", type=int)
    ap.add_argument("--error", default="")
    ap.add_argument("--key")
    ap.add_argument("--deny-settings", action="store_true")
    ap.add_argument("--unknown")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
