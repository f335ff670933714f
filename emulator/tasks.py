"""The real work of IMS jobs, done in Glance as the owning project: disk and object files become
images, registered images get their bytes, exported images land in a bucket (emulator/obsstore.py)."""

import copy
import hashlib
import os
import tempfile
import time
import uuid
from collections import namedtuple

from . import formats
from .formats import IMPORT_MAX, QUICK_IMPORT_MAX
from .glance import GlanceError
from .jobs import JobFailure, utc
from .obsxml import ObsError
from .properties import image_fields

# One image a job makes: its source file, how to name that file in a failure, the image name,
# image_fields() keywords, and whether it is the job's main image (entities.image_id) rather
# than a sub-job (entities.sub_jobs_result).
Item = namedtuple("Item", "path what name fields main")


def source_file(path, what, limit=IMPORT_MAX):
    """The disk or object file a job reads; a missing or empty one fails the job (IMG.0057), a
    larger one than `limit` too (IMG.0059)."""
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise JobFailure("IMG.0059", "The image file %s is %d bytes; at most %d can be "
                                         "imported this way." % (what, size, limit))
        if size > 0:
            return path
        problem = "is empty"
    except OSError:
        problem = "does not exist"
    raise JobFailure("IMG.0057", "The image file %s %s." % (what, problem))


def quick_import(job, glance, ident, item):
    """Work of POST /v2/cloudimages/quickimport/action: RAW (with its bitmap) or ZVHD2 up to
    1 TiB, else the job fails."""
    source_file(item.path, item.what, QUICK_IMPORT_MAX)
    fmt = formats.detect(item.path)
    if fmt not in ("raw", "zvhd2"):
        raise JobFailure("IMG.0057", "Quick import takes RAW or ZVHD2 files; %s is %s."
                         % (item.what, fmt))
    if fmt == "raw" and not os.path.isfile(formats.bitmap_of(item.path)):
        raise JobFailure("IMG.0057", "The RAW file %s has no bitmap file (%s.bitmap) beside it."
                         % (item.what, item.what))
    create_one(job, glance, ident, item)


def copy_image(job, glance, ident, source_id, fields, workdir, target=None):
    """Work of POST /v1/cloudimages/{id}/copy (and cross_region_copy, `target` being the
    identity in the other region's project): a new image with the source's bytes and
    `fields`."""
    fd, tmp = tempfile.mkstemp(prefix=".copy-%s-" % job.id, dir=workdir)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                glance.download(ident, source_id, out, lambda d, t: job.progress(d, 2 * (t or 1)))
            except GlanceError as e:
                raise JobFailure("IMG.0014", "Reading the source image failed: %s"
                                 % e.message) from None
        progress = Progress(job, [tmp, tmp])
        progress.next_file(os.path.getsize(tmp))
        job.set_entity("image_id", new_image(glance, target or ident, tmp, fields, progress))
    finally:
        os.unlink(tmp)


class Progress:
    """Byte progress over several files, reported to the job as one fraction."""

    def __init__(self, job, paths):
        self.job = job
        self.total = sum(os.path.getsize(p) for p in paths) or 1
        self.base = 0

    def __call__(self, done, _total):
        self.job.progress(self.base + done, self.total)

    def next_file(self, size):
        self.base += size


def new_image(glance, ident, path, fields, progress):
    """Creates an image with `fields` and uploads `path` into it; returns the image id. The half
    made image is deleted when the upload fails."""
    try:
        image = glance.create_image(ident, fields)
    except GlanceError as e:
        raise JobFailure("IMG.0014", "Glance refused the image: %s" % e.message) from None
    try:
        glance.upload(ident, image["id"], path, progress)
    except (GlanceError, OSError) as e:
        try:
            glance.delete_image(ident, image["id"])
        except (GlanceError, OSError):
            pass
        raise JobFailure("IMG.0014", "Uploading the image data failed: %s" % e) from None
    progress.next_file(os.path.getsize(path))
    return image["id"]


def create_one(job, glance, ident, item):
    """Work of a job making one image: entities image_id and image_name."""
    source_file(item.path, item.what)
    fields = image_fields(item.name, item.path, **item.fields)
    image_id = new_image(glance, ident, item.path, fields, Progress(job, [item.path]))
    job.set_entity("image_id", image_id)


def create_many(job, glance, ident, items, job_type):
    """Work of a job making several images (data disks, or a system image plus data images)."""
    for item in items:
        source_file(item.path, item.what)
    progress = Progress(job, [item.path for item in items])
    results = []

    def publish():   # copies: the job view is read on other threads
        job.set_entity("sub_jobs_result", copy.deepcopy(results))
        job.set_entity("sub_jobs_list", [r["job_id"] for r in results])

    for item in items:
        fields = image_fields(item.name, item.path, **item.fields)
        if item.main:
            job.set_entity("image_id", new_image(glance, ident, item.path, fields, progress))
            continue
        sub = {"job_id": uuid.uuid4().hex, "job_type": job_type, "status": "RUNNING",
               "begin_time": utc(time.time()), "end_time": None, "error_code": None,
               "fail_reason": None, "entities": {"image_name": item.name}}
        results.append(sub)
        publish()
        try:
            sub["entities"]["image_id"] = new_image(glance, ident, item.path, fields, progress)
            sub.update(status="SUCCESS", end_time=utc(time.time()))
        except JobFailure as e:
            sub.update(status="FAIL", end_time=utc(time.time()), error_code=e.code,
                       fail_reason=e.reason)
            raise
        finally:
            publish()


def register(job, glance, ident, image_id, path, what, props):
    """Work of PUT /v1/cloudimages/{id}/upload: the object's bytes into the queued image."""
    source_file(path, what)
    job.set_entity("image_id", image_id)
    try:
        glance.upload(ident, image_id, path, job.progress)
        glance.patch_image(ident, image_id, [{"op": "add", "path": "/" + k, "value": v}
                                             for k, v in props.items()])
    except GlanceError as e:
        raise JobFailure("IMG.1075", "Failed to register the image file. Glance: %s"
                         % e.message) from None


class _Md5Writer:
    """A binary file that hashes what is written to it."""

    def __init__(self, f):
        self.f, self.md5 = f, hashlib.md5()

    def write(self, data):
        self.md5.update(data)
        return self.f.write(data)


def export(job, glance, ident, image_id, store, bucket, key):
    """Work of POST /v1/cloudimages/{id}/file: the image's bytes become the bucket object,
    written through the OBS store (a temporary file renamed into place, its ETag recorded),
    so OBS sees it only once it is complete."""
    job.set_entity("image_id", image_id)
    tmp = store.temp_path(bucket)
    try:
        with open(tmp, "wb") as out:
            writer = _Md5Writer(out)
            glance.download(ident, image_id, writer, job.progress)
        store.commit(bucket, key, tmp, writer.md5.hexdigest(), overwrite=False)
    except FileExistsError:          # never overwrites: an object that appeared meanwhile wins
        raise JobFailure("IMG.0070") from None
    except ObsError as e:
        raise JobFailure("IMG.0070", "The object %s cannot be written: %s" % (key, e.message)) \
            from None
    except GlanceError as e:
        raise JobFailure("IMG.0014", "Reading the image data failed: %s" % e.message) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
