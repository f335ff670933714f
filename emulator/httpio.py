"""Streaming HTTP/1.1 message bodies: a reader for request and upstream response bodies
(Content-Length, chunked, or until close) and a writer for responses, both moving at most
PIECE bytes at a time, plus the cut-off points the reset/truncate faults install."""

import json

PIECE = 1024 * 1024       # never hold more than this much of a body in memory
MAX_CHUNK_LINE = 4096


class Abort(Exception):
    """End the connection now: kind "reset" (RST, SO_LINGER 0) or "close" (plain FIN)."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class BadFraming(Exception):
    """The peer's body framing is broken (bad Content-Length or chunk line, early EOF)."""


class BodyReader:
    """Reads one message body from a buffered binary file `fp`, framed by `headers`.

    read() returns the next piece (<= PIECE bytes), b"" at the end. `on_first_read` runs before
    the first byte is read (it sends a deferred `100 Continue`). `cut_at` (set by a reset fault)
    makes reading raise Abort("reset") once that many bytes were read or the body ended."""

    def __init__(self, fp, headers, until_close=False, on_first_read=None):
        self.fp = fp
        self.on_first_read = on_first_read
        self.consumed = 0
        self.cut_at = None
        self.done = False
        self._chunk_left = 0       # bytes left in the current chunk (chunked mode)
        te = (headers.get("Transfer-Encoding") or "").lower()
        length = headers.get("Content-Length")
        self.chunked = "chunked" in te
        if self.chunked:
            self.length = None
        elif length is not None:
            if not length.strip().isdigit():
                raise BadFraming("bad Content-Length %r" % length)
            self.length = int(length)
        elif until_close:
            self.length = None
        else:
            self.length = 0
        self.done = self.length == 0

    @property
    def declared(self):
        """Whether the message has a body at all."""
        return self.chunked or self.length is None or self.length > 0

    def read(self, n=PIECE):
        if self.cut_at is not None and (self.consumed >= self.cut_at or self.done):
            raise Abort("reset")
        if self.done:
            return b""
        if self.on_first_read is not None:
            hook, self.on_first_read = self.on_first_read, None
            hook()
        if self.cut_at is not None:
            n = min(n, self.cut_at - self.consumed)
        data = self._read_chunked(n) if self.chunked else self._read_plain(n)
        self.consumed += len(data)
        if not data:
            self.done = True
            if self.cut_at is not None:
                raise Abort("reset")
        return data

    def _read_plain(self, n):
        if self.length is not None:
            n = min(n, self.length - self.consumed)
            if n == 0:
                return b""
        data = self.fp.read1(n)
        if not data and self.length is not None:
            raise BadFraming("body ended after %d of %d bytes" % (self.consumed, self.length))
        return data

    def _read_chunked(self, n):
        if self._chunk_left == 0:
            line = self.fp.readline(MAX_CHUNK_LINE)
            if not line.endswith(b"\n"):
                raise BadFraming("bad chunk size line")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadFraming("bad chunk size line %r" % line[:40]) from None
            if size == 0:
                while True:   # trailers, up to the blank line
                    line = self.fp.readline(MAX_CHUNK_LINE)
                    if line in (b"\r\n", b"\n"):
                        return b""
                    if not line.endswith(b"\n"):
                        raise BadFraming("bad chunked trailer")
            self._chunk_left = size
        data = self.fp.read1(min(n, self._chunk_left))
        if not data:
            raise BadFraming("body ended inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and self.fp.readline(MAX_CHUNK_LINE) not in (b"\r\n", b"\n"):
            raise BadFraming("chunk not followed by CRLF")
        return data

    def read_all(self, limit):
        """The whole body as bytes, or None when it is longer than `limit` (then not all read)."""
        parts, size = [], 0
        while True:
            data = self.read(min(PIECE, limit + 1 - size))
            if not data:
                return b"".join(parts)
            parts.append(data)
            size += len(data)
            if size > limit:
                return None

    def drain(self, limit):
        """Reads and drops what is left; False (and stops) when more than `limit` bytes remain."""
        dropped = 0
        while not self.done:
            dropped += len(self.read(min(PIECE, limit + 1 - dropped)))
            if dropped > limit:
                return False
        return True


class ResponseWriter:
    """Writes one response through a BaseHTTPRequestHandler. start() sends the head, write() body
    pieces (chunked when no length was given), finish() ends it. `cut` = (after_bytes, kind)
    from a fault: after that many body bytes Abort("reset") for kind "reset", Abort("close") for
    "truncate" (the full Content-Length was declared)."""

    def __init__(self, handler, request_id):
        self.handler = handler
        self.request_id = request_id
        self.cut = None
        self.status = None
        self.must_close = lambda: False   # the request body is in the way of keep-alive
        self.started = False
        self.close = False         # send Connection: close and end the connection afterwards
        self.sent = 0
        self._chunked = False
        self._bodyless = False

    def start(self, status, headers=(), length=None, reason=None):
        h = self.handler
        self.started = True
        self.status = status
        self.close = self.close or self.must_close()
        self._bodyless = h.command == "HEAD" or status in (204, 304) or status < 200
        h.send_response(status, reason)
        have_rid = False
        for name, value in headers:
            h.send_header(name, value)
            have_rid = have_rid or name.lower() == "x-request-id"
        if not have_rid:
            h.send_header("X-Request-Id", self.request_id)
        if length is not None:
            if status not in (204, 304):
                h.send_header("Content-Length", str(length))
        elif not self._bodyless:
            self._chunked = True
            h.send_header("Transfer-Encoding", "chunked")
        if self.close:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        if self._bodyless:
            self._cut_now()

    def write(self, data):
        if self._bodyless or not data:
            return
        if self.cut is not None:
            room = self.cut[0] - self.sent
            if room < len(data):
                self._send(data[:max(room, 0)])
                self._cut_now()
        self._send(data)

    def _send(self, data):
        if not data:
            return
        wfile = self.handler.wfile
        if self._chunked:
            wfile.write(b"%x\r\n" % len(data))
            wfile.write(data)
            wfile.write(b"\r\n")
        else:
            wfile.write(data)
        self.sent += len(data)

    def _cut_now(self):
        if self.cut is not None:
            self.handler.wfile.flush()
            raise Abort("reset" if self.cut[1] == "reset" else "close")

    def finish(self):
        if self._chunked:
            self.handler.wfile.write(b"0\r\n\r\n")
        self._cut_now()   # a cut past the end of the body still ends the connection

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode("utf-8")
        self.start(status, [("Content-Type", "application/json")] + list(headers), length=len(body))
        self.write(body)
        self.finish()
