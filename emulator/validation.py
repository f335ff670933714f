"""Checks for IMS request bodies (ims-api.md §4-§5): each raises ImsError with the contract's
code for the field, or returns the value in the form the emulator stores."""

import re
import uuid

from .errors import ImsError
from .obsstore import key_segments
from .obsxml import ObsError

NAME_RE = re.compile(r"[\w\-. ]+")             # letters (CJK too), digits, -._ and space
TAG_PART_RE = re.compile(r"[A-Za-z0-9_-]*")
PROJECT_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def body_object(body):
    if body is None:
        raise ImsError("IMG.0007")
    if not isinstance(body, dict):
        raise ImsError("IMG.0001", "The request body must be a JSON object.")
    return body


def string(body, key, required=False, code="IMG.0001", max_len=None, missing_code=None):
    value = body.get(key)
    if value is None:
        if required:
            raise ImsError(missing_code or code, "%s is required." % key)
        return None
    if not isinstance(value, str) or (required and value == ""):
        raise ImsError(code, "%s must be a non-empty string." % key if required
                       else "%s must be a string." % key)
    if max_len is not None and len(value) > max_len:
        raise ImsError(code, "%s is longer than %d characters." % (key, max_len))
    return value


def name(body, key="name"):
    value = string(body, key, required=True, code="IMG.0003", missing_code="IMG.0013")
    if len(value) > 128:
        raise ImsError("IMG.0002")
    if not NAME_RE.fullmatch(value) or value != value.strip():
        raise ImsError("IMG.0003", "The image name format is invalid: letters, digits, '-', '_', "
                                   "'.' and spaces, no leading or trailing space.")
    return value


def description(body):
    value = string(body, "description")
    if value is None:
        return None
    if len(value) > 1024:
        raise ImsError("IMG.0004")
    if any(c in value for c in "\r\n<>"):
        raise ImsError("IMG.0001", "description must not contain line breaks, '<' or '>'.")
    return value


def enum(body, key, allowed, code="IMG.0001", required=False):
    value = body.get(key)
    if value is None and not required:
        return None
    if value not in allowed:
        raise ImsError(code, "%s must be one of %s." % (key, ", ".join(allowed)))
    return value


def boolean(body, key):
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ImsError("IMG.0001", "%s must be true or false." % key)
    return value


def integer(body, key, low, high=None, code="IMG.0055", required=False):
    value = body.get(key)
    if value is None:
        if required:
            raise ImsError(code, "%s is required." % key)
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)             # terraform and python-v3 disagree on string vs int
    if isinstance(value, bool) or not isinstance(value, int) or value < low or \
            (high is not None and value > high):
        raise ImsError(code, "%s must be an integer in %d..%s." % (key, low, high or "")
                       if high is not None else "%s must be an integer >= %d." % (key, low))
    return value


def tags(body):
    """`tags` ["key.value"] or `image_tags` [{key, value}] (never both) as Glance tags
    "key=value", the form the IMS list filter `tag=key=value` matches."""
    plain, pairs = body.get("tags"), body.get("image_tags")
    if plain is not None and pairs is not None:
        raise ImsError("IMG.0001", "tags and image_tags cannot both be given.")
    out = []
    if plain is not None:
        if not isinstance(plain, list):
            raise ImsError("IMG.0115", "tags must be an array of strings.")
        for tag in plain:
            if not isinstance(tag, str) or not tag:
                raise ImsError("IMG.0115", "tags must be non-empty strings.")
            key, _, value = tag.partition(".")
            out.append(tag_pair(key, value, tag))
    if pairs is not None:
        if not isinstance(pairs, list):
            raise ImsError("IMG.0115", "image_tags must be an array of {key, value}.")
        for pair in pairs:
            if not isinstance(pair, dict) or not isinstance(pair.get("key"), str) \
                    or not isinstance(pair.get("value"), str):
                raise ImsError("IMG.0115", "each image_tags entry needs a string key and value.")
            out.append(tag_pair(pair["key"].strip(), pair["value"].strip(), pair["key"]))
    return out


def tag_pair(key, value, shown):
    """One IMS tag checked (IMS's limits) as the Glance tag "key=value" ("key" alone when the
    value is empty)."""
    if not key or len(key) > 36 or len(value) > 43 or not TAG_PART_RE.fullmatch(key) \
            or not TAG_PART_RE.fullmatch(value):
        raise ImsError("IMG.0115", "Invalid tag %r: key 1-36 and value 0-43 characters of "
                                   "A-Z a-z 0-9 _ -." % shown)
    return key + "=" + value if value else key


def enterprise_project(body):
    value = string(body, "enterprise_project_id")
    if value is not None and value != "0" and not is_uuid(value):
        raise ImsError("IMG.0001", "enterprise_project_id must be \"0\" or a UUID.")
    return value


def ram(body):
    """min_ram (int MB, Glance's field) and max_ram (a string property on IMS images)."""
    low = integer(body, "min_ram", 0)
    high = integer(body, "max_ram", 0)
    if low is not None and high is not None and high and low > high:
        raise ImsError("IMG.0055", "min_ram must not exceed max_ram.")
    return low, high


def object_ref(body, key, store, region):
    """"bucket:object" -> (the Bucket, the object key, its path, "bucket:object"). The bucket
    must exist (IMG.0069), be in the job's region (IMG.0058) and of class STANDARD (IMG.0069);
    whether the object does is for the job to find out (as on IMS)."""
    value = string(body, key, required=True, code="IMG.0017")
    bucket, sep, name = value.partition(":")
    if not sep or not bucket or not name:
        raise ImsError("IMG.0017", "%s must be \"bucket:object\" (got %r)." % (key, value))
    try:
        key_segments(name)
    except ObsError as e:
        raise ImsError("IMG.0017", "%s: %s" % (key, e.message)) from None
    b = store.buckets.get(bucket)
    if b is None:
        raise ImsError("IMG.0069", "The bucket %s does not exist or is not accessible." % bucket)
    if b.region != region:
        raise ImsError("IMG.0058", "The bucket %s is in region %s, not in %s: IMS reads and "
                                   "writes buckets of its own region only." % (bucket, b.region,
                                                                               region))
    if b.storage_class != "STANDARD":
        raise ImsError("IMG.0069", "The bucket %s is of storage class %s: IMS takes Standard "
                                   "buckets only." % (bucket, b.storage_class))
    return b, name, store.path(b, name), value


def object_url(body, key, store, region):
    """"bucket:object" -> (the object's path in the bucket directory, "bucket:object"), checked
    as object_ref() does."""
    _, _, path, value = object_ref(body, key, store, region)
    return path, value


def is_uuid(value):
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def image_id(value):
    if not is_uuid(value):
        raise ImsError("IMG.0066", "The image ID %r is incorrect." % value)
    return value
