"""OBS multipart uploads: POST ?uploads (initiate), PUT ?partNumber&uploadId (a part),
GET ?uploadId (ListParts), GET /bucket?uploads (ListMultipartUploads), POST ?uploadId
(complete), DELETE ?uploadId (abort). Parts: 1..10000, at most 5 GiB each, every part but the
last at least 100 KiB (checked at complete, as OBS does)."""

import urllib.parse

from .obsbuckets import _max
from .obshttp import (body_chunks, content_md5, header, md5_check, ns, object_meta, owner,
                      read_small, send, send_doc)
from .obsstore import MAX_PARTS
from .obsxml import MAX_XML, ObsError, add, document, fill, iso, parse_complete


def _upload_id(ctx):
    return ctx.q.get("uploadId", "")


def initiate(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    upload_id = ctx.app.obs.initiate(b, ctx.key, object_meta(ctx, b))
    send_doc(ctx, document("InitiateMultipartUploadResult", ns(ctx), [
        ("Bucket", b.name), ("Key", ctx.key), ("UploadId", upload_id)]))


def upload_part(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    number = ctx.q.get("partNumber", "")
    if not number.isdigit() or not 1 <= int(number) <= MAX_PARTS:
        raise ObsError(400, "InvalidArgument", "Part number must be an integer between 1 and "
                       "%d, inclusive" % MAX_PARTS, ArgumentName="partNumber",
                       ArgumentValue=number)
    if header(ctx, "x-obs-copy-source") or header(ctx, "x-amz-copy-source"):
        raise ObsError(501, "NotImplemented", "Copying parts (UploadPartCopy) is not emulated.")
    want = content_md5(ctx)
    ctx.app.obs.upload(b, ctx.key, _upload_id(ctx))     # NoSuchUpload before reading the body
    etag = ctx.app.obs.put_part(b, ctx.key, _upload_id(ctx), int(number), body_chunks(ctx),
                                md5_check(want))
    send(ctx, 200, headers=[("ETag", '"%s"' % etag)])


def _people(ctx, el):
    fill(add(el, "Initiator"), owner(ctx))
    fill(add(el, "Owner"), owner(ctx))


def list_parts(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    upload_id = _upload_id(ctx)
    rec = ctx.app.obs.upload(b, ctx.key, upload_id)
    limit = _max(ctx.q, "max-parts")
    marker = ctx.q.get("part-number-marker") or "0"
    if not marker.isdigit():
        raise ObsError(400, "InvalidArgument", "part-number-marker must be an integer.",
                       ArgumentName="part-number-marker")
    parts = [p for p in ctx.app.obs.parts(b, ctx.key, upload_id) if p["number"] > int(marker)]
    shown, truncated = parts[:limit], len(parts) > limit
    root = document("ListPartsResult", ns(ctx), [("Bucket", b.name), ("Key", ctx.key),
                                                 ("UploadId", upload_id)])
    _people(ctx, root)
    fill(root, [("StorageClass", rec.get("storage_class") or b.storage_class),
                ("PartNumberMarker", int(marker)),
                ("NextPartNumberMarker", shown[-1]["number"] if shown else int(marker)),
                ("MaxParts", limit), ("IsTruncated", truncated)])
    for p in shown:
        fill(add(root, "Part"), [("PartNumber", p["number"]),
                                 ("LastModified", iso(p["last_modified"])),
                                 ("ETag", '"%s"' % p["etag"]), ("Size", p["size"])])
    send_doc(ctx, root)


def list_uploads(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    q = ctx.q
    prefix = q.get("prefix", "")
    key_marker, id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    limit = _max(q, "max-uploads")
    ups = [u for u in ctx.app.obs.uploads(b, prefix)
           if u["key"] > key_marker or (id_marker and u["key"] == key_marker
                                        and u["upload_id"] > id_marker)] if key_marker \
        else ctx.app.obs.uploads(b, prefix)
    shown, truncated = ups[:limit], len(ups) > limit
    root = document("ListMultipartUploadsResult", ns(ctx), [
        ("Bucket", b.name), ("KeyMarker", key_marker), ("UploadIdMarker", id_marker),
        ("NextKeyMarker", shown[-1]["key"] if truncated else ""),
        ("NextUploadIdMarker", shown[-1]["upload_id"] if truncated else ""),
        ("Prefix", prefix), ("MaxUploads", limit), ("IsTruncated", truncated)])
    for u in shown:
        el = fill(add(root, "Upload"), [("Key", u["key"]), ("UploadId", u["upload_id"])])
        _people(ctx, el)
        fill(el, [("StorageClass", u.get("storage_class") or b.storage_class),
                  ("Initiated", iso(u["initiated"]))])
    send_doc(ctx, root)


def complete(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    upload_id = _upload_id(ctx)
    ctx.app.obs.upload(b, ctx.key, upload_id)
    wanted = parse_complete(read_small(ctx, MAX_XML))
    info = ctx.app.obs.complete(b, ctx.key, upload_id, wanted)
    host = header(ctx, "Host") or "127.0.0.1"
    location = "http://%s/%s/%s" % (host, b.name, urllib.parse.quote(ctx.key))
    send_doc(ctx, document("CompleteMultipartUploadResult", ns(ctx), [
        ("Location", location), ("Bucket", b.name), ("Key", ctx.key),
        ("ETag", '"%s"' % info.etag)]))


def abort(ctx):
    b = ctx.app.obs.bucket(ctx.bucket_name)
    ctx.app.obs.abort(b, ctx.key, _upload_id(ctx))
    send(ctx, 204)
