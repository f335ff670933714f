"""ListVersions (GET /) and ShowVersion (GET /{version}): the API versions IMS serves, without
authentication, as the real endpoint answers them. Keystone-style clients (openstacksdk) read
them to discover the image API before their first call."""

from .errors import ImsError

# id, status, version (max micro-version), min_version, updated
VERSIONS = (("v1", "SUPPORTED", "", "", "2016-10-31T00:00:00Z"),
            ("v2", "CURRENT", "2.1", "2.0", "2017-06-21T00:00:00Z"))


def _doc(base, v):
    vid, status, version, min_version, updated = v
    return {"id": vid, "status": status, "version": version, "min_version": min_version,
            "updated": updated, "links": [{"rel": "self", "href": "%s/%s/" % (base, vid)}]}


# Both answer 300 Multiple Choices (as the IMS API reference shows, and Glance's own GET / does),
# the body being the SDK models' {"versions": [...]}.
def list_versions(ctx):
    ctx.send_json(300, {"versions": [_doc(ctx.public_url, v) for v in VERSIONS]})


def show_version(ctx):
    for v in VERSIONS:
        if v[0] == ctx.params["version"]:
            return ctx.send_json(300, {"versions": [_doc(ctx.public_url, v)]})
    raise ImsError("IMG.0001", "The API version %s does not exist." % ctx.params["version"],
                   status=404)
