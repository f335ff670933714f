"""IMS routes answered at once (ims-api.md §4.2, §4.3, §6): the image list with IMS filters,
the image PATCH, and the job queries."""

import re

from . import validation as v
from .errors import ImsError
from .glance import GlanceError

DEFAULT_LIMIT = 500
# IMS list filters passed to Glance as they are (plus every __support_* flag), and the checked
# values of the enumerated ones: (allowed values, error code).
FILTERS = {"__isregistered", "__imagetype", "__whole_image", "__system__cmkid", "protected",
           "visibility", "owner", "id", "status", "name", "container_format", "disk_format",
           "min_ram", "min_disk", "__os_bit", "__platform", "__os_type", "tag", "member_status",
           "virtual_env_type", "enterprise_project_id", "created_at", "updated_at",
           "architecture", "marker", "limit", "sort_key", "sort_dir"}
ENUMS = {
    "__imagetype": (("gold", "private", "shared", "market"), "IMG.0024"),
    "__isregistered": (("true", "false"), "IMG.0001"),
    "__whole_image": (("true", "false"), "IMG.0001"),
    "protected": (("true", "false"), "IMG.0001"),
    "visibility": (("public", "private", "shared"), "IMG.0001"),
    "status": (("queued", "saving", "deleted", "killed", "active"), "IMG.0001"),
    "container_format": (("bare",), "IMG.0001"),
    "disk_format": (("zvhd2", "vhd", "zvhd", "raw", "qcow2"), "IMG.0001"),
    "__os_bit": (("32", "64"), "IMG.0001"),
    "__os_type": (("Linux", "Windows", "Other"), "IMG.0122"),
    "member_status": (("accepted", "rejected", "pending"), "IMG.0001"),
    "virtual_env_type": (("FusionCompute", "Ironic", "DataImage", "IsoImage"), "IMG.0001"),
    "architecture": (("x86", "arm"), "IMG.0212"),
    "sort_key": (("name", "container_format", "disk_format", "status", "id", "size",
                  "created_at"), "IMG.0001"),
    "sort_dir": (("asc", "desc"), "IMG.0001"),
}
TIME_RE = re.compile(r"(gt|gte|lt|lte|eq|neq):(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)Z?")


def _glance_failure(e, not_found="IMG.0027"):
    """An IMS error for a Glance refusal met while serving an IMS route."""
    if e.status == 404:
        return ImsError(not_found, "The image does not exist.")
    if e.status == 403:
        return ImsError("IMG.0047", e.message)
    if e.status == 409:
        return ImsError("IMG.0035", e.message)
    if 400 <= e.status < 500:
        return ImsError("IMG.0001", e.message)
    return ImsError("IMG.0014", "Glance: %s" % e.message, status=500)


# ---- GET /v2/cloudimages -----------------------------------------------------------------------

def glance_pairs(query):
    """IMS list filters (key, value) checked and turned into Glance's query pairs."""
    pairs = []
    for key, value in query:
        if key in ENUMS and value not in ENUMS[key][0]:
            raise ImsError(ENUMS[key][1], "%s must be one of %s." % (key, ", ".join(ENUMS[key][0])))
        if key in ("limit", "min_ram", "min_disk") and not value.isdigit():
            raise ImsError("IMG.0001", "%s must be a non-negative integer." % key)
        if key == "limit" and int(value) == 0:
            raise ImsError("IMG.0001", "limit must be positive.")
        if key in ("created_at", "updated_at"):
            m = TIME_RE.fullmatch(value)
            if not m:
                raise ImsError("IMG.0001", "%s must be op:yyyy-MM-ddThh:mm:ssZ with op one of "
                                           "gt gte lt lte eq neq." % key)
            value = "%s:%sT%sZ" % m.groups()   # IMS also takes "yyyy-MM-dd hh:mm:ss"
        if key == "enterprise_project_id" and value == "all_granted_eps":
            continue
        if key in FILTERS or key.startswith("__support_"):
            pairs.append((key, value))
    return pairs


def list_images(ctx):
    pairs = glance_pairs(ctx.query())
    if not any(k == "limit" for k, _ in pairs):
        pairs.append(("limit", str(DEFAULT_LIMIT)))
    try:
        page = ctx.app.glance.list_images(ctx.ident, pairs)
    except GlanceError as e:
        raise _glance_failure(e, not_found="IMG.0086") from None
    ctx.send_json(200, {"images": page["images"]})     # IMS pages by marker only: no links


# ---- PATCH /v2/cloudimages/{image_id} ----------------------------------------------------------

# Patchable IMS attributes; every other path must be a lower-case custom attribute.
PATCHABLE = {"name", "__description", "__support_xen", "__support_largememory",
             "__support_diskintensive", "__support_highperformance", "__support_xen_gpu_type",
             "__support_kvm_gpu_type", "__support_xen_hana", "__is_config_init",
             "enterprise_project_id", "min_ram", "max_ram", "hw_vif_multiqueue_enabled",
             "hw_firmware_type", "__support_kvm_infiniband", "__support_fc_inject",
             "__support_amd", "__support_kvm_hi1822_hisriov", "__support_kvm_hi1822_hivirtionet"}
# Glance attributes a custom-attribute path must not touch.
CORE = {"id", "status", "size", "virtual_size", "checksum", "owner", "visibility", "protected",
        "tags", "created_at", "updated_at", "file", "self", "schema", "disk_format",
        "container_format", "min_disk", "os_hash_algo", "os_hash_value", "os_hidden",
        "locations", "direct_url", "os_glance_import_task"}
CUSTOM_RE = re.compile(r"[a-z][a-z0-9_]*")


def _patch_value(attr, op):
    if op["op"] == "remove":
        return None
    if "value" not in op:
        raise ImsError("IMG.0001", "Operation on /%s needs a value." % attr)
    value = op["value"]
    if attr in ("min_ram", "max_ram"):
        value = v.integer({attr: value}, attr, 0)
        return value if attr == "min_ram" else str(value)   # max_ram is a string property
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ImsError("IMG.0001", "The value of /%s must be a string." % attr)
    value = str(value)
    if attr == "name":
        v.name({"name": value})
    elif attr == "__description":
        if len(value) > 1024:
            raise ImsError("IMG.0004")
    elif attr == "hw_firmware_type":
        v.enum({attr: value}, attr, ("bios", "uefi"), code="IMG.0141")
    elif attr == "enterprise_project_id":
        v.enterprise_project({attr: value})
    return value


def update_image(ctx):
    ops = ctx.json()
    if ops is None:
        raise ImsError("IMG.0007")
    if not isinstance(ops, list) or not ops:
        raise ImsError("IMG.0001", "The body must be a non-empty JSON array of operations.")
    checked = []
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove") \
                or not isinstance(op.get("path"), str) or not op["path"].startswith("/"):
            raise ImsError("IMG.0001", "Each operation needs op (add, replace, remove) and path.")
        attr = op["path"][1:]
        if attr not in PATCHABLE and (attr in CORE or not CUSTOM_RE.fullmatch(attr)):
            raise ImsError("IMG.0001", "The attribute /%s cannot be modified." % attr)
        checked.append((op["op"], attr, _patch_value(attr, op)))

    image_id = v.image_id(ctx.params["image_id"])
    glance = ctx.app.glance
    try:
        image = glance.get_image(ctx.ident, image_id)
    except GlanceError as e:
        raise _glance_failure(e) from None
    if image.get("owner") != ctx.ident.project_id:
        raise ImsError("IMG.0047")
    if image.get("status") != "active":
        raise ImsError("IMG.0046", "The image is %s; only active images can be modified."
                       % image.get("status"))
    glance_ops = []
    for op, attr, value in checked:
        present = attr in image
        if op in ("replace", "remove") and not present:
            raise ImsError("IMG.0035", "The image has no attribute %s to %s." % (attr, op))
        # json-patch add on an existing member replaces it; say so, Glance's core fields insist
        entry = {"op": "replace" if op == "add" and present else op, "path": "/" + attr}
        if op != "remove":
            entry["value"] = value
        glance_ops.append(entry)
    try:
        image = glance.patch_image(ctx.ident, image_id, glance_ops)
    except GlanceError as e:
        raise _glance_failure(e) from None
    ctx.send_json(200, image)


# ---- GET /v1/{project_id}/jobs/{job_id}, GET /v1/cloudimages/job/{job_id} ----------------------

def show_job(ctx):
    project_id = ctx.params.get("project_id")
    if project_id is not None and project_id != ctx.ident.project_id:
        raise ImsError("IMG.0067", "The project ID %s is not the project of the credentials."
                       % project_id)
    job = ctx.app.jobs.get(ctx.params["job_id"], ctx.ident.project_id)
    if job is None:
        raise ImsError("IMG.0023", "The job %s does not exist." % ctx.params["job_id"], status=404)
    ctx.send_json(200, job)
