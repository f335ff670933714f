"""Tests for emulator/proxy.py's upstream connections:
    cd /work/main && /usr/bin/python3 -m unittest emulator.test_proxy -v

A small HTTP/1.1 server on loopback stands in for Glance; it counts the connections it accepts
and can misbehave the ways a real server does: close an idle connection, close one after
reading a request without answering, say `Connection: close`, answer before reading a body."""

import io
import socket
import threading
import unittest
from http.client import parse_headers
from types import SimpleNamespace

from emulator import proxy
from emulator.glance import Glance
from emulator.httpio import BodyReader, ResponseWriter


class Upstream:
    """Answers every request with 200 and body b"ok <n>"; `behave(n, conn_requests)` picks,
    per request n (1-based, over the server's life), one of: "keep", "close-after" (answer,
    then close), "drop" (read the head, close without answering), "drop-body" (read the whole request
    too, then close), "conn-close" (answer with
    Connection: close), "early" (answer 413 without reading the body)."""

    def __init__(self, behave=lambda n, k: "keep"):
        self.behave = behave
        self.accepted = 0
        self.requests = 0
        self.bodies = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        rfp = conn.makefile("rb")
        k = 0
        with conn:
            while True:
                line = rfp.readline()
                if not line:
                    return
                headers = parse_headers(rfp)
                self.requests += 1
                k += 1
                mode = self.behave(self.requests, k)
                if mode == "drop":
                    return
                if mode == "early":
                    conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
                    continue
                if headers.get("Expect") == "100-continue":
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = BodyReader(rfp, headers)
                data = b"".join(iter(body.read, b""))
                self.bodies.append(data)
                if mode == "drop-body":
                    return
                out = b"ok %d" % self.requests
                extra = b"Connection: close\r\n" if mode == "conn-close" else b""
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
                             % (len(out), extra, out))
                if mode in ("close-after", "conn-close"):
                    return

    def close(self):
        self.sock.close()


class Handler:
    """What ResponseWriter needs of a BaseHTTPRequestHandler; keeps what was sent."""

    def __init__(self, method, path, headers):
        self.command = method
        self.path = path
        self.headers = headers
        self.wfile = io.BytesIO()
        self.close_connection = False
        self.status = None

    def send_response(self, status, reason=None):
        self.status = status

    def send_header(self, name, value):
        pass

    def end_headers(self):
        pass


def relay(up, method="GET", path="/v2/images", body=b""):
    """One request through proxy.forward to `up`; (status, bytes the client got)."""
    raw = b"Content-Length: %d\r\n\r\n" % len(body) if body else b"\r\n"
    headers = parse_headers(io.BytesIO(raw))
    handler = Handler(method, path, headers)
    ctx = SimpleNamespace(method=method, handler=handler,
                          body=BodyReader(io.BufferedReader(io.BytesIO(body)), headers),
                          ident=SimpleNamespace(project_id="p" * 32, user_id="u" * 32),
                          out=ResponseWriter(handler, "req-test"))
    proxy.forward(ctx, Glance("http://127.0.0.1:%d" % up.port), "http://public")
    return handler.status, handler.wfile.getvalue()


class ProxyConnections(unittest.TestCase):
    def setUp(self):
        proxy._pool = proxy._Pool()      # each test starts with no idle connections
        self.addCleanup(self.close_idle)

    def close_idle(self):
        for conns in proxy._pool.idle.values():
            for conn in conns:
                conn.close()

    def serve(self, behave=lambda n, k: "keep"):
        up = Upstream(behave)
        self.addCleanup(up.close)
        return up

    def test_reuses_one_connection(self):
        up = self.serve()
        for i in range(1, 6):
            self.assertEqual((200, b"ok %d" % i), relay(up))
        self.assertEqual(1, up.accepted)

    def test_replaces_a_connection_closed_while_idle(self):
        up = self.serve(lambda n, k: "close-after")
        for i in range(1, 4):
            self.assertEqual((200, b"ok %d" % i), relay(up))
        self.assertEqual(3, up.accepted)

    def test_resends_a_request_a_reused_connection_dropped_unanswered(self):
        up = self.serve(lambda n, k: "drop" if k == 2 else "keep")
        self.assertEqual((200, b"ok 1"), relay(up))
        self.assertEqual((200, b"ok 3"), relay(up, "DELETE", "/v2/images/x"))
        self.assertEqual(2, up.accepted)

    def test_a_fresh_connection_dropped_unanswered_is_an_error(self):
        up = self.serve(lambda n, k: "drop")
        with self.assertRaises(proxy.UpstreamError):
            relay(up)
        self.assertEqual(1, up.accepted)

    def test_resends_a_body_not_yet_read(self):
        up = self.serve(lambda n, k: "drop" if n == 2 else "keep")
        self.assertEqual((200, b"ok 1"), relay(up))
        self.assertEqual((200, b"ok 3"), relay(up, "PUT", "/v2/images/x/file", b"x" * 1000))
        self.assertEqual([b"", b"x" * 1000], up.bodies)
        self.assertEqual(2, up.accepted)

    def test_never_resends_a_body_it_has_read(self):
        up = self.serve(lambda n, k: "drop-body" if n == 2 else "keep")
        self.assertEqual((200, b"ok 1"), relay(up))
        with self.assertRaises(proxy.UpstreamError):
            relay(up, "PUT", "/v2/images/x/file", b"x" * 1000)
        self.assertEqual(1, up.accepted)
        self.assertEqual(2, up.requests)

    def test_connection_close_is_not_reused(self):
        up = self.serve(lambda n, k: "conn-close" if n == 1 else "keep")
        self.assertEqual((200, b"ok 1"), relay(up))
        self.assertEqual((200, b"ok 2"), relay(up))
        self.assertEqual(2, up.accepted)

    def test_a_body_glance_did_not_read_ends_the_connection(self):
        # 413 before the body: the unread body would be parsed as the next request
        up = self.serve(lambda n, k: "early" if n == 1 else "keep")
        status, _ = relay(up, "PUT", "/v2/images/x/file", b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual(413, status)
        self.assertEqual((200, b"ok 2"), relay(up))
        self.assertEqual(2, up.accepted)
        self.assertEqual(2, up.requests)

    def test_sends_a_body_and_keeps_the_connection(self):
        up = self.serve()
        self.assertEqual((200, b"ok 1"), relay(up, "PUT", "/v2/images/x/file", b"y" * 70000))
        self.assertEqual((200, b"ok 2"), relay(up))
        self.assertEqual([b"y" * 70000, b""], up.bodies)
        self.assertEqual(1, up.accepted)


if __name__ == "__main__":
    unittest.main()
