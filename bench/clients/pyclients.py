"""Shared by the glanceclient_*.py and openstacksdk_*.py bench clients: connections to the
plain Glance with the token form USER:PROJECT (scripts/glance maps it to identity headers), and
a one-line JSON result on stdout. Environment from bench/run: BENCH_GLANCE_URL, BENCH_PROJECT,
BENCH_USER; or BENCH_TOKEN, an IAM token of the IMS emulator (BENCH_GLANCE_URL is then the
emulator's, which passes /v2/images on to Glance)."""

import json
import os
import sys


def _env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit("bench: %s is not set (run bench/run)" % name)
    return value


def token():
    # BENCH_TOKEN: an IAM token of the emulator (the bulk rows go through it, delayed)
    return os.environ.get("BENCH_TOKEN") or "%s:%s" % (_env("BENCH_USER"), _env("BENCH_PROJECT"))


def glanceclient():
    """python-glanceclient's v2 client (its Python API)."""
    from glanceclient import Client
    return Client("2", endpoint=_env("BENCH_GLANCE_URL"), token=token())


def openstacksdk():
    """An openstacksdk connection whose image service is the bench Glance (admin_token auth)."""
    import openstack
    url = _env("BENCH_GLANCE_URL")
    return openstack.connect(auth_type="admin_token", auth={"endpoint": url, "token": token()},
                             image_endpoint_override=url, image_api_version="2")


def result(**fields):
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
