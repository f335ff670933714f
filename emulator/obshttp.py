"""What every OBS route uses: answers (XML, request-id headers), errors, the request body as
checked chunks (size limit, Content-MD5, SigV4 payload sha256) and object metadata headers."""

import base64
import binascii
import email.utils
import hashlib

from .httpio import Abort
from .obsxml import NS_AWS, NS_OBS, ObsError, error_body, render

GIB = 1024 ** 3
PIECE_SIZE = 1024 * 1024        # bodies move in pieces of at most this
MAX_PUT = 5 * GIB               # one PUT (object or part) carries at most 5 GiB
META_PREFIXES = ("x-obs-meta-", "x-amz-meta-")
# headers stored with an object and given back on GET/HEAD
KEPT = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
        "Expires")
STORAGE = {"STANDARD": "STANDARD", "WARM": "WARM", "COLD": "COLD",
           "DEEP_ARCHIVE": "DEEP_ARCHIVE", "STANDARD_IA": "WARM", "GLACIER": "COLD"}


def ns(ctx):
    """The namespace of result documents: OBS's for OBS-signed requests, else S3's."""
    caller = getattr(ctx, "caller", None)
    return NS_OBS if caller is not None and caller.scheme == "OBS" else NS_AWS


def is_obs(ctx):
    return ns(ctx) == NS_OBS


def host_id(ctx):
    return base64.b64encode(("ims-emulator/" + ctx.request_id).encode()).decode()


def header(ctx, name):
    v = ctx.handler.headers.get(name)
    return v.strip() if v is not None else None


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def send(ctx, status, body=b"", headers=(), content_type="application/xml"):
    hs = [("x-obs-request-id", ctx.request_id), ("x-amz-request-id", ctx.request_id),
          ("x-obs-id-2", host_id(ctx)), ("x-amz-id-2", host_id(ctx))]
    if body:
        hs.append(("Content-Type", content_type))
    hs += list(headers)
    ctx.out.start(status, hs, length=len(body))
    ctx.out.write(body)
    ctx.out.finish()


def send_doc(ctx, root, status=200, headers=()):
    send(ctx, status, render(root), headers)


def fail(ctx, err):
    """Answers an ObsError as the <Error> document (headers only for HEAD)."""
    if ctx.out.started:       # the answer is under way: all that is left is to cut it
        raise Abort("close")
    body = error_body(err, ctx.path, ctx.request_id, host_id(ctx))
    send(ctx, err.status, body, [("x-obs-error-code", err.code)] + err.headers)


def owner(ctx):
    """The account that owns the buckets: the fixtures' domain."""
    domain = ctx.app.auth.domain
    return [("ID", domain["id"]), ("DisplayName", domain["name"])]


# ---------------------------------------------------------------------------------------------
# request bodies

def declared_length(ctx, limit=MAX_PUT):
    """Content-Length, refused before reading when over `limit` (EntityTooLarge)."""
    length = ctx.body.length if not ctx.body.chunked else None
    if length is not None and length > limit:
        raise ObsError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                       "object size (%d bytes)." % limit, ProposedSize=length, MaxSizeAllowed=limit)
    return length


def body_chunks(ctx, limit=MAX_PUT):
    """The request body in pieces of at most 1 MiB; past `limit` bytes EntityTooLarge, and at
    its end a SigV4 declared sha256 that does not match is XAmzContentSHA256Mismatch."""
    declared_length(ctx, limit)
    want = ctx.caller.payload_sha256 if getattr(ctx, "caller", None) else None
    sha = hashlib.sha256() if want else None
    size = 0
    while True:
        data = ctx.body.read()
        if not data:
            break
        size += len(data)
        if size > limit:
            raise ObsError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum "
                           "allowed size (%d bytes)." % limit, MaxSizeAllowed=limit)
        if sha is not None:
            sha.update(data)
        yield data
    if sha is not None and sha.hexdigest() != want:
        raise ObsError(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                       "header does not match what was computed.",
                       ClientComputedContentSHA256=want, S3ComputedContentSHA256=sha.hexdigest())


def content_md5(ctx):
    """The Content-MD5 digest (16 bytes) or None; malformed is InvalidDigest."""
    value = header(ctx, "Content-MD5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise ObsError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.",
                       ContentMD5=value)
    return digest


def md5_check(want):
    """A store `check` refusing a body whose MD5 is not `want` (None: anything goes)."""
    def check(digest, _size):
        if want is not None and digest != want:
            raise ObsError(400, "BadDigest", "The Content-MD5 you specified did not match what "
                           "we received.", ExpectedDigest=base64.b64encode(want).decode(),
                           CalculatedDigest=base64.b64encode(digest).decode())
    return check


def read_small(ctx, limit):
    """A small body (XML) read whole, its Content-MD5 checked; too long is MalformedXML."""
    want = content_md5(ctx)
    try:
        data = b"".join(body_chunks(ctx, limit))
    except ObsError as e:
        if e.code != "EntityTooLarge":
            raise
        raise ObsError(400, "MalformedXML", "The XML body is larger than %d bytes." % limit) \
            from None
    md5_check(want)(hashlib.md5(data).digest(), len(data))
    return data


# ---------------------------------------------------------------------------------------------
# object metadata

def object_meta(ctx, bucket):
    """What a PUT or an initiated upload records: Content-Type, the kept headers, user
    metadata (x-obs-meta-* / x-amz-meta-*) and the storage class (default the bucket's)."""
    headers = {}
    for name, value in ctx.handler.headers.items():
        low = name.lower()
        for p in META_PREFIXES:
            if low.startswith(p) and len(low) > len(p):
                headers["meta:" + low[len(p):]] = value.strip()
    for name in KEPT:
        if header(ctx, name) is not None:
            headers[name] = header(ctx, name)
    klass = header(ctx, "x-obs-storage-class") or header(ctx, "x-amz-storage-class")
    if klass is not None and klass.upper() not in STORAGE:
        raise ObsError(400, "InvalidStorageClass", "The storage class you specified is not "
                       "valid.", StorageClassRequested=klass)
    meta = {"headers": headers,
            "storage_class": STORAGE[klass.upper()] if klass else bucket.storage_class}
    if header(ctx, "Content-Type"):
        meta["content_type"] = header(ctx, "Content-Type")
    return meta


def object_headers(ctx, info):
    """ETag, Last-Modified, Content-Type, storage class and the object's own headers; on GET
    the response-* query parameters override theirs."""
    out = {"ETag": '"%s"' % info.etag, "Last-Modified": http_date(info.mtime),
           "Content-Type": info.content_type or "binary/octet-stream", "Accept-Ranges": "bytes",
           "x-obs-storage-class": info.storage_class}
    if not is_obs(ctx) and info.storage_class != "STANDARD":
        out["x-amz-storage-class"] = info.storage_class
    prefix = "x-obs-meta-" if is_obs(ctx) else "x-amz-meta-"
    for k, v in info.headers.items():
        out[prefix + k[5:] if k.startswith("meta:") else k] = v
    if ctx.method == "GET":
        for k, v in ctx.q.items():
            if k.startswith("response-") and k != "response-":
                name = "-".join(w.capitalize() for w in k[len("response-"):].split("-"))
                out[name] = v
    return list(out.items())
