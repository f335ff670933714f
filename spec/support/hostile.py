#!/usr/bin/python3
"""A misbehaving HTTP/1.1 server for the hostile-server specs (Python 3 stdlib only).

    /usr/bin/python3 spec/support/hostile.py

Listens on two loopback ports (two origins) and prints "PORT OTHER_PORT PID" once both listen.
Every request on either port is recorded with its raw header block, so a spec can check what
reached the wire (a credential sent to the other origin, an injected header line).

Admin routes (main port only, never recorded):
  PUT  /_hostile/routes   JSON {path: [response, ...]}: requests whose path (without query)
                          is `path` get the responses in turn; the last one repeats; the
                          path "*" answers every path without a route of its own
  GET  /_hostile/log      JSON [{port, method, target, raw (header block), body_len}, ...]
  POST /_hostile/reset    forget routes and log

A response is a JSON object:
  status (default 200), reason, headers ([[name, value], ...] or {name: value}), body (text,
  sent with Content-Length; "{n}" becomes the number of requests the route has answered,
  "{other}" the other origin "http://127.0.0.1:OTHER_PORT", "{self}" this origin),
  and one misbehaviour at most:
  "endless": true         chunked body that never ends (until the client goes away)
  "size": N               Content-Length N, N bytes of "x" (never held in memory)
  "drip": seconds         send the body one byte per `seconds`
  "raw": text             these bytes instead of a response (status line and all)
  "close_after": N        send the headers and N body bytes of a longer Content-Length, close
  "pattern": N            N bytes, byte i = i % 251, honouring "Range: bytes=A-" (206)
  "cut_after": K          with "pattern": close the connection after K bytes of it
  "reset": true           no response: the connection is reset (RST)
  "pause": seconds        sleep this long first (before the response, the cut or the reset)
GET /_hostile/stats gives {"max_in_flight": n, "in_flight": n}: requests answered at once.
Unrouted paths get 404 {"message": "no route"}.
"""

import json
import os
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"routes": {}, "served": {}, "log": [], "in_flight": 0, "max_in_flight": 0}
LOCK = threading.Lock()
FILLER = b"x" * 65536


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128   # many connections at once (client:map) must not meet SYN drops


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - silent
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, TimeoutError):
            self.close_connection = True

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < n:
            piece = self.rfile.read(min(65536, n - len(data)))
            if not piece:
                break
            data += piece
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        return data

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def dispatch(self):
        port = self.server.server_address[1]
        path = self.path.split("?", 1)[0]
        body = self.read_body()
        if path.startswith("/_hostile/") and port == MAIN[0]:
            return self.admin(path, body)
        with LOCK:
            STATE["log"].append({"port": port, "method": self.command, "target": self.path,
                                 "raw": self.raw_headers(), "body_len": len(body)})
            key = path if path in STATE["routes"] else "*"
            responses = STATE["routes"].get(key)
            if responses is None:
                spec = None
            else:
                n = STATE["served"].get(key, 0)
                STATE["served"][key] = n + 1
                spec = dict(responses[min(n, len(responses) - 1)], n=n + 1)
        if spec is None:
            return self.send_json(404, {"message": "no route"})
        with LOCK:
            STATE["in_flight"] += 1
            STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
        try:
            if "pause" in spec:
                time.sleep(float(spec["pause"]))
            self.respond(spec, port)
        finally:
            with LOCK:
                STATE["in_flight"] -= 1

    def raw_headers(self):
        return self.requestline + "\r\n" + "".join(
            "%s: %s\r\n" % (k, v) for k, v in self.headers.raw_items())

    def admin(self, path, body):
        with LOCK:
            if path == "/_hostile/routes" and self.command == "PUT":
                # surrogateescape: a body may carry bytes that are not UTF-8 (sent back as is)
                STATE["routes"].update(json.loads((body or b"{}").decode("utf-8", "surrogateescape")))
                return self.send_json(200, {"ok": True})
            if path == "/_hostile/log":
                return self.send_json(200, STATE["log"])
            if path == "/_hostile/stats":
                return self.send_json(200, {"in_flight": STATE["in_flight"],
                                            "max_in_flight": STATE["max_in_flight"]})
            if path == "/_hostile/reset":
                STATE.update(routes={}, served={}, log=[], max_in_flight=0)
                return self.send_json(200, {"ok": True})
        return self.send_json(404, {"message": "no admin route"})

    def expand(self, text, spec, port):
        return (text.replace("{n}", str(spec["n"]))
                .replace("{other}", "http://127.0.0.1:%d" % OTHER[0])
                .replace("{self}", "http://127.0.0.1:%d" % port))

    def respond(self, spec, port):
        w = self.wfile
        if "raw" in spec:
            w.write(self.expand(spec["raw"], spec, port).encode("latin-1"))
            w.flush()
            self.close_connection = True
            return
        if spec.get("reset"):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if "pattern" in spec:
            return self.send_pattern(spec)
        status = spec.get("status", 200)
        headers = spec.get("headers") or {}
        headers = list(headers.items()) if isinstance(headers, dict) else headers
        body = self.expand(spec.get("body", ""), spec, port).encode("utf-8", "surrogateescape")
        self.send_response_only(status, spec.get("reason"))
        for k, v in headers:
            self.send_header(k, self.expand(str(v), spec, port))
        names = {k.lower() for k, _ in headers}
        if spec.get("endless"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"%x\r\n" % len(FILLER) + FILLER + b"\r\n"
            while True:
                w.write(chunk)
        if "size" in spec:
            left = int(spec["size"])
            self.send_header("Content-Length", str(left))
            self.end_headers()
            while left > 0:
                piece = FILLER[:min(left, len(FILLER))]
                w.write(piece)
                left -= len(piece)
            return
        if "close_after" in spec:
            self.send_header("Content-Length", str(len(body) + 1000000))
            self.end_headers()
            w.write(body[:int(spec["close_after"])])
            w.flush()
            self.close_connection = True
            return
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if "drip" in spec:
            for i in range(len(body)):
                w.write(body[i:i + 1])
                w.flush()
                time.sleep(float(spec["drip"]))
            return
        w.write(body)


    def send_pattern(self, spec):
        n = int(spec["pattern"])
        start, status = 0, 200
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start, status = int(rng[6:-1]), 206
        self.send_response_only(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n - start))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, n - 1, n))
        self.end_headers()
        cut = spec.get("cut_after")
        limit = n if cut is None else min(n, start + int(cut))
        pos = start
        while pos < limit:
            end = min(limit, pos + 65536)
            self.wfile.write(bytes(i % 251 for i in range(pos, end)))
            pos = end
        if cut is not None and limit < n:
            self.wfile.flush()
            self.close_connection = True


MAIN, OTHER = [0], [0]


def main():
    servers = [Server(("127.0.0.1", 0), Handler), Server(("127.0.0.1", 0), Handler)]
    MAIN[0], OTHER[0] = servers[0].server_address[1], servers[1].server_address[1]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(MAIN[0], OTHER[0], os.getpid(), flush=True)
    threading.Event().wait()  # until the spec kills us


if __name__ == "__main__":
    main()
