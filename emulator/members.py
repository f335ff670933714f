"""IMS image sharing (ims-api.md §7; BatchAddMembers, BatchUpdateMembers, BatchDeleteMembers,
ListImageMembers, ShowImageMember): the batch calls are jobs that share, accept/reject or unshare
every image with every project in Glance; the job's `entities.results` says, per image and
project, `success` or `failed`, and the job fails when any pair failed (its first failure's code
and reason)."""

from functools import partial

from . import validation as v
from .errors import ImsError
from .glance import GlanceError
from .jobs import JobFailure

MAX_IMAGES = 100
MAX_PROJECTS = 100


def _ids(body, field, check=None, required=True, limit=100):
    value = body.get(field)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value or len(value) > limit or \
            not all(isinstance(x, str) and x for x in value):
        raise ImsError("IMG.0001" if field != "projects" else "IMG.0041",
                       "%s must be an array of 1 to %d ids." % (field, limit))
    for x in value:
        if check:
            check(x)
    if len(set(value)) != len(value):
        raise ImsError("IMG.0001", "%s repeats an id." % field)
    return value


def _project_id(value):
    if not v.PROJECT_RE.fullmatch(value):
        raise ImsError("IMG.0067", "The project ID %r is incorrect." % value)


def _shareable(ctx, image_id):
    """The caller's image, checked for sharing before the job starts."""
    try:
        image = ctx.app.glance.get_image(ctx.ident, image_id)
    except GlanceError as e:
        if e.status == 404:
            raise ImsError("IMG.0027", "The image %s does not exist." % image_id) from None
        raise ImsError("IMG.0014", "Glance: %s" % e.message, status=500) from None
    if image.get("visibility") == "public" or image.get("__imagetype") == "gold":
        raise ImsError("IMG.0089")
    if image.get("owner") != ctx.ident.project_id:
        raise ImsError("IMG.0047")
    if image.get("__whole_image") == "true":
        raise ImsError("IMG.0135")
    if image.get("__system__cmkid"):
        raise ImsError("IMG.0098")
    return image


def _run(job, pairs, act):
    """act(image_id, project_id) for each pair; results recorded as they go."""
    results, first = [], None
    for image_id, project_id in pairs:
        try:
            act(image_id, project_id)
            status = "success"
        except (GlanceError, JobFailure) as e:
            status = "failed"
            if first is None:
                first = e if isinstance(e, JobFailure) else JobFailure(
                    "IMG.0112" if job.job_type == "imsAddImageMembersJob" else
                    "IMG.0113" if job.job_type == "imsDelImageMembersJob" else "IMG.0114",
                    "%s for image %s, project %s: %s" % (
                        "Adding the member failed" if job.job_type == "imsAddImageMembersJob"
                        else "Updating the member failed", image_id, project_id, e.message))
        results.append({"image_id": image_id, "project_id": project_id, "status": status})
        job.set_entity("results", list(results))
        job.progress(len(results), len(pairs))
    if first is not None:
        raise first


def _add(glance, ident, image_id, project_id):
    image = glance.get_image(ident, image_id)
    if image.get("visibility") == "private":        # IMS shares private images as it goes
        glance.patch_image(ident, image_id, [{"op": "replace", "path": "/visibility",
                                              "value": "shared"}])
    try:
        glance.add_member(ident, image_id, project_id)
    except GlanceError as e:
        if e.status != 409:                          # already a member: nothing to do
            raise


def _delete(glance, ident, image_id, project_id):
    try:
        glance.delete_member(ident, image_id, project_id)
    except GlanceError as e:
        if e.status != 404:                          # not a member: already the wanted state
            raise


def _update(glance, ident, status, image_id, project_id):
    glance.set_member_status(ident, image_id, project_id, status)


def _batch(ctx, job_type, act):
    body = v.body_object(ctx.json())
    images = _ids(body, "images", v.image_id, limit=MAX_IMAGES)
    projects = _ids(body, "projects", _project_id, limit=MAX_PROJECTS)
    _ids(body, "domains", required=False)
    _ids(body, "organizations", required=False)
    if ctx.ident.project_id in projects:
        raise ImsError("IMG.0076")
    for image_id in images:
        _shareable(ctx, image_id)
    pairs = [(i, p) for i in images for p in projects]
    work = partial(_run, pairs=pairs, act=partial(act, ctx.app.glance, ctx.ident))
    job_id = ctx.app.jobs.start(ctx.ident.project_id, job_type, {}, work)
    ctx.send_json(200, {"job_id": job_id})


# ---- POST / DELETE /v1/cloudimages/members ------------------------------------------------------

def add_members(ctx):
    _batch(ctx, "imsAddImageMembersJob", _add)


def delete_members(ctx):
    _batch(ctx, "imsDelImageMembersJob", _delete)


# ---- PUT /v1/cloudimages/members ---------------------------------------------------------------

def update_members(ctx):
    body = v.body_object(ctx.json())
    images = _ids(body, "images", v.image_id, limit=MAX_IMAGES)
    project_id = v.string(body, "project_id", required=True, code="IMG.0067")
    if project_id != ctx.ident.project_id:
        raise ImsError("IMG.0067", "project_id must be the project of the credentials (the "
                                   "member accepts or rejects what was shared with it).")
    status = v.enum(body, "status", ("accepted", "rejected"), required=True)
    v.string(body, "vault_id")
    pairs = [(i, project_id) for i in images]
    work = partial(_run, pairs=pairs, act=partial(_update, ctx.app.glance, ctx.ident, status))
    job_id = ctx.app.jobs.start(ctx.ident.project_id, "imsUpdateImageMembersJob", {}, work)
    ctx.send_json(200, {"job_id": job_id})


# ---- GET /v1/{project_id}/cloudimages/{image_id}/members[/{member_id}] -------------------------

def _member_view(m):
    return {"status": m.get("status"), "created_at": m.get("created_at"),
            "updated_at": m.get("updated_at"), "image_id": m.get("image_id"),
            "member_id": m.get("member_id"), "schema": m.get("schema", "/v2/schemas/member"),
            "member_type": "project"}


def _glance_member_failure(e, image_id):
    if e.status == 404:
        return ImsError("IMG.0027", "The image %s or its member does not exist." % image_id,
                        status=404)
    if e.status == 403:
        return ImsError("IMG.0047", e.message, status=403)
    return ImsError("IMG.0014", "Glance: %s" % e.message, status=500)


def _path_project(ctx):
    if ctx.params["project_id"] != ctx.ident.project_id:
        raise ImsError("IMG.0067", "The project ID %s is not the project of the credentials."
                       % ctx.params["project_id"])
    return v.image_id(ctx.params["image_id"])


def list_members(ctx):
    image_id = _path_project(ctx)
    try:
        members = ctx.app.glance.members(ctx.ident, image_id)
    except GlanceError as e:
        raise _glance_member_failure(e, image_id) from None
    ctx.send_json(200, {"members": [_member_view(m) for m in members],
                        "schema": "/v2/schemas/members"})


def get_member(ctx):
    image_id = _path_project(ctx)
    try:
        member = ctx.app.glance.member(ctx.ident, image_id, ctx.params["member_id"])
    except GlanceError as e:
        raise _glance_member_failure(e, image_id) from None
    ctx.send_json(200, _member_view(member))
