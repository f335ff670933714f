"""The fixtures file: identities (read by auth.Authenticator) and the cloud resources behind the
IMS routes: instances, data volumes, backups (each a disk file) and buckets (directories).
Relative paths are relative to the fixtures file's directory."""

import json
import os

from .obsstore import Bucket


class FixtureError(ValueError):
    pass


def region_of(project):
    """The region of a project record: its "region", else the start of its name (Huawei)."""
    return project.get("region") or project["name"].split("_")[0]


class Fixtures:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        base = os.path.dirname(self.path)
        try:
            with open(self.path, encoding="utf-8") as f:
                self.raw = json.load(f)
        except (OSError, ValueError) as e:
            raise FixtureError("cannot read fixtures %s: %s" % (path, e)) from None

        def resolve(p):
            return os.path.normpath(os.path.join(base, p))

        try:
            self.instances = {i["id"]: dict(i, disk_file=resolve(i["disk_file"]))
                              for i in self.raw.get("instances", [])}
            self.volumes = {v["id"]: dict(v, disk_file=resolve(v["disk_file"]))
                            for v in self.raw.get("volumes", [])}
            self.backups = {b["id"]: dict(b, disk_file=resolve(b["disk_file"]))
                            for b in self.raw.get("backups", [])}
            self.job_duration = float(self.raw.get("job_duration", 2.0))
            # the regions served, each on its own endpoint (the first: --port); a project is
            # in the region its name starts with ("cn-north-4_sub" is in cn-north-4)
            self.regions = [r["name"] for r in self.raw.get("regions", [])] or \
                [region_of(self.raw.get("projects", [{"name": "cn-north-4"}])[0])]
            # OBS buckets: a directory each, in a region (default the first) and of a storage
            # class (default STANDARD)
            self.buckets = {}
            for b in self.raw.get("buckets", []):
                region = b.get("region") or self.regions[0]
                klass = b.get("storage_class") or "STANDARD"
                if not isinstance(region, str) or not isinstance(klass, str):
                    raise TypeError("bucket region and storage_class are strings")
                path = resolve(b["dir"])
                try:
                    created = os.stat(path).st_ctime
                except OSError:
                    created = 0.0
                self.buckets[b["name"]] = Bucket(b["name"], path, region, klass.upper(), created)
            self.agencies = {a["name"]: a for a in self.raw.get("agencies", [])}
        except (KeyError, TypeError, ValueError) as e:
            raise FixtureError("fixtures %s: bad entry (%s)" % (path, e)) from None

    def owned(self, table, item_id, project_id):
        """The instance/volume/backup `item_id` of `project_id`, or None."""
        item = getattr(self, table).get(item_id)
        return item if item is not None and item.get("project") == project_id else None
