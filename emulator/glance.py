"""The emulator's own Glance v2 client: what IMS routes and jobs do in Glance, always as the
calling project (Glance's identity headers), with image bytes streamed from and to files."""

import http.client
import json
import os
import re
import urllib.parse

from .httpio import PIECE

TIMEOUT = 300


class GlanceError(Exception):
    def __init__(self, status, message):
        super().__init__("Glance %s: %s" % (status, message))
        self.status = status
        self.message = message


def identity_headers(ident):
    """What keystonemiddleware would set for `ident` (roles: a normal IMS user)."""
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": ident.project_id,
            "X-User-Id": ident.user_id, "X-Roles": "member,reader"}


def _message(status, raw):
    """Glance's error text without webob's template leftovers (`<br /><br />\\n\\n\\n`)."""
    text = raw.decode("utf-8", "replace")
    try:
        text = json.loads(text).get("message", text)
    except (ValueError, AttributeError):
        pass
    text = re.sub(r"(<br\s*/?>|\s)+$", "", re.sub(r"<br\s*/?>", " ", text)).strip()
    return text or http.client.responses.get(status, "error")


class Glance:
    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80

    def _send(self, method, path, headers, body=None):
        """(connection, response head); transport failures become GlanceError 502, so they are
        never mistaken for the emulator's own client going away."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT, blocksize=PIECE)
        try:
            conn.request(method, path, body=body, headers=headers)
            return conn, conn.getresponse()
        except OSError as e:
            conn.close()
            raise GlanceError(502, "Glance at %s failed: %s" % (self.url, e)) from None

    def call(self, ident, method, path, body=None, content_type="application/json", expect=(200,)):
        """A JSON call; returns the decoded body (None when empty) or raises GlanceError."""
        headers = dict(identity_headers(ident), Accept="application/json")
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        conn, resp = self._send(method, path, headers, data)
        try:
            raw = resp.read()
        except OSError as e:
            raise GlanceError(502, "Glance at %s failed: %s" % (self.url, e)) from None
        finally:
            conn.close()
        if resp.status not in expect:
            raise GlanceError(resp.status, _message(resp.status, raw))
        return json.loads(raw) if raw else None

    def image_path(self, image_id, suffix=""):
        return "/v2/images/" + urllib.parse.quote(image_id, safe="") + suffix

    def get_image(self, ident, image_id):
        return self.call(ident, "GET", self.image_path(image_id))

    def list_images(self, ident, pairs):
        return self.call(ident, "GET", "/v2/images?" + urllib.parse.urlencode(pairs))

    def create_image(self, ident, fields):
        return self.call(ident, "POST", "/v2/images", fields, expect=(201,))

    def patch_image(self, ident, image_id, ops):
        return self.call(ident, "PATCH", self.image_path(image_id), ops,
                         content_type="application/openstack-images-v2.1-json-patch")

    def each_image(self, ident, pairs):
        """Every image the filters `pairs` match, over all of Glance's pages."""
        marker = None
        while True:
            page = self.list_images(ident, list(pairs) + [("limit", "1000")] +
                                    ([("marker", marker)] if marker else []))
            yield from page["images"]
            if "next" not in page or not page["images"]:
                return
            marker = page["images"][-1]["id"]

    def set_tags(self, ident, image_id, tags):
        return self.patch_image(ident, image_id, [{"op": "replace", "path": "/tags",
                                                   "value": list(tags)}])

    def members(self, ident, image_id):
        return self.call(ident, "GET", self.image_path(image_id, "/members"))["members"]

    def member(self, ident, image_id, member_id):
        return self.call(ident, "GET", self.image_path(
            image_id, "/members/" + urllib.parse.quote(member_id, safe="")))

    def add_member(self, ident, image_id, member_id):
        return self.call(ident, "POST", self.image_path(image_id, "/members"),
                         {"member": member_id})

    def set_member_status(self, ident, image_id, member_id, status):
        return self.call(ident, "PUT", self.image_path(
            image_id, "/members/" + urllib.parse.quote(member_id, safe="")), {"status": status})

    def delete_member(self, ident, image_id, member_id):
        self.call(ident, "DELETE", self.image_path(
            image_id, "/members/" + urllib.parse.quote(member_id, safe="")), expect=(204,))

    def delete_image(self, ident, image_id):
        self.call(ident, "DELETE", self.image_path(image_id), expect=(204, 404))

    def upload(self, ident, image_id, path, progress):
        """PUT the file's bytes into the (queued) image; progress(done, total) per piece."""
        total = os.path.getsize(path)
        headers = dict(identity_headers(ident), Accept="application/json",
                       **{"Content-Type": "application/octet-stream", "Content-Length": str(total)})
        with open(path, "rb") as f:
            conn, resp = self._send("PUT", self.image_path(image_id, "/file"), headers,
                                    _Progress(f, total, progress))
        try:
            raw = resp.read()
        finally:
            conn.close()
        if resp.status != 204:
            raise GlanceError(resp.status, _message(resp.status, raw))

    def download(self, ident, image_id, out, progress):
        """Streams the image's bytes into the binary file `out`; returns the byte count."""
        conn, resp = self._send("GET", self.image_path(image_id, "/file"),
                                dict(identity_headers(ident), Accept="*/*"))
        try:
            if resp.status != 200:
                raise GlanceError(resp.status, _message(resp.status, resp.read()))
            total = int(resp.getheader("Content-Length") or 0)
            done = 0
            while True:
                piece = resp.read(PIECE)
                if not piece:
                    break
                out.write(piece)
                done += len(piece)
                progress(done, total)
            if total and done != total:
                raise GlanceError(502, "image data ended after %d of %d bytes" % (done, total))
            return done
        finally:
            conn.close()


class _Progress:
    """A file whose reads report progress (http.client sends it in `blocksize` pieces)."""

    def __init__(self, f, total, progress):
        self.f, self.total, self.progress, self.done = f, total, progress, 0

    def read(self, n=-1):
        data = self.f.read(n)
        self.done += len(data)
        self.progress(self.done, self.total)
        return data
