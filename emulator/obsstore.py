"""OBS objects on disk. A bucket is a directory; object `a/b.raw` is the file `<dir>/a/b.raw`,
so files put there by other means (fixtures, tests, IMS exports) are objects too. The hidden
directory `<dir>/.obs/` holds what is not an object: `tmp/` (uploads being received),
`meta/<sha1 of key>.json` (sidecars: ETag, Content-Type, user metadata, with the size and
mtime they describe) and `uploads/<upload id>/` (multipart uploads: upload.json and parts
`00001`, `00001.json`, ...). Keys that cannot map safely onto a path are refused.

Writes land in a temporary file first and are renamed into place (os.replace) under the
store's lock, together with their sidecar: an object never looks complete before it is. A file
without a valid sidecar gets its MD5 ETag computed on first use, then cached."""

import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections import namedtuple

from .obsxml import ObsError

HIDDEN = ".obs"
PIECE = 1024 * 1024
MAX_KEY = 1024                  # bytes of UTF-8, as S3 and OBS
MAX_SEGMENT = 255               # bytes: a file name
MIN_PART = 100 * 1024           # OBS: every part but the last is at least 100 KiB
MAX_PARTS = 10000
STORAGE_CLASSES = ("STANDARD", "WARM", "COLD", "DEEP_ARCHIVE")
_UPLOAD_RE = re.compile(r"[0-9a-f]{32}")

Bucket = namedtuple("Bucket", "name dir region storage_class created")
# etag: hex MD5, or hex-N for a multipart object; meta: {"content_type", "headers": {...}}
Info = namedtuple("Info", "key size mtime etag content_type headers storage_class")


def _bad_key(key, why):
    return ObsError(400, "InvalidArgument", "The object key %r cannot be stored: %s." % (key, why))


def key_segments(key):
    """The path segments of a storable key, else ObsError 400."""
    raw = key.encode("utf-8", "surrogatepass")
    if not key:
        raise _bad_key(key, "it is empty")
    if len(raw) > MAX_KEY:
        raise ObsError(400, "KeyTooLongError", "Your key is too long: at most %d bytes." % MAX_KEY)
    if "\0" in key:
        raise _bad_key(key, "it holds a NUL")
    segments = key.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise _bad_key(key, "empty, '.' and '..' path segments are not supported here")
    if any(len(s.encode("utf-8", "surrogatepass")) > MAX_SEGMENT for s in segments):
        raise ObsError(400, "KeyTooLongError", "A '/'-separated part of the key is longer than "
                                               "%d bytes." % MAX_SEGMENT)
    if segments[0] == HIDDEN:
        raise _bad_key(key, "%s/ is reserved for the emulator" % HIDDEN)
    return segments


def _write_json(path, obj):
    tmp = "%s.tmp-%s" % (path, uuid.uuid4().hex)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def file_md5(f):
    md5 = hashlib.md5()
    while True:
        data = f.read(PIECE)
        if not data:
            return md5.hexdigest()
        md5.update(data)


class Store:
    def __init__(self, buckets):
        """buckets: {name: Bucket}."""
        self.buckets = dict(buckets)
        self.lock = threading.Lock()
        self._completing = set()

    # -- paths -------------------------------------------------------------------------------

    def bucket(self, name):
        b = self.buckets.get(name)
        if b is None:
            raise ObsError(404, "NoSuchBucket", "The specified bucket does not exist.",
                           BucketName=name)
        return b

    def path(self, bucket, key):
        return os.path.join(bucket.dir, *key_segments(key))

    def _hidden(self, bucket, *parts):
        return os.path.join(bucket.dir, HIDDEN, *parts)

    def _sidecar(self, bucket, key):
        return self._hidden(bucket, "meta", hashlib.sha1(key.encode("utf-8")).hexdigest() + ".json")

    def temp_path(self, bucket):
        """A fresh temporary file name inside the bucket's hidden directory."""
        d = self._hidden(bucket, "tmp")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, uuid.uuid4().hex)

    # -- objects -----------------------------------------------------------------------------

    def receive(self, path, chunks, check=None):
        """Streams `chunks` into the new file `path`; `check(md5 digest, size)` may refuse the
        result. Returns (hex md5, size); the file is removed when anything fails."""
        try:
            md5, size = hashlib.md5(), 0
            with open(path, "wb") as f:
                for chunk in chunks:
                    md5.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
            if check is not None:
                check(md5.digest(), size)
            return md5.hexdigest(), size
        except BaseException:
            _unlink(path)
            raise

    def put(self, bucket, key, chunks, meta=None, check=None):
        """A whole object from `chunks`; meta {"content_type", "headers", "storage_class"}."""
        self.path(bucket, key)
        tmp = self.temp_path(bucket)
        try:
            etag, _ = self.receive(tmp, chunks, check)
            return self.commit(bucket, key, tmp, etag, meta)
        finally:
            _unlink(tmp)

    def commit(self, bucket, key, tmp, etag, meta=None, overwrite=True):
        """Moves the complete file `tmp` into place as object `key` with its sidecar. With
        overwrite False an existing object wins (FileExistsError)."""
        path = self.path(bucket, key)
        st = os.stat(tmp)
        side = dict(meta or {}, key=key, etag=etag, size=st.st_size, mtime_ns=st.st_mtime_ns)
        with self.lock:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise _bad_key(key, "a leading part of it is an object") from None
            if os.path.isdir(path) and not os.path.islink(path):
                try:
                    os.rmdir(path)       # an empty directory left behind: no object
                except OSError:
                    raise _bad_key(key, "other objects' keys start with %s/" % key) from None
            if not overwrite and os.path.lexists(path):
                raise FileExistsError(path)
            os.makedirs(self._hidden(bucket, "meta"), exist_ok=True)
            _write_json(self._sidecar(bucket, key), side)
            if overwrite:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)
                os.unlink(tmp)
        return self._info(bucket, key, st, side)

    def _info(self, bucket, key, st, side):
        return Info(key, st.st_size, st.st_mtime, side["etag"], side.get("content_type"),
                    side.get("headers") or {}, side.get("storage_class") or bucket.storage_class)

    def _side_for(self, bucket, key, st):
        side = _read_json(self._sidecar(bucket, key))
        if side and side.get("key") == key and side.get("size") == st.st_size \
                and side.get("mtime_ns") == st.st_mtime_ns:
            return side
        return None

    def open(self, bucket, key):
        """(binary file, Info) of the object, or (None, None) when there is none."""
        path = self.path(bucket, key)
        with self.lock:
            try:
                f = open(path, "rb")
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None, None
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                f.close()
                return None, None
            side = self._side_for(bucket, key, st)
        if side is None:
            side = self._hash(bucket, key, f, st)
        return f, self._info(bucket, key, st, side)

    def _hash(self, bucket, key, f, st):
        """The sidecar of a file nobody described: its MD5 (cached while the file is as it
        was); the file is rewound."""
        etag = file_md5(f)
        f.seek(0)
        side = {"key": key, "etag": etag, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        with self.lock:
            try:
                now = os.stat(self.path(bucket, key))
                if (now.st_size, now.st_mtime_ns, now.st_ino) == (st.st_size, st.st_mtime_ns,
                                                                    st.st_ino):
                    os.makedirs(self._hidden(bucket, "meta"), exist_ok=True)
                    _write_json(self._sidecar(bucket, key), side)
            except OSError:
                pass
        return side

    def info(self, bucket, key):
        f, info = self.open(bucket, key)
        if f is not None:
            f.close()
        return info

    def exists(self, bucket, key):
        try:
            return stat.S_ISREG(os.stat(self.path(bucket, key)).st_mode)
        except OSError:
            return False

    def delete(self, bucket, key):
        """Removes the object if there is one (and directories it leaves empty)."""
        path = self.path(bucket, key)
        with self.lock:
            try:
                if not os.path.isdir(path) or os.path.islink(path):
                    os.unlink(path)
            except FileNotFoundError:
                pass
            except NotADirectoryError:
                return
            _unlink(self._sidecar(bucket, key))
            d = os.path.dirname(path)
            while os.path.normpath(d) != os.path.normpath(bucket.dir):
                try:
                    os.rmdir(d)
                except OSError:
                    break
                d = os.path.dirname(d)

    def keys(self, bucket, prefix=""):
        """Every object key starting with `prefix`, in UTF-8 byte order."""
        start = bucket.dir
        if "/" in prefix:
            head = prefix.rsplit("/", 1)[0]
            try:
                start = os.path.join(bucket.dir, *key_segments(head))
            except ObsError:
                return []
        out = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, bucket.dir)
            if rel == ".":
                rel = ""
                if HIDDEN in dirnames:
                    dirnames.remove(HIDDEN)
            for name in filenames:
                key = rel.replace(os.sep, "/") + "/" + name if rel else name
                try:
                    key.encode("utf-8")
                except UnicodeEncodeError:
                    continue            # a file name no key can have
                if key.startswith(prefix) and os.path.isfile(os.path.join(dirpath, name)):
                    out.append(key)
        out.sort(key=lambda k: k.encode("utf-8"))
        return out

    # -- multipart uploads -------------------------------------------------------------------

    def initiate(self, bucket, key, meta=None):
        self.path(bucket, key)
        upload_id = uuid.uuid4().hex
        d = self._hidden(bucket, "uploads", upload_id)
        os.makedirs(d)
        _write_json(os.path.join(d, "upload.json"),
                    dict(meta or {}, key=key, upload_id=upload_id, initiated=time.time()))
        return upload_id

    def _upload(self, bucket, key, upload_id):
        if _UPLOAD_RE.fullmatch(upload_id or ""):
            d = self._hidden(bucket, "uploads", upload_id)
            rec = _read_json(os.path.join(d, "upload.json"))
            if rec is not None and rec.get("key") == key and upload_id not in self._completing:
                return d, rec
        raise ObsError(404, "NoSuchUpload", "The specified multipart upload does not exist. The "
                       "upload ID might be invalid, or the upload might have been aborted or "
                       "completed.", UploadId=upload_id)

    def upload(self, bucket, key, upload_id):
        """The upload's record (key, upload_id, initiated, meta), else NoSuchUpload."""
        return self._upload(bucket, key, upload_id)[1]

    def put_part(self, bucket, key, upload_id, number, chunks, check=None):
        d, _ = self._upload(bucket, key, upload_id)
        tmp = os.path.join(d, ".tmp-" + uuid.uuid4().hex)
        try:
            etag, size = self.receive(tmp, chunks, check)
            with self.lock:
                d, _ = self._upload(bucket, key, upload_id)   # aborted meanwhile?
                _write_json(os.path.join(d, "%05d.json" % number),
                            {"number": number, "etag": etag, "size": size,
                             "last_modified": time.time()})
                os.replace(tmp, os.path.join(d, "%05d" % number))
            return etag
        finally:
            _unlink(tmp)

    def parts(self, bucket, key, upload_id):
        """[{number, etag, size, last_modified}] in part order."""
        d, _ = self._upload(bucket, key, upload_id)
        out = []
        for name in sorted(os.listdir(d)):
            if re.fullmatch(r"\d{5}\.json", name):
                rec = _read_json(os.path.join(d, name))
                if rec is not None:
                    out.append(rec)
        return out

    def uploads(self, bucket, prefix=""):
        """The bucket's multipart uploads in progress, by key then initiation time."""
        root = self._hidden(bucket, "uploads")
        out = []
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            names = []
        for name in names:
            rec = _read_json(os.path.join(root, name, "upload.json"))
            if rec is not None and rec.get("key", "").startswith(prefix) \
                    and name not in self._completing:
                out.append(rec)
        out.sort(key=lambda r: (r["key"].encode("utf-8"), r["initiated"]))
        return out

    def abort(self, bucket, key, upload_id):
        with self.lock:
            d, _ = self._upload(bucket, key, upload_id)
            shutil.rmtree(d, ignore_errors=True)

    def complete(self, bucket, key, upload_id, wanted):
        """Assembles the listed parts [(number, etag)] into the object (atomically) and ends
        the upload. ETag: hex(md5(concatenated binary part MD5s))-N."""
        with self.lock:
            d, rec = self._upload(bucket, key, upload_id)
            have = {p["number"]: p for p in self.parts(bucket, key, upload_id)}
            last = 0
            for number, _ in wanted:
                if number <= last:
                    raise ObsError(400, "InvalidPartOrder", "The list of parts was not in "
                                   "ascending order. Parts must be ordered by part number.")
                last = number
            for i, (number, etag) in enumerate(wanted):
                part = have.get(number)
                if part is None or part["etag"] != etag:
                    raise ObsError(400, "InvalidPart", "One or more of the specified parts could "
                                   "not be found. The part might not have been uploaded, or the "
                                   "specified entity tag might not have matched the part's entity "
                                   "tag.", PartNumber=number, ETag=etag)
                if i < len(wanted) - 1 and part["size"] < MIN_PART:
                    raise ObsError(400, "EntityTooSmall", "Your proposed upload is smaller than "
                                   "the minimum allowed object size: part %d is %d bytes, every "
                                   "part but the last must be at least %d." % (
                                       number, part["size"], MIN_PART),
                                   ProposedSize=part["size"], MinSizeAllowed=MIN_PART,
                                   PartNumber=number)
            self._completing.add(upload_id)
        tmp = self.temp_path(bucket)
        try:
            digests = hashlib.md5()
            with open(tmp, "wb") as out:
                for number, etag in wanted:
                    with open(os.path.join(d, "%05d" % number), "rb") as f:
                        shutil.copyfileobj(f, out, PIECE)
                    digests.update(bytes.fromhex(etag))
            etag = "%s-%d" % (digests.hexdigest(), len(wanted))
            meta = {k: rec[k] for k in ("content_type", "headers", "storage_class") if k in rec}
            info = self.commit(bucket, key, tmp, etag, meta)
            shutil.rmtree(d, ignore_errors=True)
            return info
        finally:
            with self.lock:
                self._completing.discard(upload_id)
            _unlink(tmp)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
