"""IMS key/value tags (ims-api.md §7; the official SDKs' nine tag calls). IMS keeps an image's
tags where the emulator's imports put them: Glance tags "key=value" ("key" alone for an empty
value), so `GET /v2/cloudimages?tag=key=value` and these calls see the same tags. At most
`limits.tags_per_image` per image (IMG.0116); only the owner writes them (IMG.0047)."""

import threading

from . import validation as v
from .cloudimages import FILTERS, glance_pairs
from .errors import ImsError
from .glance import GlanceError

_write_lock = threading.Lock()      # tag writes read, change and write the whole list


def split(tag):
    key, _, value = tag.partition("=")
    return key, value


def join(key, value):
    return key + "=" + value if value else key


def _check_project(ctx):
    if ctx.params["project_id"] != ctx.ident.project_id:
        raise ImsError("IMG.0067", "The project ID %s is not the project of the credentials."
                       % ctx.params["project_id"])


def _image(ctx, owner=True):
    _check_project(ctx)
    image_id = v.image_id(ctx.params["image_id"])
    try:
        image = ctx.app.glance.get_image(ctx.ident, image_id)
    except GlanceError as e:
        if e.status == 404:
            raise ImsError("IMG.0027", "The image %s does not exist." % image_id,
                           status=404) from None
        raise ImsError("IMG.0014", "Glance: %s" % e.message, status=500) from None
    if owner and image.get("owner") != ctx.ident.project_id:
        raise ImsError("IMG.0047")
    return image


def _pair(obj, what, delete=False):
    """A {key, value} pair checked as IMS does: key 1-36 and value 0-43 characters of
    A-Z a-z 0-9 _ - (delete: key <= 127, value <= 255, any characters but "=")."""
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str) or \
            not isinstance(obj.get("value", ""), str):
        raise ImsError("IMG.0115", "%s needs a string key and value." % what)
    key, value = obj["key"].strip(), obj.get("value", "").strip()
    if delete:
        if not key or len(key) > 127 or len(value) > 255 or "=" in key:
            raise ImsError("IMG.0115", "Invalid tag %r." % obj["key"])
        return key, value
    return split(v.tag_pair(key, value, obj["key"]))


def _pairs(body, field, delete=False):
    items = body.get(field)
    if not isinstance(items, list) or not items:
        raise ImsError("IMG.0001", "%s must be a non-empty array of {key, value}." % field)
    pairs = [_pair(t, "each %s entry" % field, delete) for t in items]
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ImsError("IMG.0115", "A key appears twice in %s." % field)
    return pairs


def _write(ctx, image, change):
    """Applies change(dict key -> value) to the image's tags and stores them; IMG.0116 over the
    limit."""
    glance = ctx.app.glance
    with _write_lock:
        try:
            current = glance.get_image(ctx.ident, image["id"]).get("tags", [])
        except GlanceError as e:
            raise ImsError("IMG.0014", "Glance: %s" % e.message, status=500) from None
        tags = dict(split(t) for t in current)
        before = len(tags)
        change(tags)
        limit = ctx.app.limits.tags_per_image
        if len(tags) > max(limit, before):
            raise ImsError("IMG.0116", "An image can have at most %d tags." % limit)
        try:
            glance.set_tags(ctx.ident, image["id"], sorted(join(k, val) for k, val in tags.items()))
        except GlanceError as e:
            raise ImsError("IMG.0115" if e.status == 400 else "IMG.0014", "Glance: %s" % e.message,
                           status=400 if e.status == 400 else 500) from None


def _done(ctx):
    ctx.send_json(204, None)


# ---- POST /v2/{project_id}/images/{image_id}/tags ----------------------------------------------

def add_tag(ctx):
    body = v.body_object(ctx.json())
    image = _image(ctx)
    key, value = _pair(body.get("tag"), "tag")
    _write(ctx, image, lambda tags: tags.__setitem__(key, value))
    _done(ctx)


# ---- POST /v2/{project_id}/images/{image_id}/tags/action ---------------------------------------

def batch_tags(ctx):
    body = v.body_object(ctx.json())
    action = v.enum(body, "action", ("create", "delete"), required=True)
    pairs = _pairs(body, "tags", delete=action == "delete")
    image = _image(ctx)

    def change(tags):
        for key, value in pairs:
            if action == "create":
                tags[key] = value
            elif key in tags and (not value or tags[key] == value):
                del tags[key]
    _write(ctx, image, change)
    _done(ctx)


# ---- DELETE /v1/{project_id}/cloudimages/{image_id}/tags/delete --------------------------------

def batch_delete_tags(ctx):
    body = v.body_object(ctx.json())
    pairs = _pairs(body, "tags", delete=True)
    image = _image(ctx)

    def change(tags):
        for key, value in pairs:
            if key in tags and (not value or tags[key] == value):
                del tags[key]
    _write(ctx, image, change)
    _done(ctx)


# ---- DELETE /v2/{project_id}/images/{image_id}/tags/{key} --------------------------------------

def delete_tag(ctx):
    image = _image(ctx)
    key = ctx.params["key"]

    def change(tags):
        if key not in tags:
            raise ImsError("IMG.0115", "The image has no tag %r." % key, status=404)
        del tags[key]
    _write(ctx, image, change)
    _done(ctx)


# ---- GET /v2/{project_id}/images/{image_id}/tags -----------------------------------------------

def list_tags(ctx):
    image = _image(ctx, owner=False)
    ctx.send_json(200, {"tags": [{"key": k, "value": val}
                                 for k, val in (split(t) for t in sorted(image.get("tags", [])))]})


def _own_images(ctx, pairs=()):
    return ctx.app.glance.each_image(ctx.ident, [("owner", ctx.ident.project_id)] + list(pairs))


# ---- GET /v2/{project_id}/images/tags ----------------------------------------------------------

def project_tags(ctx):
    _check_project(ctx)
    values = {}
    for image in _own_images(ctx):
        for key, value in (split(t) for t in image.get("tags", [])):
            bucket = values.setdefault(key, [])
            if value not in bucket:
                bucket.append(value)
    ctx.send_json(200, {"tags": [{"key": k, "values": sorted(vals)}
                                 for k, vals in sorted(values.items())]})


# ---- POST /v2/{project_id}/images/resource_instances/action ------------------------------------

def _tag_filter(body, field):
    """[{key, values}] -> [(key, set of values or None for any)], IMS's limits checked."""
    items = body.get(field)
    if items is None:
        return None
    if not isinstance(items, list) or not items or len(items) > 10:
        raise ImsError("IMG.0001", "%s must be an array of 1 to 10 {key, values}." % field)
    out, seen = [], set()
    for t in items:
        if not isinstance(t, dict) or not isinstance(t.get("key"), str) or not t["key"] \
                or len(t["key"]) > 127 or not isinstance(t.get("values"), list) \
                or len(t["values"]) > 10 \
                or not all(isinstance(x, str) and len(x) <= 255 for x in t["values"]):
            raise ImsError("IMG.0001", "Each %s entry needs a key (1-127 characters) and values "
                                       "(at most 10 strings of up to 255)." % field)
        if t["key"] in seen or len(set(t["values"])) != len(t["values"]):
            raise ImsError("IMG.0001", "%s repeats a key or a value." % field)
        seen.add(t["key"])
        out.append((t["key"], set(t["values"]) or None))
    return out


def _has(tags, cond):
    key, values = cond
    return key in tags and (values is None or tags[key] in values)


def _count(body, field, default, low, high):
    value = body.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).isdigit():
        raise ImsError("IMG.0001", "%s must be a non-negative integer string." % field)
    value = int(value)
    if value < low or (high is not None and value > high):
        raise ImsError("IMG.0001", "%s must be in %d..%s." % (field, low, high or ""))
    return value


def list_by_tags(ctx):
    _check_project(ctx)
    body = v.body_object(ctx.json())
    action = v.enum(body, "action", ("filter", "count"), required=True)
    all_of, any_of = _tag_filter(body, "tags"), _tag_filter(body, "tags_any")
    none_of, not_any = _tag_filter(body, "not_tags"), _tag_filter(body, "not_tags_any")
    untagged = v.boolean(body, "without_any_tag")
    matches = body.get("matches")
    if matches is not None:
        if not isinstance(matches, list) or not matches or not all(
                isinstance(m, dict) and m.get("key") in ("resource_name", "resource_id")
                and isinstance(m.get("value"), str) for m in matches):
            raise ImsError("IMG.0001", "matches must be an array of {key: resource_name or "
                                       "resource_id, value}.")
    limit = _count(body, "limit", "10", 1, 1000)
    offset = _count(body, "offset", "0", 0, None)
    found = []
    for image in _own_images(ctx):
        tags = dict(split(t) for t in image.get("tags", []))
        if untagged:
            if tags:
                continue
        elif not ((all_of is None or all(_has(tags, c) for c in all_of)) and
                  (any_of is None or any(_has(tags, c) for c in any_of)) and
                  (none_of is None or not all(_has(tags, c) for c in none_of)) and
                  (not_any is None or not any(_has(tags, c) for c in not_any))):
            continue
        if matches and not all((image.get("name") or "").find(m["value"]) >= 0
                               if m["key"] == "resource_name" else image["id"] == m["value"]
                               for m in matches):
            continue
        found.append(image)
    if action == "count":
        return ctx.send_json(200, {"total_count": len(found)})
    found.sort(key=lambda i: (i.get("created_at") or "", i["id"]))
    page = found[offset:offset + limit]
    ctx.send_json(200, {"total_count": len(found), "resources": [{
        "resource_id": i["id"], "resource_name": i.get("name") or "",
        "resource_detail": {"status": i.get("status")},
        "tags": [{"key": k, "value": val} for k, val in (split(t) for t in sorted(i.get("tags", [])))],
    } for i in page]})


# ---- PUT /v1/cloudimages/tags (legacy) ---------------------------------------------------------

def set_tag_legacy(ctx):
    body = v.body_object(ctx.json())
    image_id = v.string(body, "image_id", required=True)
    tag, pair = body.get("tag"), body.get("image_tag")
    if (tag is None) == (pair is None):
        raise ImsError("IMG.0001", "Give one of tag, image_tag.")
    if tag is not None:
        if not isinstance(tag, str) or not tag:
            raise ImsError("IMG.0115", "tag must be a non-empty string.")
        sep = "=" if "=" in tag else "."
        key, _, value = tag.partition(sep)
        key, value = split(v.tag_pair(key.strip(), value.strip(), tag))
    else:
        key, value = _pair(pair, "image_tag")
    ctx.params.update(project_id=ctx.ident.project_id, image_id=image_id)
    image = _image(ctx)
    _write(ctx, image, lambda tags: tags.__setitem__(key, value))
    _done(ctx)


# ---- GET /v1/cloudimages/tags (legacy) ---------------------------------------------------------

def list_tags_legacy(ctx):
    pairs, limit, page = [], None, 1
    for key, value in ctx.query():
        if key in ("limit", "page"):
            if not value.isdigit() or int(value) < 1:
                raise ImsError("IMG.0001", "%s must be a positive integer." % key)
            if key == "limit":
                limit = int(value)
            else:
                page = int(value)
        elif key in FILTERS and key not in ("marker", "limit", "sort_key", "sort_dir"):
            pairs.append((key, value))
    seen = []
    for image in ctx.app.glance.each_image(ctx.ident, glance_pairs(pairs)):
        for t in image.get("tags", []):
            if t not in seen:
                seen.append(t)
    if limit:
        seen = seen[(page - 1) * limit:page * limit]
    ctx.send_json(200, {"tags": seen})
