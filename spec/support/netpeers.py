#!/usr/bin/python3
"""Network peers for the TLS and proxy specs (Python 3 stdlib only), one per process.

    /usr/bin/python3 spec/support/netpeers.py tls CERT KEY
        An HTTPS server on 127.0.0.1 with that certificate. GET /v2/images answers an empty
        Glance listing; anything else 404.
    /usr/bin/python3 spec/support/netpeers.py proxy TARGET_PORT
        A forward HTTP proxy: requests in absolute form (GET http://any.host:port/path) are sent
        to 127.0.0.1:TARGET_PORT whatever the host, so a request to a host that does not resolve
        succeeds only through the proxy. Adds `Via: 1.1 netpeers` to each answer.

Prints "PORT PID" on one line once listening, then serves until killed.
"""
import http.client
import http.server
import json
import os
import ssl
import sys
import urllib.parse


class Tls(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if urllib.parse.urlsplit(self.path).path == "/v2/images":
            body, status = json.dumps({"images": [], "first": "/v2/images"}).encode(), 200
        else:
            body, status = b'{"message": "not here"}', 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    target_port = 0

    def log_message(self, fmt, *args):
        pass

    def relay(self):
        url = urllib.parse.urlsplit(self.path)
        if not url.scheme:               # origin form: this is not a proxy request
            self.send_error(400, "absolute URI required")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-connection", "connection", "keep-alive")}
        conn = http.client.HTTPConnection("127.0.0.1", self.target_port, timeout=30)
        path = url.path + ("?" + url.query if url.query else "")
        conn.request(self.command, path, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        self.send_response(res.status, res.reason)
        for k, v in res.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Via", "1.1 netpeers")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = relay


def main():
    mode = sys.argv[1]
    if mode == "tls":
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tls)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    elif mode == "proxy":
        Proxy.target_port = int(sys.argv[2])
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    else:
        sys.exit("usage: netpeers.py tls CERT KEY | proxy TARGET_PORT")
    server.daemon_threads = True
    print(server.server_address[1], os.getpid(), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
