"""IMS routes that start jobs (ims-api.md §4.1, §5.1-§5.4): each validates its body, checks the
resources it names, answers 200 {"job_id"} and leaves the real work to a job (tasks.py)."""

import os
from functools import partial

from . import info, osversions, tasks
from .auth import Identity
from .fixtures import region_of
from .tasks import Item
from . import validation as v
from .errors import ImsError
from .glance import GlanceError
from .properties import DEFAULT_MIN_DISK, ENV_TYPES, os_properties

CREATE_TYPES = ("ECS", "BMS", "FusionCompute", "Ironic", "IsoImage")
VOLUME_TYPES = ("ECS", "BMS", "FusionCompute", "Ironic")
FILE_FORMATS = ("qcow2", "vhd", "zvhd", "vmdk")


def _work(ctx, task, **kw):
    """The job's work: `task` run as the caller (Glance identity) with these arguments."""
    return partial(task, glance=ctx.app.glance, ident=ctx.ident, **kw)


def _start(ctx, job_type, entities, work, images=0, **labels):
    """Starts the job; `images`: how many new images it makes, counted against the quota
    until it ends (IMG.0015 when they do not fit)."""
    if images:
        with ctx.app.limits.lock:        # no two requests take the same room
            info.reserve(ctx.app, ctx.ident, images)
            job_id = ctx.app.jobs.start(ctx.ident.project_id, job_type, entities, work,
                                        images=images, **labels)
    else:
        job_id = ctx.app.jobs.start(ctx.ident.project_id, job_type, entities, work, **labels)
    ctx.send_json(200, {"job_id": job_id})


def _start_items(ctx, job_type, name, items):
    """One main image: a plain job; anything else reports its images as sub-jobs."""
    if len(items) == 1 and items[0].main:
        work = _work(ctx, tasks.create_one, item=items[0])
    else:
        work = _work(ctx, tasks.create_many, items=items, job_type=job_type)
    _start(ctx, job_type, {"image_name": name} if name else {}, work, images=len(items))


def _common(body):
    """Optional fields every create accepts."""
    min_ram, max_ram = v.ram(body)
    return {"description": v.description(body), "tags": v.tags(body),
            "enterprise_project_id": v.enterprise_project(body),
            "min_ram": min_ram, "max_ram": max_ram}


def _owned(ctx, table, body, key, code, what):
    item_id = v.string(body, key, required=True, code=code)
    item = ctx.app.fixtures.owned(table, item_id, ctx.ident.project_id)
    if item is None:
        raise ImsError(code, "The %s %s does not exist." % (what, item_id))
    return item


def _own_image(ctx, image_id):
    """The caller's own image (IMG.0027 unknown, IMG.0047 someone else's)."""
    try:
        image = ctx.app.glance.get_image(ctx.ident, v.image_id(image_id))
    except GlanceError as e:
        if e.status == 404:
            raise ImsError("IMG.0027", "The image %s does not exist." % image_id) from None
        raise ImsError("IMG.0014", "Glance: %s" % e.message, status=500) from None
    if image.get("owner") != ctx.ident.project_id:
        raise ImsError("IMG.0047")
    return image


def _os_fields(body, need_version=False):
    os_version = v.string(body, "os_version", required=need_version, code="IMG.0056",
                          max_len=255)
    if os_version is not None and not osversions.known(os_version):
        raise ImsError("IMG.0056", "The OS version %r is not supported (GET "
                                   "/v1/cloudimages/os_version lists them)." % os_version)
    os_type = v.enum(body, "os_type", ("Linux", "Windows", "Other"), code="IMG.0122")
    return {"os_version": os_version, "os_type": os_type}


# ---- POST /v2/cloudimages/action -------------------------------------------------------------

def create_image(ctx):
    body = v.body_object(ctx.json())
    sources = [k for k in ("instance_id", "image_url", "volume_id") if body.get(k) is not None]
    if len(sources) > 1:
        raise ImsError("IMG.0001", "Give only one of instance_id, image_url, volume_id.")
    if "instance_id" in sources and body.get("data_images") is not None:
        raise ImsError("IMG.0001", "instance_id and data_images are mutually exclusive.")
    if not sources:
        if body.get("data_images") is None:
            raise ImsError("IMG.0012")
        return _from_data_disks(ctx, body)
    return {"instance_id": _from_instance, "image_url": _from_file,
            "volume_id": _from_volume}[sources[0]](ctx, body)


def _from_instance(ctx, body):
    name, common = v.name(body), _common(body)
    inst = _owned(ctx, "instances", body, "instance_id", "IMG.0005", "ECS")
    if inst.get("status") != "SHUTOFF":
        raise ImsError("IMG.0008")
    item = Item(inst["disk_file"], "of ECS " + inst["id"], name,
                dict(common, min_disk=DEFAULT_MIN_DISK, origin="instance," + inst["id"]), True)
    _start_items(ctx, "imsCreateImageByInstance", name, [item])


def _from_file(ctx, body):
    name, common = v.name(body), _common(body)
    path, url = v.object_url(body, "image_url", ctx.app.obs, ctx.region)
    min_disk = v.integer(body, "min_disk", 1, 1024, required=True)
    kind = v.enum(body, "type", CREATE_TYPES) or "ECS"
    quick = v.boolean(body, "is_quick_import")
    v.boolean(body, "is_config")
    os_fields = _os_fields(body, need_version=kind == "IsoImage" or bool(quick))
    arch = v.enum(body, "architecture", ("x86", "arm"), code="IMG.0212")
    firmware = v.enum(body, "hw_firmware_type", ("bios", "uefi"), code="IMG.0141")
    cmk = v.string(body, "cmk_id")
    extra = {"__root_origin": "file"}
    if arch:
        extra["architecture"] = arch
    if arch == "arm" or firmware:
        extra["hw_firmware_type"] = "uefi" if arch == "arm" else firmware   # arm boots UEFI
    if cmk:
        extra["__system__cmkid"] = cmk
    items = [Item(path, url, name, dict(common, min_disk=min_disk, env=ENV_TYPES[kind],
                                        extra=extra, **os_fields), True)]
    data_images = body.get("data_images")
    if data_images is not None:
        if not isinstance(data_images, list) or not 1 <= len(data_images) <= 3:
            raise ImsError("IMG.0001", "data_images must be an array of 1 to 3 objects.")
        for i, d in enumerate(data_images, 1):
            d = v.body_object(d)
            dname = v.name(d) if d.get("name") is not None else "%s-data-%d" % (name, i)
            dpath, durl = v.object_url(d, "image_url", ctx.app.obs, ctx.region)
            items.append(Item(dpath, durl, dname, {
                "env": "DataImage", "min_disk": v.integer(d, "min_disk", 1, 2048, required=True),
                "description": v.description(d), "tags": v.tags(d),
                "enterprise_project_id": common["enterprise_project_id"],
                "extra": {"__root_origin": "file"}}, False))
    _start_items(ctx, "imsImportImageJob", name, items)


def _from_volume(ctx, body):
    name, common = v.name(body), _common(body)
    vol = _owned(ctx, "volumes", body, "volume_id", "IMG.0001", "data disk")
    kind = v.enum(body, "type", VOLUME_TYPES) or "ECS"
    fields = dict(common, min_disk=DEFAULT_MIN_DISK, env=ENV_TYPES[kind],
                  origin="volume," + vol["id"], **_os_fields(body, need_version=True))
    _start_items(ctx, "imsVolumeCreateImageJob", name,
                 [Item(vol["disk_file"], "of volume " + vol["id"], name, fields, True)])


def _from_data_disks(ctx, body):
    data_images = body["data_images"]
    if not isinstance(data_images, list) or not data_images:
        raise ImsError("IMG.0001", "data_images must be a non-empty array.")
    items = []
    for d in data_images:
        d = v.body_object(d)
        vol = _owned(ctx, "volumes", d, "volume_id", "IMG.0001", "data disk")
        items.append(Item(vol["disk_file"], "of volume " + vol["id"], v.name(d), {
            "env": "DataImage", "min_disk": DEFAULT_MIN_DISK, "description": v.description(d),
            "tags": v.tags(d), "origin": "volume," + vol["id"]}, False))
    _start_items(ctx, "imsVolumesToSysDataImagesJob", None, items)


# ---- POST /v1/cloudimages/dataimages/action ----------------------------------------------------

def create_data_image(ctx):
    body = v.body_object(ctx.json())
    name, common = v.name(body), _common(body)
    path, url = v.object_url(body, "image_url", ctx.app.obs, ctx.region)
    min_disk = v.integer(body, "min_disk", 40, 2048, required=True)
    os_type = v.enum(body, "os_type", ("Windows", "Linux"), code="IMG.0122")
    cmk = v.string(body, "cmk_id")
    extra = {"__root_origin": "file"}
    if cmk:
        extra["__system__cmkid"] = cmk
    fields = dict(common, env="DataImage", os_type=os_type, min_disk=min_disk, extra=extra)
    _start_items(ctx, "imsImportDataImageJob", name, [Item(path, url, name, fields, True)])


# ---- POST /v1/cloudimages/wholeimages/action ---------------------------------------------------

def create_whole_image(ctx):
    body = v.body_object(ctx.json())
    has_instance = body.get("instance_id") is not None
    if has_instance == (body.get("backup_id") is not None):
        if has_instance:
            raise ImsError("IMG.0001", "Give instance_id or backup_id, not both.")
        raise ImsError("IMG.0012")
    name, common = v.name(body), _common(body)
    v.string(body, "vault_id")
    v.enum(body, "whole_image_type", ("CBR", "CSBS"))
    fields = dict(common, min_disk=DEFAULT_MIN_DISK, extra={"__whole_image": "true"})
    if has_instance:   # a CBR backup of a running ECS works: any state will do
        src = _owned(ctx, "instances", body, "instance_id", "IMG.0005", "ECS")
        job_type, what = "imsCreateWholeImageByInstanceJob", "of ECS "
        fields["origin"] = "instance," + src["id"]
    else:
        src = _owned(ctx, "backups", body, "backup_id", "IMG.0001", "backup")
        job_type, what = "imsCreateWholeImageByBackupJob", "of backup "
        fields["extra"]["__backup_id"] = src["id"]
    item = Item(src["disk_file"], what + src["id"], name, fields, True)
    _start_items(ctx, job_type, name, [item])


# ---- PUT /v1/cloudimages/{image_id}/upload -----------------------------------------------------

def register_image(ctx):
    body = v.body_object(ctx.json())
    path, url = v.object_url(body, "image_url", ctx.app.obs, ctx.region)
    image = _own_image(ctx, ctx.params["image_id"])
    if image.get("status") != "queued":
        raise ImsError("IMG.0046", "The image is %s; only a queued image can be registered."
                       % image.get("status"))
    props = {"__imagetype": "private", "__isregistered": "true", "__image_source_type": "uds",
             "__root_origin": "file"}
    if image.get("__os_version"):
        props.update(os_properties(image["__os_version"], image.get("__os_type")))
    work = _work(ctx, tasks.register, image_id=image["id"], path=path, what=url, props=props)
    _start(ctx, "imsNativeImportImageJob",
           {"image_id": image["id"], "image_name": image.get("name")}, work)


# ---- POST /v1/cloudimages/{image_id}/file ------------------------------------------------------

def export_image(ctx):
    body = v.body_object(ctx.json())
    bucket, key, dest, url = v.object_ref(body, "bucket_url", ctx.app.obs, ctx.region)
    quick = v.boolean(body, "is_quick_export")
    if quick and body.get("file_format") is not None:
        raise ImsError("IMG.0001", "Omit file_format when is_quick_export is true.")
    if not quick:
        if body.get("file_format") is None:
            raise ImsError("IMG.0001", "file_format is required.")
        v.enum(body, "file_format", FILE_FORMATS, code="IMG.0072")
    image = _own_image(ctx, ctx.params["image_id"])
    if image.get("__whole_image") == "true":
        raise ImsError("IMG.0128")
    if image.get("status") != "active":
        raise ImsError("IMG.0046", "The image is %s; only an active image can be exported."
                       % image.get("status"))
    if ctx.app.jobs.find(action="export", image_id=image["id"]):
        raise ImsError("IMG.0148")
    if os.path.lexists(dest):
        raise ImsError("IMG.0070", "The object %s already exists." % url)
    _start(ctx, "imsNativeExportImageJob",
           {"image_id": image["id"], "image_name": image.get("name")},
           _work(ctx, tasks.export, image_id=image["id"], store=ctx.app.obs, bucket=bucket,
                 key=key),
           action="export", image_id=image["id"])


# ---- POST /v2/cloudimages/quickimport/action ---------------------------------------------------

QUICK_TYPES = {"ECS": "FusionCompute", "BMS": "Ironic", "DataImage": "DataImage"}


def quick_import(ctx):
    body = v.body_object(ctx.json())
    name = v.name(body)
    tags = v.tags(body)
    path, url = v.object_url(body, "image_url", ctx.app.obs, ctx.region)
    min_disk = v.integer(body, "min_disk", 1, 1024, required=True)
    kind = v.enum(body, "type", tuple(QUICK_TYPES)) or "ECS"
    os_fields = _os_fields(body, need_version=True)
    license_type = v.enum(body, "license_type", ("platform", "byol"))
    arch = v.enum(body, "architecture", ("x86", "arm"), code="IMG.0212")
    firmware = v.enum(body, "hw_firmware_type", ("bios", "uefi"), code="IMG.0141")
    extra = {"__root_origin": "file", "__lazyloading": "true"}
    if arch:
        extra["architecture"] = arch
    if arch == "arm" or firmware:
        extra["hw_firmware_type"] = "uefi" if arch == "arm" else firmware
    if license_type:
        extra["__os_feature_list"] = '{"license_type": "%s"}' % license_type
    fields = dict(min_disk=min_disk, env=QUICK_TYPES[kind], extra=extra, tags=tags,
                  description=v.description(body),
                  enterprise_project_id=v.enterprise_project(body), **os_fields)
    if kind == "DataImage":
        fields.pop("os_version")
    item = Item(path, url, name, fields, True)
    _start(ctx, "imsQuickImportImageJob", {"image_name": name},
           _work(ctx, tasks.quick_import, item=item), images=1)


# ---- POST /v1/cloudimages/{image_id}/copy ------------------------------------------------------

# What a copy keeps of its source: the IMS attributes (not the ones naming the source's own
# history or encryption) and the sizes and formats.
COPY_DROP = {"__originalimagename", "__system__cmkid", "__system__encrypted", "__description",
             "__backup_id"}
COPY_KEEP = {"virtual_env_type", "enterprise_project_id", "min_disk", "min_ram", "max_ram",
             "disk_format", "container_format", "hw_firmware_type", "architecture"}


def copy_fields(source, name, description=None, cmk_id=None, enterprise_project_id=None):
    fields = {k: val for k, val in source.items()
              if (k.startswith("__") and k not in COPY_DROP) or k in COPY_KEEP}
    fields.update(name=name, visibility="private", __imagetype="private",
                  __originalimagename=source["id"])
    if description:
        fields["__description"] = description
    if cmk_id:
        fields.update(__system__cmkid=cmk_id, __system__encrypted="1")
    if enterprise_project_id:
        fields["enterprise_project_id"] = enterprise_project_id
    return fields


def _copyable(ctx, code_whole="IMG.0130"):
    image = _own_image(ctx, ctx.params["image_id"])
    if image.get("status") != "active":
        raise ImsError("IMG.0046", "The image is %s; only an active image can be copied."
                       % image.get("status"))
    if image.get("__whole_image") == "true":
        raise ImsError(code_whole)
    return image


def copy_image(ctx):
    body = v.body_object(ctx.json())
    name = v.name(body)
    description = v.description(body)
    cmk = v.string(body, "cmk_id")
    ep = v.enterprise_project(body)
    image = _copyable(ctx)
    if cmk and cmk == image.get("__system__cmkid"):
        raise ImsError("IMG.0096")
    fields = copy_fields(image, name, description, cmk, ep)
    workdir = os.path.dirname(ctx.app.fixtures.path)
    _start(ctx, "imsCopyImageInRegionJob", {"image_name": name},
           _work(ctx, tasks.copy_image, source_id=image["id"], fields=fields, workdir=workdir),
           images=1)


# ---- POST /v1/cloudimages/{image_id}/cross_region_copy -----------------------------------------

MAX_CROSS_REGION = 5        # copies to other regions a project may have running at once
CROSS_REGION_MAX = 128 << 30


def copy_cross_region(ctx):
    body = v.body_object(ctx.json())
    name = v.name(body)
    description = v.description(body)
    region = v.string(body, "region", required=True)
    project_name = v.string(body, "project_name", required=True)
    agency = v.string(body, "agency_name", required=True)
    vault_id = v.string(body, "vault_id")
    fixtures, auth = ctx.app.fixtures, ctx.app.auth
    if region not in fixtures.regions:
        raise ImsError("IMG.0001", "The region %s does not exist." % region)
    if region == ctx.region:
        raise ImsError("IMG.0001", "The target region must differ from the source region (%s); "
                                   "use /v1/cloudimages/{image_id}/copy." % region)
    user = auth.users_by_id.get(ctx.ident.user_id, {})
    target = next((p for p in auth.projects.values() if p["name"] == project_name
                   and region_of(p) == region and p["id"] in user.get("projects", [])), None)
    if target is None:
        raise ImsError("IMG.0145", "The project name %s is incorrect: no project of yours in %s "
                                   "has it." % (project_name, region))
    if agency not in fixtures.agencies:
        raise ImsError("IMG.0179", "The agency %s does not exist: the source image's agency "
                                   "token is invalid." % agency)
    image = _copyable(ctx) if vault_id is None else _own_image(ctx, ctx.params["image_id"])
    if image.get("__system__cmkid"):
        raise ImsError("IMG.0197", "An image encrypted with KMS cannot be replicated to another "
                                   "region.")
    if image.get("__image_source_type") == "iso" or image.get("virtual_env_type") == "IsoImage":
        raise ImsError("IMG.0001", "An image created from an ISO file cannot be replicated.")
    if (image.get("size") or 0) > CROSS_REGION_MAX:
        raise ImsError("IMG.0059", "Only images up to 128 GB can be replicated.")
    if ctx.app.jobs.count(ctx.ident.project_id, action="cross_region_copy") >= MAX_CROSS_REGION:
        raise ImsError("IMG.0060", "At most %d images can be replicated at a time."
                       % MAX_CROSS_REGION)
    fields = copy_fields(image, name, description)
    ident = Identity(target["id"], ctx.ident.user_id, ctx.ident.user_name, ctx.ident.domain_id,
                     ctx.ident.method, project_name=target["name"])
    workdir = os.path.dirname(fixtures.path)
    _start(ctx, "imsCrossRegionCopyImageJob", {"image_name": name},
           _work(ctx, tasks.copy_image, source_id=image["id"], fields=fields, workdir=workdir,
                 target=ident),
           action="cross_region_copy", region=region)
