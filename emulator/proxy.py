"""The Glance v2 pass-through (`/v2/images…`, `/v2/schemas…`): the request goes to the real
Glance as the authenticated project, and both bodies stream in PIECE-sized pieces.

The upstream side is a raw socket rather than http.client so that `Expect: 100-continue` can be
honoured end to end: the client's body is read only once Glance asks for it, and a final answer
Glance gives before reading (409, 415, ...) reaches the client without the body being sent.

Upstream connections are kept alive and reused: a new connection per request made Glance's
single process accept (and the emulator open) one socket per call, a cost paid on every call
of a bulk run. A connection goes back to the pool only after a complete exchange (request
body sent, response body read to its framed end, no `Connection: close`)."""

import select
import socket
import threading
from http.client import parse_headers

from .glance import TIMEOUT, identity_headers
from .httpio import PIECE, BodyReader

# Hop-by-hop headers and the framing the proxy sets itself.
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
       "upgrade", "expect", "host", "content-length"}
# Response headers the emulator sends itself (its Date tells its own clock, offset included).
OWN = {"date", "server"}
# Credentials and identity a client must not pass to Glance (it would impersonate a project).
IDENTITY = ("x-identity", "x-project", "x-tenant", "x-user", "x-domain", "x-role", "x-service",
            "x-auth", "x-is-admin", "x-sdk", "x-security", "authorization")
CONTINUE_WAIT = 1.0    # seconds to wait for Glance's 100 Continue before sending the body anyway
IDLE_MAX = 16          # idle upstream connections kept per Glance


class UpstreamError(Exception):
    pass


class _Closed(Exception):
    """Glance closed the connection where a response should start."""


# What a connection that was reused fails with when Glance had already closed it.
STALE = (_Closed, BrokenPipeError, ConnectionResetError)


class _Conn:
    def __init__(self, sock):
        self.sock = sock
        self.rfp = sock.makefile("rb", buffering=PIECE)
        self.reused = False

    def close(self):
        self.rfp.close()
        self.sock.close()


class _Pool:
    """Idle keep-alive connections to Glance, shared by the server's threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.idle = {}

    def take(self, glance):
        """An idle connection that is still quiet (marked reused), else a new one."""
        key = (glance.host, glance.port)
        while True:
            with self.lock:
                conns = self.idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None:
                break
            readable, _, _ = select.select([conn.sock], [], [], 0)
            if not readable:        # an idle connection has nothing to say; EOF or junk does
                conn.reused = True
                return conn
            conn.close()
        try:
            return _Conn(socket.create_connection(key, timeout=TIMEOUT))
        except OSError as e:
            raise UpstreamError("cannot reach Glance at %s: %s" % (glance.url, e)) from None

    def give(self, glance, conn):
        with self.lock:
            conns = self.idle.setdefault((glance.host, glance.port), [])
            if len(conns) < IDLE_MAX:
                conns.append(conn)
                return
        conn.close()


_pool = _Pool()


def is_glance_path(path):
    return any(path == p or path.startswith(p + "/") for p in ("/v2/images", "/v2/schemas"))


def template(path):
    """The route template of a Glance path for the stats: ids become placeholders."""
    names = {"images": "{image_id}", "members": "{member_id}", "tags": "{tag}"}
    segments = path.split("/")
    out = segments[:3]
    for prev, seg in zip(segments[2:], segments[3:]):
        out.append(names.get(prev, seg) if segments[1:3] == ["v2", "images"] else seg)
    return "/".join(out)


def _request_head(ctx, glance, body):
    lines = ["%s %s HTTP/1.1" % (ctx.method, ctx.handler.path),
             "Host: %s:%d" % (glance.host, glance.port)]
    for name, value in ctx.handler.headers.items():
        low = name.lower()
        if low not in HOP and not low.startswith(IDENTITY):
            lines.append("%s: %s" % (name, value))
    lines += ["%s: %s" % kv for kv in identity_headers(ctx.ident).items()]
    if body.declared:
        lines.append("Transfer-Encoding: chunked" if body.length is None else
                     "Content-Length: %d" % body.length)
        lines.append("Expect: 100-continue")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_head(rfp):
    """(status, reason, headers) of the next response, 1xx included."""
    line = rfp.readline(65537)
    if not line:
        raise _Closed("closed without answering")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise UpstreamError("Glance sent no valid status line (%r)" % line[:80])
    return int(parts[1]), (parts[2] if len(parts) > 2 else ""), parse_headers(rfp)


def _final_head(rfp, head=None):
    head = head or _read_head(rfp)
    while 100 <= head[0] < 200:
        head = _read_head(rfp)
    return head


def _send_body(body, sock, chunked):
    """Client body -> Glance; whether all of it was sent. Stops quietly when Glance stops
    reading (it has answered); failures on the client side propagate."""
    while True:
        piece = body.read(PIECE)
        if chunked:
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if piece else b"0\r\n\r\n"
        else:
            data = piece
        try:
            if data:
                sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        if not piece:
            return True


def forward(ctx, glance, public_url):
    """Relays the request to Glance and its answer back. A reused connection found closed or
    reset before any answer is replaced by a new one, if the client's body is untouched (Glance
    ends idle connections; http.client and urllib3 retry such a request the same way)."""
    while True:
        conn = _pool.take(glance)
        reusable = False
        try:
            reusable = _exchange(ctx, glance, public_url, conn)
            return
        except (_Closed, OSError, ValueError) as e:
            if ctx.out.started:
                raise
            if not (isinstance(e, STALE) and conn.reused and not ctx.body.consumed):
                raise UpstreamError("Glance connection failed: %s" % e) from None
        finally:
            if reusable:
                _pool.give(glance, conn)
            else:
                conn.close()


def _exchange(ctx, glance, public_url, conn):
    """One request and its response on `conn`; whether the connection can carry another."""
    body = ctx.body
    sock, rfp = conn.sock, conn.rfp
    sock.sendall(_request_head(ctx, glance, body))
    head, sent = None, not body.declared
    if body.declared:
        ready, _, _ = select.select([sock], [], [], CONTINUE_WAIT)
        if ready:
            head = _read_head(rfp)
        if head is None or head[0] == 100:
            head = None
            sent = _send_body(body, sock, body.length is None)
    status, reason, headers = _final_head(rfp, head)
    framed = _relay(ctx, status, reason, headers, rfp, glance, public_url)
    return sent and framed and "close" not in (headers.get("Connection") or "").lower()


def _relay(ctx, status, reason, headers, rfp, glance, public_url):
    out_headers = []
    for name, value in headers.items():
        low = name.lower()
        if low in HOP or low in OWN:
            continue
        if low == "location" and value.startswith(glance.url):
            value = public_url + value[len(glance.url):]   # Glance names itself; clients see us
        out_headers.append((name, value))
    framed = True
    if ctx.method == "HEAD" or status in (204, 304):
        upstream, length = None, int(headers.get("Content-Length") or 0)
    else:
        upstream = BodyReader(rfp, headers, until_close=True)
        length = upstream.length
        framed = upstream.chunked or length is not None
    ctx.out.start(status, out_headers, reason=reason, length=length)
    while upstream is not None:
        piece = upstream.read(PIECE)
        if not piece:
            break
        ctx.out.write(piece)
    ctx.out.finish()
    return framed
