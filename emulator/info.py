"""IMS answers about the account and the region: ShowImageQuota (GET /v1/cloudimages/quota),
ListOsVersions (GET /v1/cloudimages/os_version), and the limits the emulator enforces: the
tags per image (IMG.0116, default 10) and the private-image quota (IMG.0015: images the project
owns, plus those its unfinished jobs will make). Both are set at POST /_emulator/limits. The
quota is enforced only once set, since counting a project's images costs a Glance listing per
job; until then the quota call reports the default, 1000, beside the true count."""

import threading

from . import osversions
from .errors import ImsError

DEFAULT_IMAGE_QUOTA = 1000          # reported while no quota is set
MAX_IMAGE_QUOTA = 1000
DEFAULT_TAGS_PER_IMAGE = 10


class Limits:
    def __init__(self):
        self.lock = threading.Lock()
        self.image_quota = None              # None: not enforced
        self.tags_per_image = DEFAULT_TAGS_PER_IMAGE

    def configure(self, settings):
        with self.lock:
            for key in ("image_quota", "tags_per_image"):
                if key in settings:
                    n = settings[key]
                    if key == "image_quota" and n is None:
                        self.image_quota = None
                        continue
                    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                        raise ValueError("%s must be an integer >= 0%s" % (
                            key, " or null" if key == "image_quota" else ""))
                    setattr(self, key, n)
            return self.settings()

    def settings(self):
        return {"image_quota": self.image_quota, "tags_per_image": self.tags_per_image}


def used_images(app, ident):
    """Images the project owns (any status but deleted) plus those its unfinished jobs will
    create."""
    owned = sum(1 for _ in app.glance.each_image(ident, [("owner", ident.project_id)]))
    return owned + app.jobs.pending(ident.project_id, "images")


def reserve(app, ident, n):
    """IMG.0015 unless `n` more images fit in the project's quota."""
    quota = app.limits.image_quota
    if quota is None:
        return
    used = used_images(app, ident)
    if used + n > quota:
        raise ImsError("IMG.0015", "The number of private images exceeds the quota (%d of %d "
                                   "used, %d more asked)." % (used, quota, n))


def quota(ctx):
    app = ctx.app
    ctx.send_json(200, {"quotas": {"resources": [{
        "type": "image", "used": used_images(app, ctx.ident),
        "quota": DEFAULT_IMAGE_QUOTA if app.limits.image_quota is None else app.limits.image_quota,
        "min": 1, "max": MAX_IMAGE_QUOTA}]}})


def os_versions(ctx):
    tags = []
    for key, value in ctx.query():
        if key == "tag":
            for t in value.split(","):
                if t not in osversions.TAGS:
                    raise ImsError("IMG.0001", "tag must be one of %s." % ", ".join(osversions.TAGS))
                tags.append(t)
    ctx.send_json(200, osversions.listing(tags))
