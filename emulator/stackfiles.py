"""Files scripts/stack writes into its directory DIR:

    /usr/bin/python3 -m emulator.stackfiles fixtures DIR
        DIR/fixtures.json with fresh credentials and ids, and the files it names: random disk
        files of 2-3 MiB for instances, a data volume and a backup, and the OBS buckets'
        directories (ims-demo-bucket holding images/import.raw). An existing DIR/fixtures.json
        is kept, only given the buckets of BUCKETS it lacks.
    /usr/bin/python3 -m emulator.stackfiles env DIR EMULATOR_URL GLANCE_URL
        DIR/env: shell exports for two projects (IMS_ENDPOINT, IMS_AK_A, ...), the buckets and
        the OBS endpoint (read from DIR/obs.url)."""

import json
import os
import secrets
import shlex
import string
import sys
import uuid

PROJECT_A = "a" * 32      # the ids spec/support/env.lua uses for Glance-only specs
PROJECT_B = "b" * 32
# Regions: each has its own endpoint; alice has a project in each (on Huawei a project is a
# region's), so cross-region copies and replication have somewhere to go.
REGIONS = ("cn-north-4", "cn-south-1", "ap-southeast-1")
PROJECTS_A = {"cn-north-4": PROJECT_A, "cn-south-1": "a2" * 16, "ap-southeast-1": "a3" * 16}
AGENCY = "ims_admin_agency"   # the IMS agency cross-region copies name (agency_name)
MIB = 1024 * 1024
IMPORT_OBJECT = "images/import.raw"    # in the bucket: what imports and registrations read
# OBS buckets (name, region, storage class, env variable): IMS takes Standard buckets of its
# own region only, so the cold and the southern ones are there to be refused (IMG.0069, 0058).
BUCKETS = (("ims-demo-bucket", "cn-north-4", "STANDARD", "IMS_BUCKET"),
           ("ims-cold-bucket", "cn-north-4", "COLD", "IMS_BUCKET_COLD"),
           ("ims-south-bucket", "cn-south-1", "STANDARD", "IMS_BUCKET_SOUTH"))


def _random_file(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, MIB)
            f.write(os.urandom(n))
            left -= n


def _secret(n, alphabet=string.ascii_letters + string.digits):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _bucket_entries():
    return [{"name": name, "dir": "buckets/" + name, "region": region, "storage_class": klass}
            for name, region, klass, _ in BUCKETS]


def _save(path, fixtures):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(fixtures, f, indent=2)
    os.replace(tmp, path)


def _add_buckets(d, path):
    """An existing fixtures file gets the buckets of BUCKETS it lacks (nothing else changes)."""
    with open(path) as f:
        fixtures = json.load(f)
    have = {b["name"] for b in fixtures.get("buckets", [])}
    missing = [b for b in _bucket_entries() if b["name"] not in have]
    if missing:
        fixtures.setdefault("buckets", []).extend(missing)
        _save(path, fixtures)
    for b in fixtures.get("buckets", []):
        os.makedirs(os.path.join(d, b["dir"]), exist_ok=True)


def make_fixtures(d):
    path = os.path.join(d, "fixtures.json")
    if os.path.exists(path):
        _add_buckets(d, path)
        return path
    vol, backup = str(uuid.uuid4()), str(uuid.uuid4())
    fixtures = {
        "domain": {"id": uuid.uuid4().hex, "name": "ims-demo"},
        "regions": [{"name": r} for r in REGIONS],
        "projects": [{"id": PROJECT_A, "name": "cn-north-4"},
                     {"id": PROJECT_B, "name": "cn-north-4_consumer"}] +
                    [{"id": PROJECTS_A[r], "name": r} for r in REGIONS[1:]],
        "agencies": [{"name": AGENCY, "policies": ["IMS CrossCopyAgencyPolicy"]}],
        "users": [{"id": uuid.uuid4().hex, "name": name, "password": _secret(20),
                   "projects": projects}
                  for name, projects in (("alice", [PROJECTS_A[r] for r in REGIONS]),
                                         ("bob", [PROJECT_B]))],
        "aksk": [{"ak": _secret(20, string.ascii_uppercase + string.digits), "sk": _secret(40),
                  "user": user, "security_token": None} for user in ("alice", "bob")],
        "instances": [
            {"id": str(uuid.uuid4()), "name": "web-stopped", "status": "SHUTOFF",
             "project": PROJECT_A, "disk_file": "instances/web-stopped.raw", "data_volumes": [vol]},
            {"id": str(uuid.uuid4()), "name": "web-running", "status": "ACTIVE",
             "project": PROJECT_A, "disk_file": "instances/web-running.raw", "data_volumes": []}],
        "volumes": [{"id": vol, "project": PROJECT_A, "disk_file": "volumes/data-1.raw"}],
        "backups": [{"id": backup, "project": PROJECT_A, "disk_file": "backups/backup-1.raw"}],
        "buckets": _bucket_entries(),
        "token_lifetime": 86400,
        "job_duration": 2.0,
    }
    files = ["instances/web-stopped.raw", "instances/web-running.raw", "volumes/data-1.raw",
             "backups/backup-1.raw", "buckets/ims-demo-bucket/" + IMPORT_OBJECT]
    for i, rel in enumerate(files):
        _random_file(os.path.join(d, rel), 2 * MIB + i * 256 * 1024)   # sizes differ: 2-3 MiB
    for b in fixtures["buckets"]:
        os.makedirs(os.path.join(d, b["dir"]), exist_ok=True)
    _save(path, fixtures)
    return path


def write_env(d, url, glance_url):
    with open(os.path.join(d, "fixtures.json")) as f:
        fx = json.load(f)
    try:
        with open(os.path.join(d, "endpoints.json")) as f:
            endpoints = json.load(f)
    except OSError:
        endpoints = {}

    def path(rel):
        return os.path.normpath(os.path.join(os.path.abspath(d), rel))

    users = {u["name"]: u for u in fx["users"]}
    keys = {k["user"]: k for k in fx["aksk"]}
    out = {"IMS_ENDPOINT": url, "IAM_ENDPOINT": url + "/v3", "IMS_DOMAIN": fx["domain"]["name"]}
    for suffix, name in (("A", "alice"), ("B", "bob")):
        out.update({"IMS_PROJECT_" + suffix: users[name]["projects"][0],
                    "IMS_AK_" + suffix: keys[name]["ak"], "IMS_SK_" + suffix: keys[name]["sk"],
                    "IMS_USER_" + suffix: name, "IMS_PASSWORD_" + suffix: users[name]["password"]})
    # the other regions: IMS_REGION_2, IMS_ENDPOINT_2, IMS_PROJECT_A_2 (alice's project there), ...
    regions = [r["name"] for r in fx.get("regions", [])]
    if regions:
        out["IMS_REGION"] = regions[0]
        projects = {p["name"]: p["id"] for p in fx["projects"]}
        for i, region in enumerate(regions[1:], 2):
            out.update({"IMS_REGION_%d" % i: region, "IMS_ENDPOINT_%d" % i: endpoints[region],
                        "IMS_PROJECT_A_%d" % i: projects[region]})
        out["IMS_AGENCY"] = fx["agencies"][0]["name"]
    bucket = fx["buckets"][0]
    stopped = next(i for i in fx["instances"] if i["status"] == "SHUTOFF")
    running = next(i for i in fx["instances"] if i["status"] != "SHUTOFF")
    out.update({
        "IMS_INSTANCE_STOPPED": stopped["id"], "IMS_INSTANCE_RUNNING": running["id"],
        "IMS_INSTANCE_STOPPED_DISK": path(stopped["disk_file"]),
        "IMS_BUCKET": bucket["name"],
        "IMS_BUCKET_DIR": path(bucket["dir"]), "IMS_IMPORT_OBJECT": IMPORT_OBJECT,
        "IMS_GLANCE_URL": glance_url, "IMS_VOLUME": fx["volumes"][0]["id"],
        "IMS_BACKUP": fx["backups"][0]["id"], "IMS_ADMIN_URL": url + "/_emulator",
    })
    dirs = {b["name"]: b["dir"] for b in fx["buckets"]}
    for name, _, _, var in BUCKETS[1:]:      # IMS_BUCKET_COLD, IMS_BUCKET_SOUTH (and _DIR)
        if name in dirs:
            out.update({var: name, var + "_DIR": path(dirs[name])})
    try:
        with open(os.path.join(d, "obs.url")) as f:
            out["IMS_OBS_ENDPOINT"] = f.read().strip()
    except OSError:
        pass
    tmp = os.path.join(d, "env.tmp")
    with open(tmp, "w") as f:
        f.write("# written by scripts/stack up; source it: . %s/env\n" % os.path.abspath(d))
        f.writelines("export %s=%s\n" % (k, shlex.quote(v)) for k, v in out.items())
        # what ims.from_env() and the ims command read: project A out of the box
        f.write("# ims.from_env() and the ims command act as project A (alice); to act as B:\n"
                "#   export HUAWEICLOUD_SDK_AK=$IMS_AK_B HUAWEICLOUD_SDK_SK=$IMS_SK_B "
                "HUAWEICLOUD_SDK_PROJECT_ID=$IMS_PROJECT_B\n")
        sdk = {"HUAWEICLOUD_SDK_AK": out["IMS_AK_A"], "HUAWEICLOUD_SDK_SK": out["IMS_SK_A"],
               "HUAWEICLOUD_SDK_PROJECT_ID": out["IMS_PROJECT_A"]}
        if out.get("IMS_REGION"):
            sdk["HUAWEICLOUD_SDK_REGION"] = out["IMS_REGION"]
        f.writelines("export %s=%s\n" % (k, shlex.quote(v)) for k, v in sdk.items())
    os.replace(tmp, os.path.join(d, "env"))


def main(argv):
    if len(argv) == 2 and argv[0] == "fixtures":
        print(make_fixtures(argv[1]))
    elif len(argv) == 4 and argv[0] == "env":
        write_env(*argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
