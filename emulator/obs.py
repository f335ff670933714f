"""The OBS listener: path-style `http://127.0.0.1:PORT/bucket/key`. Every request gets a
request id (x-obs-request-id, x-amz-request-id), a count in the statistics ("GET OBS
/{bucket}/{key}"), a look at the fault rules (matched against the path and path?query) and
then authentication (obsauth.py) before its route runs; errors are OBS/S3 XML documents."""

import logging
import socket
import time
import urllib.parse

from . import obsauth, obsbuckets as bk, obsmultipart as mp, obsobjects as ob
from .httpio import Abort, BadFraming
from .obshttp import fail
from .obsxml import ObsError

log = logging.getLogger("emulator")

# the codes a `status` fault answers with, by status, when the rule names no OBS code
FAULT_CODES = {400: "InvalidRequest", 403: "AccessDenied", 404: "NoSuchKey", 409: "Conflict",
               500: "InternalError", 501: "NotImplemented", 503: "ServiceUnavailable"}


def not_implemented(ctx):
    raise ObsError(501, "NotImplemented", "A header or query you provided implies functionality "
                   "that is not implemented (the emulator serves objects, listings, multipart "
                   "uploads and bucket location/storage class).")


def _target(raw_path):
    """(bucket or None, key or None) of a path-style request path."""
    if not raw_path.startswith("/"):
        raise ObsError(400, "InvalidURI", "Couldn't parse the specified URI.")
    bucket, _, key = raw_path[1:].partition("/")
    try:
        key = urllib.parse.unquote_to_bytes(key).decode("utf-8")
        bucket = urllib.parse.unquote(bucket, errors="strict")
    except UnicodeDecodeError:
        raise ObsError(400, "InvalidURI", "The object key is not valid UTF-8.") from None
    return bucket or None, key or None


def classify(ctx):
    """(route, stats template) of the request; sets ctx.bucket_name, ctx.key, ctx.q."""
    ctx.bucket_name, ctx.key = _target(ctx.path)
    ctx.q = {}
    for k, v in urllib.parse.parse_qsl(ctx.raw_query, keep_blank_values=True):
        ctx.q.setdefault(k, v)
    subs = sorted(k for k in ctx.q if k in obsauth.SUBRESOURCES and not k.startswith("response-"))
    m = ctx.method
    if ctx.bucket_name is None:
        return (bk.list_buckets if m == "GET" else bk.not_allowed), "OBS /"
    if ctx.key is None:
        tmpl = "OBS /{bucket}" + ("?" + "&".join(subs) if subs else "")
        routes = {("HEAD", ()): bk.head_bucket, ("GET", ("location",)): bk.location,
                  ("GET", ("storageClass",)): bk.storage_class,
                  ("GET", ("storagePolicy",)): bk.storage_policy,
                  ("GET", ("uploads",)): mp.list_uploads, ("GET", ()): bk.list_objects,
                  ("POST", ("delete",)): bk.delete_objects, ("PUT", ()): bk.put_bucket,
                  ("DELETE", ()): bk.delete_bucket}
        if m == "GET" and not subs and ctx.q.get("list-type") == "2":
            tmpl += "?list-type=2"
    else:
        tmpl = "OBS /{bucket}/{key}" + ("?" + "&".join(subs) if subs else "")
        routes = {("PUT", ()): ob.put_object, ("GET", ()): ob.get_object,
                  ("HEAD", ()): ob.get_object, ("DELETE", ()): ob.delete_object,
                  ("POST", ("uploads",)): mp.initiate,
                  ("PUT", ("partNumber", "uploadId")): mp.upload_part,
                  ("GET", ("uploadId",)): mp.list_parts, ("POST", ("uploadId",)): mp.complete,
                  ("DELETE", ("uploadId",)): mp.abort}
    route = routes.get((m, tuple(subs)))
    if route is None:
        route = not_implemented if subs and m in ("GET", "PUT", "POST", "DELETE", "HEAD") \
            else bk.not_allowed
    return route, tmpl


def serve(ctx, app):
    ctx.caller = None
    try:
        route, template = classify(ctx)
        app.stats.count(ctx.method, template)
        rule = app.faults.take(ctx.method, ctx.path, ctx.raw_query)
        if rule is not None and apply_fault(ctx, rule):
            return
        ctx.caller = obsauth.verify(app.auth, ctx.method, ctx.path, ctx.raw_query,
                                    ctx.handler.headers)
        route(ctx)
    except ObsError as e:
        if e.status in (403, 500, 503):
            log.info("%s OBS %s %s", ctx.request_id, e.code, e.message)
        fail(ctx, e)
    except BadFraming as e:
        ctx.handler.close_connection = True
        fail(ctx, ObsError(400, "IncompleteBody", "Bad request body framing: %s" % e))
    except (Abort, ConnectionError, TimeoutError, socket.timeout):
        raise
    except Exception as e:
        log.exception("%s OBS %s %s failed", ctx.request_id, ctx.method, ctx.path)
        fail(ctx, ObsError(500, "InternalError", "Emulator error: %s" % e))


def apply_fault(ctx, rule):
    """As the IMS listener's, with OBS answers: `status` an <Error> document (the rule's
    `code` unless it is an IMS/APIG one), `throttle` 503 SlowDown with Retry-After."""
    log.info("%s fault #%d %s on OBS %s %s", ctx.request_id, rule.id, rule.kind, ctx.method,
             ctx.path)
    if rule.kind == "delay":
        time.sleep(rule.delay)
    elif rule.kind == "throttle":
        fail(ctx, ObsError(503, "SlowDown", rule.message or "Please reduce your request rate.",
                           headers=[("Retry-After", str(rule.retry_after))]))
        return True
    elif rule.kind == "status":
        code = rule.code if rule.code and not rule.code.startswith(("IMG.", "APIGW.")) \
            else FAULT_CODES.get(rule.status, "InternalError")
        fail(ctx, ObsError(rule.status, code, rule.message or
                           "Injected fault: HTTP %d." % rule.status))
        return True
    elif rule.kind == "reset" and ctx.body.declared:
        ctx.body.cut_at = rule.after_bytes
        ctx.reset_armed = True
    else:
        ctx.out.cut = (rule.after_bytes, rule.kind)
    return False
