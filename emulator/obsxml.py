"""OBS / S3 XML: the error type OBS routes raise, error and result documents, and the request
bodies the emulator parses (CompleteMultipartUpload, Delete)."""

import datetime
import xml.etree.ElementTree as ET

NS_OBS = "http://obs.myhwclouds.com/doc/2015-06-30/"
NS_AWS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML = 2 * 1024 * 1024       # a CompleteMultipartUpload of 10,000 parts fits


class ObsError(Exception):
    """A refused OBS request: status, Code, Message, and further elements of the <Error>
    document (StringToSign, ...) in `extra`; `headers` go with the answer."""

    def __init__(self, status, code, message, headers=(), **extra):
        super().__init__("%d %s %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message
        self.headers = list(headers)
        self.extra = extra


def iso(t):
    """Listing times: 2024-03-15T12:00:00.000Z."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def _to_bytes(root):
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def add(parent, tag, text=None):
    """A child element; text None leaves it empty, anything else is str()-ed."""
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = text if isinstance(text, str) else str(text).lower() \
            if isinstance(text, bool) else str(text)
    return el


def document(tag, ns, children=()):
    """A result document: root `tag` in namespace `ns`, with (tag, text) children (text may be
    a list of (tag, text) pairs for a nested element)."""
    root = ET.Element(tag, {"xmlns": ns} if ns else {})
    fill(root, children)
    return root


def fill(parent, children):
    for tag, text in children:
        if isinstance(text, list):
            fill(add(parent, tag), text)
        elif text is not None:
            add(parent, tag, text)
    return parent


def render(root):
    return _to_bytes(root)


def error_body(err, resource, request_id, host_id):
    """<Error><Code/><Message/>...<RequestId/><HostId/></Error> as S3 and OBS answer."""
    root = ET.Element("Error")
    add(root, "Code", err.code)
    add(root, "Message", err.message)
    for k, v in err.extra.items():
        if v is not None:
            add(root, k, v)
    if resource:
        add(root, "Resource", resource)
    add(root, "RequestId", request_id)
    add(root, "HostId", host_id)
    return _to_bytes(root)


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _parse(data, root_tag):
    if not data or len(data) > MAX_XML:
        raise ObsError(400, "MalformedXML", "The XML you provided was not well-formed or did not "
                                            "validate against our published schema.")
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        root = None
    if root is None or _local(root.tag) != root_tag:
        raise ObsError(400, "MalformedXML", "The XML you provided was not well-formed or did not "
                                            "validate against our published schema (want <%s>)."
                       % root_tag)
    return root


def _child_text(el, tag):
    for c in el:
        if _local(c.tag) == tag:
            return (c.text or "").strip()
    return None


def parse_complete(data):
    """CompleteMultipartUpload -> [(part_number, etag without quotes)] in document order."""
    root = _parse(data, "CompleteMultipartUpload")
    parts = []
    for el in root:
        if _local(el.tag) != "Part":
            continue
        number, etag = _child_text(el, "PartNumber"), _child_text(el, "ETag")
        if number is None or etag is None or not number.isdigit():
            raise ObsError(400, "MalformedXML", "Each <Part> needs a <PartNumber> and an <ETag>.")
        parts.append((int(number), etag.strip('"').lower()))
    if not parts:
        raise ObsError(400, "MalformedXML", "The CompleteMultipartUpload lists no parts.")
    return parts


def parse_delete(data):
    """Delete (multi-object delete) -> ([keys], quiet)."""
    root = _parse(data, "Delete")
    keys = []
    for el in root:
        if _local(el.tag) == "Object":
            key = None
            for c in el:
                if _local(c.tag) == "Key":
                    key = c.text or ""
            if key is None:
                raise ObsError(400, "MalformedXML", "Each <Object> needs a <Key>.")
            keys.append(key)
    if not keys or len(keys) > 1000:
        raise ObsError(400, "MalformedXML", "A Delete names 1 to 1000 objects.")
    return keys, (_child_text(root, "Quiet") or "").lower() == "true"
