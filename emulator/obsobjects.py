"""OBS object routes: PUT (streamed, Content-MD5 checked; with x-obs-copy-source /
x-amz-copy-source a copy), GET and HEAD (Range, conditional headers), DELETE."""

import email.utils
import re
import urllib.parse

from .obshttp import (PIECE_SIZE, body_chunks, content_md5, header, md5_check, ns, object_headers,
                      object_meta, send, send_doc)
from .obsxml import ObsError, document, iso


def _no_such_key(ctx):
    return ObsError(404, "NoSuchKey", "The specified key does not exist.", Key=ctx.key)


def put_object(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    source = header(ctx, "x-obs-copy-source") or header(ctx, "x-amz-copy-source")
    if source is not None:
        return _copy(ctx, b, source)
    want = content_md5(ctx)
    info = ctx.app.obs.put(b, ctx.key, body_chunks(ctx), object_meta(ctx, b), md5_check(want))
    send(ctx, 200, headers=[("ETag", '"%s"' % info.etag)])
    return None


def _copy(ctx, b, source):
    """PUT with a copy source: the source object's bytes (and, unless the metadata directive
    is REPLACE, its metadata) become this object."""
    path = urllib.parse.unquote(source.split("?", 1)[0]).lstrip("/")
    src_bucket, _, src_key = path.partition("/")
    sb = ctx.app.obs.bucket(src_bucket)
    f, info = ctx.app.obs.open(sb, src_key) if src_key else (None, None)
    if f is None:
        raise ObsError(404, "NoSuchKey", "The specified key does not exist.", Key=src_key)
    directive = (header(ctx, "x-obs-metadata-directive") or
                 header(ctx, "x-amz-metadata-directive") or "COPY").upper()
    if directive == "REPLACE":
        meta = object_meta(ctx, b)
    else:
        meta = {"headers": info.headers, "storage_class": info.storage_class}
        if info.content_type:
            meta["content_type"] = info.content_type
    with f:
        done = ctx.app.obs.put(b, ctx.key, iter(lambda: f.read(PIECE_SIZE), b""), meta)
    send_doc(ctx, document("CopyObjectResult", ns(ctx), [("LastModified", iso(done.mtime)),
                                                         ("ETag", '"%s"' % done.etag)]))


def delete_object(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    ctx.app.obs.delete(b, ctx.key)
    send(ctx, 204)


_RANGE_RE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def byte_range(value, size):
    """(first, last) for a single `bytes=a-b`, `a-` or `-n` range, None to ignore it
    (absent, malformed, several ranges), ObsError 416 when it cannot be satisfied."""
    m = _RANGE_RE.fullmatch(value or "")
    if not m or m.groups() == ("", ""):
        return None
    a, z = m.groups()
    if a == "":
        n = int(z)
        if n == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    first = int(a)
    if z != "" and int(z) < first:
        return None
    if first >= size:
        raise _unsatisfiable(size)
    return first, min(int(z), size - 1) if z != "" else size - 1


def _unsatisfiable(size):
    return ObsError(416, "InvalidRange", "The requested range is not satisfiable",
                    headers=[("Content-Range", "bytes */%d" % size)], ActualObjectSize=size)


def _etags(value):
    return {t.strip().strip('"') for t in value.split(",")}


def _since(value):
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, AttributeError):
        return None


def _preconditions(ctx, info):
    """412 PreconditionFailed, or True when the answer is 304 Not Modified."""
    match, none_match = header(ctx, "If-Match"), header(ctx, "If-None-Match")
    since, unmod = _since(header(ctx, "If-Modified-Since")), _since(header(ctx, "If-Unmodified-Since"))
    mtime = int(info.mtime)
    if match is not None:
        if "*" not in _etags(match) and info.etag not in _etags(match):
            raise ObsError(412, "PreconditionFailed", "At least one of the pre-conditions you "
                           "specified did not hold", Condition="If-Match")
    elif unmod is not None and mtime > unmod:
        raise ObsError(412, "PreconditionFailed", "At least one of the pre-conditions you "
                       "specified did not hold", Condition="If-Unmodified-Since")
    if none_match is not None:
        return "*" in _etags(none_match) or info.etag in _etags(none_match)
    return since is not None and mtime <= since


def get_object(ctx):
    """GET and HEAD of an object; Range gives 206 with Content-Range."""
    b = ctx.app.obs.bucket(ctx.bucket_name)
    f, info = ctx.app.obs.open(b, ctx.key)
    if f is None:
        raise _no_such_key(ctx)
    with f:
        headers = object_headers(ctx, info)
        if _preconditions(ctx, info):
            send(ctx, 304, headers=[h for h in headers if h[0] in ("ETag", "Last-Modified")])
            return
        span = byte_range(header(ctx, "Range"), info.size)
        status, first, last = 200, 0, info.size - 1
        if span is not None:
            status, (first, last) = 206, span
            headers.append(("Content-Range", "bytes %d-%d/%d" % (first, last, info.size)))
        ctx.out.start(status, [("x-obs-request-id", ctx.request_id),
                               ("x-amz-request-id", ctx.request_id)] + headers,
                      length=last - first + 1)
        if ctx.method != "HEAD":
            f.seek(first)
            left = last - first + 1
            while left > 0:
                data = f.read(min(PIECE_SIZE, left))
                if not data:       # the file shrank under us: the answer cannot be finished
                    raise ConnectionError("object %s shrank while being sent" % ctx.key)
                ctx.out.write(data)
                left -= len(data)
        ctx.out.finish()
