#!/usr/bin/python3
"""Loopback HTTP/1.1 test server for the ims.core specs (Python 3 stdlib only).

    /usr/bin/python3 spec/support/httpd.py PORTFILE

Binds 127.0.0.1 on a free port, then writes the port to PORTFILE and its pid to
PORTFILE.pid (both atomically). Keep-alive, one thread per connection, silent per
request, exits cleanly on SIGTERM/SIGINT. Every request body (Content-Length or
chunked) is read before answering; `Expect: 100-continue` gets `100 Continue`
(BaseHTTPRequestHandler.handle_expect_100, protocol HTTP/1.1).

Routes (any method; HEAD gets the headers without the body):
  /echo            200 JSON {method, path, query, headers (lower-case names), body_len,
                   body_sha256, chunked, body (only when < 64 KiB and valid UTF-8)}
  /upload          200 JSON {bytes, md5, sha256, sha512, chunked}
  /status/<code>   <code>, X-Request-Id: req-test-<code>, JSON {"message": "status <code>"}
                   (no body for 204/304); ?body=<text>&ctype=<type> override both;
                   ?retry_after=<s> adds a Retry-After header
  /bytes/<n>       n bytes of the pattern below; `Range: bytes=A-` -> 206 (A >= n -> 416)
                   unless ?ignore_range=1; ?chunked=1 -> chunked instead of Content-Length
  /stall?after=<n>&secs=<s>   Content-Length n+1000000, sends n bytes, sleeps s, closes
  /sleep?secs=<s>  sleeps s, then 200 "ok"
  /truncate?n=<n>&send=<m>    Content-Length n, sends m bytes, closes
  /reset           no response: the connection is reset (SO_LINGER 0 -> RST)
  /conn            200 JSON {conn: id of this TCP connection (1, 2, ... per accepted
                   socket), requests: requests seen on it, this one included}

Pattern (spec/support/env.lua recomputes it): byte i = (i * 7 + i // 251) % 256,
i = 0-based offset in the whole resource. It repeats every 251 * 256 = 64256 bytes.
"""

import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PIECE = 64 * 1024
PERIOD = 251 * 256
PATTERN = bytes((i * 7 + i // 251) % 256 for i in range(PERIOD))
# 3 periods: any 64 KiB piece starting inside the first period is one slice
BLOCK = memoryview(PATTERN * 3)
ECHO_BODY_MAX = 64 * 1024
QUIET_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
                TimeoutError, socket.timeout)


def pattern_pieces(start, end):
    """Yield the pattern bytes [start, end) in pieces of at most 64 KiB."""
    pos = start
    while pos < end:
        n = min(PIECE, end - pos)
        off = pos % PERIOD
        yield BLOCK[off:off + n]
        pos += n


class BadRequest(Exception):
    pass


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 drops SYNs of concurrent clients (1 s retry)
    daemon_threads = True          # sleeping /stall handlers never block exit
    allow_reuse_address = True

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.lock = threading.Lock()
        self.connections = 0
        self.resets = set()        # sockets to close with RST (see shutdown_request)

    def next_conn(self):
        with self.lock:
            self.connections += 1
            return self.connections

    def shutdown_request(self, request):
        with self.lock:
            reset = request in self.resets
            self.resets.discard(request)
        if reset:                  # no shutdown(SHUT_WR): that would send a FIN first
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], QUIET_ERRORS):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    # headers and body leave in separate writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add 40 ms to every reused-connection request
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "ims-test-httpd/1"
    timeout = 300                  # idle kept-alive connections end eventually

    def setup(self):
        super().setup()
        self.conn_id = self.server.next_conn()
        self.requests = 0

    def log_message(self, format, *args):   # noqa: A002 - silent per request
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except QUIET_ERRORS:
            self.close_connection = True

    def __getattr__(self, name):   # do_GET, do_PUT, do_ANYTHING -> dispatch
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    # --- request bodies -------------------------------------------------------
    def read_body(self, sink):
        """Read the whole request body, calling sink(bytes) per piece.
        Returns (length, chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line.endswith(b"\n"):
                    raise BadRequest("bad chunk size line")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest("bad chunk size %r" % line) from None
                if size == 0:
                    while self.rfile.readline(8192).strip():   # trailers
                        pass
                    return total, True
                left = size
                while left:
                    data = self.rfile.read(min(left, PIECE))
                    if not data:
                        raise ConnectionResetError("body ended early")
                    sink(data)
                    left -= len(data)
                total += size
                if self.rfile.readline(1024).strip():
                    raise BadRequest("missing CRLF after chunk")
        length = self.headers.get("Content-Length")
        if length is None:
            return 0, False
        try:
            left = int(length)
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        total = left
        while left:
            data = self.rfile.read(min(left, PIECE))
            if not data:
                raise ConnectionResetError("body ended early")
            sink(data)
            left -= len(data)
        return total, False

    # --- responses ------------------------------------------------------------
    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        no_body = code in (204, 304) or code < 200
        if not no_body:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not no_body and self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, code, obj, headers=()):
        self.reply(code, json.dumps(obj), "application/json", headers)

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data))
        self.wfile.write(data)
        self.wfile.write(b"\r\n")

    # --- dispatch ---------------------------------------------------------------
    def dispatch(self):
        self.requests += 1
        path, _, self.rawquery = self.path.partition("?")
        self.query = {k: v[-1] for k, v in parse_qs(self.rawquery, keep_blank_values=True).items()}
        try:
            if path == "/echo":
                return self.route_echo(path)
            if path == "/upload":
                return self.route_upload()
            # the other routes ignore the body but read it, so keep-alive stays in sync
            self.read_body(lambda data: None)
            parts = path.strip("/").split("/")
            route = getattr(self, "route_" + parts[0], None) if parts[0] else None
            if route is None or parts[0] in ("echo", "upload"):
                return self.reply_json(404, {"message": "no route for " + path})
            return route(*parts[1:])
        except BadRequest as e:
            self.close_connection = True
            self.reply_json(400, {"message": str(e)})

    def qint(self, name, default=None):
        v = self.query.get(name)
        if v is None:
            if default is None:
                raise BadRequest("missing ?%s=" % name)
            return default
        try:
            return int(v)
        except ValueError:
            raise BadRequest("?%s= must be an integer" % name) from None

    def qfloat(self, name, default):
        try:
            return float(self.query.get(name, default))
        except ValueError:
            raise BadRequest("?%s= must be a number" % name) from None

    def route_echo(self, path):
        h = hashlib.sha256()
        kept = []
        size = [0]

        def sink(data):
            h.update(data)
            size[0] += len(data)
            if size[0] < ECHO_BODY_MAX:
                kept.append(bytes(data))
        length, chunked = self.read_body(sink)
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        out = {"method": self.command, "path": path, "query": self.rawquery,
               "headers": headers, "body_len": length, "body_sha256": h.hexdigest(),
               "chunked": chunked}
        if length < ECHO_BODY_MAX:
            try:
                out["body"] = b"".join(kept).decode("utf-8")
            except UnicodeDecodeError:
                pass               # key absent: not text
        self.reply_json(200, out)

    def route_upload(self):
        hs = [hashlib.md5(), hashlib.sha256(), hashlib.sha512()]

        def sink(data):
            for h in hs:
                h.update(data)
        length, chunked = self.read_body(sink)
        self.reply_json(200, {"bytes": length, "md5": hs[0].hexdigest(),
                              "sha256": hs[1].hexdigest(), "sha512": hs[2].hexdigest(),
                              "chunked": chunked})

    def route_status(self, code=None, *rest):
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = 0
        if rest or not 200 <= code <= 599:
            return self.reply_json(400, {"message": "use /status/<200..599>"})
        body = self.query.get("body", json.dumps({"message": "status %d" % code}))
        ctype = self.query.get("ctype", "application/json")
        headers = [("X-Request-Id", "req-test-%d" % code)]
        if "retry_after" in self.query:
            headers.append(("Retry-After", self.query["retry_after"]))
        self.reply(code, body, ctype, headers)

    def route_bytes(self, n=None, *rest):
        try:
            n = int(n)
        except (TypeError, ValueError):
            n = -1
        if rest or n < 0:
            return self.reply_json(400, {"message": "use /bytes/<n>"})
        start, end, code = 0, n, 200
        rng = self.headers.get("Range")
        if rng and self.query.get("ignore_range") != "1":
            spec = rng.strip()
            if not spec.startswith("bytes=") or "," in spec:
                return self.reply_json(416, {"message": "bad range"},
                                       [("Content-Range", "bytes */%d" % n)])
            a, _, b = spec[6:].partition("-")
            try:
                start = int(a)
                end = int(b) + 1 if b.strip() else n
            except ValueError:
                return self.reply_json(416, {"message": "bad range"},
                                       [("Content-Range", "bytes */%d" % n)])
            end = min(end, n)
            if start >= n or start >= end:
                return self.reply_json(416, {"message": "range not satisfiable"},
                                       [("Content-Range", "bytes */%d" % n)])
            code = 206
        chunked = self.query.get("chunked") == "1"
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, n))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD":
            return
        for piece in pattern_pieces(start, end):
            if chunked:
                self.write_chunk(piece)
            else:
                self.wfile.write(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def route_stall(self, *rest):
        after, secs = self.qint("after", 0), self.qfloat("secs", 10)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(after + 1000000))
        self.end_headers()
        for piece in pattern_pieces(0, after):
            self.wfile.write(piece)
        self.wfile.flush()
        time.sleep(secs)
        self.close_connection = True

    def route_sleep(self, *rest):
        time.sleep(self.qfloat("secs", 1))
        self.reply(200, b"ok", "text/plain")

    def route_truncate(self, *rest):
        n, send = self.qint("n"), self.qint("send", 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        for piece in pattern_pieces(0, min(send, n)):
            self.wfile.write(piece)
        self.close_connection = True

    def route_reset(self, *rest):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self.server.lock:
            self.server.resets.add(self.connection)
        self.close_connection = True

    def route_conn(self, *rest):
        self.reply_json(200, {"conn": self.conn_id, "requests": self.requests})


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: httpd.py PORTFILE")
    portfile = sys.argv[1]

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:   # ignored in `cmd &` jobs
        signal.signal(signal.SIGINT, stop)

    server = Server(("127.0.0.1", 0), Handler)
    try:
        write_atomic(portfile + ".pid", "%d\n" % os.getpid())
        write_atomic(portfile, "%d\n" % server.server_address[1])
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for p in (portfile, portfile + ".pid"):
            try:
                os.unlink(p)
            except OSError:
                pass


if __name__ == "__main__":
    main()
