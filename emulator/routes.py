"""Which code serves which path: IMS-native routes (ims-api.md §4-§6), the IAM token route and
the Glance v2 pass-through. Templates double as the keys of the request statistics."""

import io
import json
import re
import urllib.parse

from . import actions, cloudimages, imstags, info, members, proxy, sts, versions
from .errors import ImsError
from .httpio import BodyReader

MAX_TOKEN_BODY = 64 * 1024


def issue_token(ctx):
    """POST /v3/auth/tokens: Keystone v3 password authentication (no credentials needed)."""
    data = ctx.body.read_all(MAX_TOKEN_BODY)
    nocatalog = any(k == "nocatalog" for k, _ in ctx.query())
    status, headers, body = ctx.app.auth.issue_token(data or b"", nocatalog=nocatalog)
    ctx.send_json(status, body, [(k, v) for k, v in headers.items() if k.lower() != "content-type"])


def forward_to_glance(ctx):
    if ctx.method == "POST" and ctx.path.rstrip("/") == "/v2/images":
        _mark_private(ctx)
    proxy.forward(ctx, ctx.app.glance, ctx.public_url)


def _mark_private(ctx):
    """A project's own image is "private" to IMS's filters (`__imagetype`), as real IMS marks
    the images made through its Glance API; the body is small JSON, re-sent with the mark."""
    data = ctx.body.read_all(MAX_TOKEN_BODY * 16)
    if data is None:
        raise ImsError("IMG.0001", "The request body is larger than 1 MiB.")
    try:
        doc = json.loads(data) if data.strip() else None
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "__imagetype" not in doc:
        doc["__imagetype"] = "private"
        data = json.dumps(doc).encode()
    ctx.body = BodyReader(io.BytesIO(data), {"Content-Length": str(len(data))})


def _route(method, template, handler):
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
    return method, regex, template, handler


IMS = [
    _route("GET", "/v2/cloudimages", cloudimages.list_images),
    _route("POST", "/v2/cloudimages/action", actions.create_image),
    _route("PATCH", "/v2/cloudimages/{image_id}", cloudimages.update_image),
    _route("POST", "/v1/cloudimages/dataimages/action", actions.create_data_image),
    _route("POST", "/v1/cloudimages/wholeimages/action", actions.create_whole_image),
    _route("PUT", "/v1/cloudimages/{image_id}/upload", actions.register_image),
    _route("POST", "/v1/cloudimages/{image_id}/file", actions.export_image),
    _route("GET", "/v1/{project_id}/jobs/{job_id}", cloudimages.show_job),
    _route("GET", "/v1/cloudimages/job/{job_id}", cloudimages.show_job),
    _route("POST", "/v2/cloudimages/quickimport/action", actions.quick_import),
    _route("POST", "/v1/cloudimages/{image_id}/copy", actions.copy_image),
    _route("POST", "/v1/cloudimages/{image_id}/cross_region_copy", actions.copy_cross_region),
    # the /v2.1 "safe mode" twins: the same calls
    _route("POST", "/v2.1/cloudimages/action", actions.create_image),
    _route("POST", "/v2.1/cloudimages/quickimport/action", actions.quick_import),
    _route("POST", "/v2.1/cloudimages/dataimages/action", actions.create_data_image),
    _route("POST", "/v2.1/cloudimages/{image_id}/copy", actions.copy_image),
    _route("POST", "/v2.1/cloudimages/{image_id}/file", actions.export_image),
    # sharing
    _route("POST", "/v1/cloudimages/members", members.add_members),
    _route("PUT", "/v1/cloudimages/members", members.update_members),
    _route("DELETE", "/v1/cloudimages/members", members.delete_members),
    _route("GET", "/v1/{project_id}/cloudimages/{image_id}/members", members.list_members),
    _route("GET", "/v1/{project_id}/cloudimages/{image_id}/members/{member_id}",
           members.get_member),
    # IMS key/value tags
    _route("GET", "/v2/{project_id}/images/tags", imstags.project_tags),
    _route("POST", "/v2/{project_id}/images/resource_instances/action", imstags.list_by_tags),
    _route("GET", "/v2/{project_id}/images/{image_id}/tags", imstags.list_tags),
    _route("POST", "/v2/{project_id}/images/{image_id}/tags", imstags.add_tag),
    _route("POST", "/v2/{project_id}/images/{image_id}/tags/action", imstags.batch_tags),
    _route("DELETE", "/v2/{project_id}/images/{image_id}/tags/{key}", imstags.delete_tag),
    _route("DELETE", "/v1/{project_id}/cloudimages/{image_id}/tags/delete",
           imstags.batch_delete_tags),
    _route("PUT", "/v1/cloudimages/tags", imstags.set_tag_legacy),
    _route("GET", "/v1/cloudimages/tags", imstags.list_tags_legacy),
    # account and region
    _route("GET", "/v1/cloudimages/quota", info.quota),
    _route("GET", "/v1/cloudimages/os_version", info.os_versions),
]


def find(method, path):
    """(handler or None, path parameters, template, needs authentication) for a raw path."""
    if path == "/v3/auth/tokens":
        return (issue_token if method == "POST" else None), {}, path, False
    if path == "/v3.0/OS-CREDENTIAL/securitytokens":
        return (sts.issue if method == "POST" else None), {}, path, method == "POST"
    if proxy.is_glance_path(path):
        return forward_to_glance, {}, proxy.template(path), True
    if path in ("/", "/v1", "/v2", "/v1/", "/v2/"):     # no credentials needed
        if method != "GET":
            return None, {}, path, False
        if path == "/":
            return versions.list_versions, {}, "/", False
        return versions.show_version, {"version": path.strip("/")}, "/{version}", False
    template = "(no route)"
    for m, regex, tmpl, handler in IMS:
        match = regex.match(path)
        if match:
            template = tmpl
            if m == method:
                params = {k: urllib.parse.unquote(val) for k, val in match.groupdict().items()}
                return handler, params, tmpl, True
    return None, {}, template, False
