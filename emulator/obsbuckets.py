"""OBS bucket routes: list buckets, HEAD bucket, ?location, ?storageClass (and ?storagePolicy),
object listings V1 and V2 (`list-type=2`), multi-object delete (?delete)."""

import base64
import binascii
import urllib.parse

from .obshttp import is_obs, ns, owner, read_small, send, send_doc
from .obsxml import MAX_XML, ObsError, add, document, fill, iso, parse_delete

MAX_KEYS = 1000


def list_buckets(ctx):
    """GET /: every fixture bucket (the account's)."""
    root = document("ListAllMyBucketsResult", ns(ctx), [("Owner", owner(ctx))])
    buckets = add(root, "Buckets")
    for b in sorted(ctx.app.obs.buckets.values(), key=lambda b: b.name):
        el = fill(add(buckets, "Bucket"), [("Name", b.name), ("CreationDate", iso(b.created))])
        if is_obs(ctx):
            add(el, "Location", b.region)
    send_doc(ctx, root)


def head_bucket(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    send(ctx, 200, headers=[("x-obs-bucket-location", b.region), ("x-amz-bucket-region", b.region),
                            ("x-obs-storage-class", b.storage_class)])


def location(ctx):
    """GET /bucket?location: <Location> (OBS) or <LocationConstraint> (S3)."""
    b = ctx.app.obs.bucket(ctx.bucket_name)
    root = document("Location" if is_obs(ctx) else "LocationConstraint", ns(ctx))
    root.text = b.region
    send_doc(ctx, root)


def storage_class(ctx):
    """GET /bucket?storageClass (OBS GetBucketStoragePolicy): <StorageClass>."""
    b = ctx.app.obs.bucket(ctx.bucket_name)
    root = document("StorageClass", ns(ctx))
    root.text = b.storage_class
    send_doc(ctx, root)


def storage_policy(ctx):
    """GET /bucket?storagePolicy (the older form): <StoragePolicy><DefaultStorageClass>."""
    b = ctx.app.obs.bucket(ctx.bucket_name)
    send_doc(ctx, document("StoragePolicy", ns(ctx), [("DefaultStorageClass", b.storage_class)]))


def not_allowed(ctx):
    raise ObsError(405, "MethodNotAllowed", "The specified method is not allowed against this "
                   "resource.", Method=ctx.method, ResourceType="BUCKET" if ctx.key is None
                   else "OBJECT")


def put_bucket(ctx):
    if ctx.bucket_name in ctx.app.obs.buckets:
        raise ObsError(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named "
                       "bucket succeeded and you already own it.", BucketName=ctx.bucket_name)
    raise ObsError(405, "MethodNotAllowed", "The emulator's buckets are its fixtures "
                   "(fixtures.json \"buckets\"); it creates none.", Method="PUT",
                   ResourceType="BUCKET")


def delete_bucket(ctx):
    ctx.app.obs.bucket(ctx.bucket_name)
    raise ObsError(405, "MethodNotAllowed", "The emulator's buckets are its fixtures; it deletes "
                   "none.", Method="DELETE", ResourceType="BUCKET")


# ---------------------------------------------------------------------------------------------
# listings

def _max(q, name, default=MAX_KEYS):
    value = q.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise ObsError(400, "InvalidArgument", "%s must be a non-negative integer." % name,
                       ArgumentName=name, ArgumentValue=value)
    return min(int(value), default)


def page(keys, prefix, delimiter, after, limit):
    """([(kind, name)], truncated): keys and common prefixes ("key" / "prefix") whose name
    sorts after `after`, at most `limit`."""
    out, last_cp, after_b = [], None, after.encode("utf-8")
    if limit == 0:
        return out, False
    for key in keys:
        name, kind = key, "key"
        if delimiter:
            i = key.find(delimiter, len(prefix))
            if i >= 0:
                name, kind = key[:i + len(delimiter)], "prefix"
        if name.encode("utf-8") <= after_b or (kind == "prefix" and name == last_cp):
            continue
        if len(out) == limit:
            return out, True
        out.append((kind, name))
        if kind == "prefix":
            last_cp = name
    return out, False


def _token(name):
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode()


def _untoken(token):
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise ObsError(400, "InvalidArgument", "The continuation token provided is incorrect.",
                       ArgumentName="continuation-token") from None


def list_objects(ctx):
    """GET /bucket (V1: prefix, marker, max-keys, delimiter) and ?list-type=2 (V2:
    continuation-token, start-after, fetch-owner); encoding-type=url encodes names."""
    b = ctx.app.obs.bucket(ctx.bucket_name)
    q = ctx.q
    v2 = q.get("list-type") == "2"
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    limit = _max(q, "max-keys")
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise ObsError(400, "InvalidArgument", "Invalid Encoding Method specified in Request",
                       ArgumentName="encoding-type")

    def enc(s):
        return urllib.parse.quote(s, safe="/") if encoding else s

    if v2:
        token = q.get("continuation-token")
        after = _untoken(token) if token else q.get("start-after", "")
    else:
        after = q.get("marker", "")
    items, truncated = page(ctx.app.obs.keys(b, prefix), prefix, delimiter, after, limit)
    root = document("ListBucketResult", ns(ctx), [("Name", b.name), ("Prefix", enc(prefix))])
    if v2:
        fill(root, [("MaxKeys", limit), ("KeyCount", len(items))])
        if token:
            add(root, "ContinuationToken", token)
        if truncated:
            add(root, "NextContinuationToken", _token(items[-1][1]))
        if q.get("start-after"):
            add(root, "StartAfter", enc(q["start-after"]))
    else:
        fill(root, [("Marker", enc(after)), ("MaxKeys", limit)])
        if truncated:
            add(root, "NextMarker", enc(items[-1][1]))
    if delimiter:
        add(root, "Delimiter", enc(delimiter))
    if encoding:
        add(root, "EncodingType", encoding)
    add(root, "IsTruncated", truncated)
    with_owner = not v2 or q.get("fetch-owner") == "true"
    for kind, name in items:
        if kind == "prefix":
            continue
        info = ctx.app.obs.info(b, name)
        if info is None:      # deleted meanwhile
            continue
        el = fill(add(root, "Contents"), [("Key", enc(name)), ("LastModified", iso(info.mtime)),
                                          ("ETag", '"%s"' % info.etag), ("Size", info.size)])
        if with_owner:
            fill(add(el, "Owner"), owner(ctx))
        add(el, "StorageClass", info.storage_class)
    for kind, name in items:
        if kind == "prefix":
            add(add(root, "CommonPrefixes"), "Prefix", enc(name))
    send_doc(ctx, root)


def delete_objects(ctx):
    """POST /bucket?delete: a <Delete> of up to 1000 keys (Content-MD5 required)."""
    b = ctx.app.obs.bucket(ctx.bucket_name)
    if ctx.handler.headers.get("Content-MD5") is None:
        raise ObsError(400, "InvalidRequest", "Missing required header for this request: "
                                              "Content-MD5.")
    keys, quiet = parse_delete(read_small(ctx, MAX_XML))
    root = document("DeleteResult", ns(ctx))
    for key in keys:
        try:
            ctx.app.obs.delete(b, key)
        except ObsError as e:
            fill(add(root, "Error"), [("Key", key), ("Code", e.code), ("Message", e.message)])
            continue
        if not quiet:
            add(add(root, "Deleted"), "Key", key)
    send_doc(ctx, root)
