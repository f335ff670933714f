"""The HTTP front: a threaded HTTP/1.1 keep-alive server on 127.0.0.1. Every request gets a
request id, a count in the statistics, a look at the fault rules and (outside the token and
admin routes) authentication before its route runs. A server of kind "obs" hands its requests
to emulator/obs.py instead (OBS routes, XML errors, OBS/S3 signatures)."""

import io
import json
import logging
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import admin, info, obs, routes
from .auth import AuthError
from .errors import NO_API, THROTTLED, ImsError, apigw_body, ims_body
from .faults import Faults
from .glance import Glance
from .httpio import Abort, BadFraming, BodyReader, ResponseWriter
from .jobs import Jobs
from .obsstore import Store
from .obsxml import ObsError, error_body
from .proxy import UpstreamError

log = logging.getLogger("emulator")
MAX_JSON = 1024 * 1024
MAX_SIGNED_BODY = 12 * 1024 * 1024   # API Gateway's limit for AK/SK requests with a hashed body
DRAIN_LIMIT = 1024 * 1024            # unread request bodies up to this are drained for keep-alive
_UNSET = object()


class Emulator:
    """Everything the routes share."""

    def __init__(self, fixtures, auth, glance_url):
        self.fixtures = fixtures
        self.auth = auth
        self.glance = Glance(glance_url)
        self.jobs = Jobs(fixtures.job_duration)
        self.faults = Faults()
        self.stats = admin.Stats()
        self.limits = info.Limits()
        self.obs = Store(fixtures.buckets)   # OBS objects (emulator/obsstore.py)
        self.public_url = None     # the first region's endpoint
        self.urls = {}             # region -> endpoint
        self.obs_url = None        # the OBS listener's


class Context:
    """One request as the routes see it."""

    def __init__(self, handler, app, request_id):
        self.handler = handler
        self.app = app
        self.request_id = request_id
        self.method = handler.command
        self.path, _, self.raw_query = handler.path.partition("?")
        self.region = handler.server.region          # the region whose endpoint was called
        self.public_url = app.urls.get(self.region, app.public_url)
        self.params = {}
        self.ident = None
        self.reset_armed = False     # a reset fault waits in the request body
        self.body = BodyReader(handler.rfile, handler.headers, on_first_read=handler.send_continue)
        self.out = ResponseWriter(handler, request_id)
        self.out.must_close = self.must_close
        self._json = _UNSET

    def must_close(self):
        """Whether the connection cannot be reused because the request body was not read."""
        b = self.body
        if b.done:
            return False
        return self.handler.expects_100 or b.length is None or b.length - b.consumed > DRAIN_LIMIT

    def query(self):
        return urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True)

    def json(self):
        """The JSON body (None when empty), read once; IMG.0001 when it is not JSON."""
        if self._json is _UNSET:
            data = self.body.read_all(MAX_JSON)
            if data is None:
                raise ImsError("IMG.0001", "The request body is larger than 1 MiB.")
            try:
                self._json = json.loads(data) if data.strip() else None
            except ValueError:
                raise ImsError("IMG.0001", "The request body is not valid JSON.") from None
        return self._json

    def send_json(self, status, obj, headers=()):
        self.out.send_json(status, obj, headers)


class Handler(BaseHTTPRequestHandler):
    # status line, headers and body leave in separate writes: without TCP_NODELAY, Nagle and the
    # client's delayed ACK add 40 ms to each request on a kept-alive connection (job polls)
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "ims-emulator"
    timeout = 120                  # idle keep-alive connections end after this
    expects_100 = False

    def handle_expect_100(self):
        # Deferred: a 100 Continue goes out only when the body is first read, so a request
        # answered without its body (401, a fault, a Glance 409) is never asked to send it.
        self.expects_100 = True
        return True

    def send_continue(self):
        if self.expects_100:
            self.expects_100 = False
            self.send_response_only(100)
            self.end_headers()

    def date_time_string(self, timestamp=None):
        # the Date header tells the emulator's clock, offset included (admin /clock), as APIG's
        # does: a client can learn its clock skew from it
        return super().date_time_string(self.server.app.auth.now() if timestamp is None else timestamp)

    def do_any(self):
        try:
            dispatch(self, self.server.app)
        finally:
            self.expects_100 = False

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_any

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.client_address[0], *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False         # shutdown cuts open connections instead of waiting for them
    allow_reuse_address = True
    request_queue_size = 256       # listen backlog: tests open many connections at once

    def __init__(self, app, port, region=None, kind="ims"):
        self.app = app
        self.kind = kind           # "ims": IMS, IAM, Glance and admin routes; "obs": OBS
        self.region = region or app.fixtures.regions[0]
        self._resets = set()
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def reset_on_close(self, sock):
        with self._lock:
            self._resets.add(sock)

    def shutdown_request(self, request):
        with self._lock:
            reset = request in self._resets
            self._resets.discard(request)
        if reset:   # SO_LINGER 0: close() sends RST instead of FIN
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()
        else:
            super().shutdown_request(request)


def dispatch(handler, app):
    started = time.monotonic()
    rid = uuid.uuid4().hex
    try:
        ctx = Context(handler, app, rid)
    except BadFraming as e:
        out = ResponseWriter(handler, rid)
        out.close = True
        if handler.server.kind == "obs":
            body = error_body(ObsError(400, "IncompleteBody", "Bad request body framing: %s" % e),
                              handler.path.partition("?")[0], rid, rid)
            out.start(400, [("Content-Type", "application/xml")], length=len(body))
            out.write(body)
            out.finish()
        else:
            out.send_json(400, ims_body("IMG.0001", "Bad request body framing: %s" % e))
        return
    try:
        (obs.serve if handler.server.kind == "obs" else serve)(ctx, app)
        finish(ctx)
    except Abort as e:
        end_connection(handler, e.kind)
    except (ConnectionError, TimeoutError, socket.timeout):
        handler.close_connection = True
    log.info("%s %s %s %s %.0fms", ctx.method, handler.path, ctx.out.status or "-",
             rid, 1000 * (time.monotonic() - started))


def serve(ctx, app):
    try:
        if ctx.path.startswith("/_emulator/"):   # no stats, faults or credentials here
            if not admin.handle(ctx):
                ctx.send_json(404, {"error": "no admin route %s %s" % (ctx.method, ctx.path)})
            return
        route, ctx.params, template, needs_auth = routes.find(ctx.method, ctx.path)
        app.stats.count(ctx.method, template)
        rule = app.faults.take(ctx.method, ctx.path)
        if rule is not None and apply_fault(ctx, rule):
            return
        if route is None:
            fail(ctx, 404, apigw_body(NO_API[0], NO_API[1], ctx.request_id))
            return
        if needs_auth:
            ctx.ident = authenticate(ctx, app.auth)
            if not template.startswith("/v3"):    # IAM is global
                in_region(ctx)
        route(ctx)
    except ImsError as e:
        fail(ctx, e.status, e.body())
    except AuthError as e:
        fail(ctx, e.status, e.body, list(e.headers.items()))
    except UpstreamError as e:
        log.warning("%s: %s", ctx.request_id, e)
        fail(ctx, 502, ims_body("IMG.0014", str(e)))
    except BadFraming as e:
        ctx.handler.close_connection = True
        fail(ctx, 400, ims_body("IMG.0001", "Bad request body framing: %s" % e))
    except (Abort, ConnectionError, TimeoutError, socket.timeout):
        raise
    except Exception as e:
        log.exception("%s %s %s failed", ctx.request_id, ctx.method, ctx.path)
        fail(ctx, 500, ims_body("IMG.0014", "Emulator error: %s" % e))


def in_region(ctx):
    """A project acts in its own region only: project "cn-south-1" at the cn-north-4 endpoint
    is refused, as IMS refuses a project id of another region."""
    name = ctx.ident.project_name
    if name and len(ctx.app.fixtures.regions) > 1 and name.split("_")[0] != ctx.region:
        raise ImsError("IMG.0067", "The project %s is in region %s, not %s." % (
            ctx.ident.project_id, name.split("_")[0], ctx.region))


def fail(ctx, status, body, headers=()):
    if ctx.out.started:       # the answer is under way: all that is left is to cut it
        raise Abort("close")
    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
    ctx.send_json(status, body, headers)


def apply_fault(ctx, rule):
    """Acts on a fault rule; True when the fault itself answered the request."""
    log.info("%s fault #%d %s on %s %s", ctx.request_id, rule.id, rule.kind, ctx.method, ctx.path)
    if rule.kind == "delay":
        time.sleep(rule.delay)
    elif rule.kind == "throttle":
        code, message = THROTTLED
        fail(ctx, 429, apigw_body(rule.code or code, rule.message or message % 60, ctx.request_id),
             [("Retry-After", str(rule.retry_after))])
        return True
    elif rule.kind == "status":
        code = rule.code or "IMG.0014"
        message = rule.message or "Injected fault: HTTP %d." % rule.status
        body = ims_body(code, message) if code.startswith("IMG.") else \
            apigw_body(code, message, ctx.request_id)
        fail(ctx, rule.status, body)
        return True
    elif rule.kind == "reset" and ctx.body.declared:
        ctx.body.cut_at = rule.after_bytes
        ctx.reset_armed = True
    else:   # reset of a request without a body, truncate: both cut the response
        ctx.out.cut = (rule.after_bytes, rule.kind)
    return False


def authenticate(ctx, auth):
    """The caller's Identity. An AK/SK request whose body is hashed in the signature has its
    body read first (at most 12 MiB) and replayed to the route from memory."""
    h = ctx.handler.headers
    body = None
    hashed = h.get("Authorization") and not h.get("X-Auth-Token") and \
        (h.get("X-Sdk-Content-Sha256") or "").strip() != "UNSIGNED-PAYLOAD"
    if hashed and ctx.body.declared and (ctx.body.length or 0) <= MAX_SIGNED_BODY:
        body = ctx.body.read_all(MAX_SIGNED_BODY)
        if body is None:
            raise AuthError(401, apigw_body(
                "APIGW.0301", "Incorrect IAM authentication information: body too large: AK/SK "
                "requests with a hashed body are limited to 12 MiB", ctx.request_id))
        ctx.body = BodyReader(io.BytesIO(body), {"Content-Length": str(len(body))})
    return auth.authenticate(ctx.method, ctx.path, ctx.raw_query, h, body)


def finish(ctx):
    """Leaves the connection ready for the next request, or marks it to be closed."""
    h = ctx.handler
    if ctx.reset_armed:
        raise Abort("reset")   # the body was never read up to the cut: reset now
    if not h.close_connection and not ctx.body.done:
        if ctx.must_close():
            h.close_connection = True
        else:
            try:
                ctx.body.drain(DRAIN_LIMIT)
            except BadFraming:
                h.close_connection = True


def end_connection(handler, kind):
    handler.close_connection = True
    if kind == "reset":
        handler.server.reset_on_close(handler.connection)
