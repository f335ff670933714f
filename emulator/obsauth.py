"""OBS request signatures (emulator/README.md, "OBS authentication"):

  * OBS native  `Authorization: OBS AK:base64(HMAC-SHA1(SK, StringToSign))`, x-obs-* headers;
  * AWS V2      `Authorization: AWS AK:...`, the same StringToSign with x-amz-* headers;
  * AWS SigV4   `Authorization: AWS4-HMAC-SHA256 Credential=AK/date/region/s3/aws4_request, ...`,
                and its presigned query form (X-Amz-Algorithm=...);
  * presigned V2/OBS queries (AccessKeyId or AWSAccessKeyId, Expires, Signature).

    caller = verify(auth, method, raw_path, raw_query, headers)     # raises ObsError

Header values are wire form (str holding ISO-8859-1-decoded bytes, as http.server gives them)
and are signed as the bytes received. `sign_v2` and `sign_v4` are reference signers for tests.
"""

import base64
import calendar
import email.utils
import hashlib
import hmac
import re
import time
import urllib.parse

from .obsxml import ObsError

MAX_SKEW = 15 * 60
MAX_PRESIGN = 7 * 24 * 3600
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
V4_DATE = "%Y%m%dT%H%M%SZ"

# Query parameters that are part of CanonicalizedResource (OBS API reference, obs_04_0010).
SUBRESOURCES = frozenset(
    "acl append attname cors delete lifecycle location logging metadata modify name "
    "notification partNumber policy position quota rename replication restore storageClass "
    "storagePolicy storageinfo tagging torrent truncate uploadId uploads versionId versioning "
    "versions website response-cache-control response-content-disposition "
    "response-content-encoding response-content-language response-content-type "
    "response-expires".split())
_SUB_LOWER = {s.lower(): s for s in SUBRESOURCES}

_V2_RE = re.compile(r"^(OBS|AWS) ([^\s:]+):(\S+)$")
_V4_RE = re.compile(r"^AWS4-HMAC-SHA256\s+(.+)$")


class Caller:
    """Who signed the request: scheme "OBS" or "AWS" (which XML namespace answers suit it),
    version "obs" | "v2" | "v4", and for SigV4 the declared body sha256 (hex) to check while
    the body streams, else None."""

    def __init__(self, ak, user, scheme, version, payload_sha256=None):
        self.ak = ak
        self.user = user
        self.scheme = scheme
        self.version = version
        self.payload_sha256 = payload_sha256


def _bytes(value):
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:      # not wire form (a test's dict): sign its UTF-8
        return value.encode("utf-8")


def header_pairs(headers):
    """[(lower-case name, value)] with every repeat, from a Message or a dict."""
    return [(k.lower(), v) for k, v in headers.items()]


def _first(pairs, name):
    for k, v in pairs:
        if k == name:
            return v.strip()
    return None


def _printable(data):
    """Bytes shown in an <Error> element: UTF-8 text, control bytes (but newline) as '?'."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return "".join(c if c in "\n\t" or ord(c) >= 32 else "?" for c in text)


# ---------------------------------------------------------------------------------------------
# OBS native and AWS V2

def canonical_resource(raw_path, raw_query):
    """The raw path exactly as sent, then `?` + the sub-resources sorted by name, each `name`
    (no `=` in the query) or `name=value` (value %-decoded), joined with `&`."""
    out = _bytes(raw_path or "/")
    subs = []
    for part in (raw_query or "").split("&"):
        name, eq, value = part.partition("=")
        real = _SUB_LOWER.get(name.lower())
        if part and real is not None:
            subs.append((name, eq, value))
    if subs:
        subs.sort(key=lambda s: s[0])
        out += b"?" + b"&".join(_bytes(n) + (b"=" + urllib.parse.unquote_to_bytes(v) if eq else b"")
                                for n, eq, v in subs)
    return out


def string_to_sign_v2(method, raw_path, raw_query, headers, prefix="x-obs-", date=None):
    """VERB \\n Content-MD5 \\n Content-Type \\n Date \\n CanonicalizedHeaders
    CanonicalizedResource, as bytes. Date is the Date header, or "" when a `<prefix>date`
    header is present; `date` replaces it (presigned URLs sign Expires there)."""
    pairs = header_pairs(headers)
    if date is None:
        date = "" if _first(pairs, prefix + "date") is not None else (_first(pairs, "date") or "")
    grouped = {}
    for k, v in pairs:
        if k.startswith(prefix):
            grouped.setdefault(k, []).append(_bytes(v.strip()))
    canon = b"".join(k.encode("latin-1") + b":" + b",".join(vs) + b"\n"
                     for k, vs in sorted(grouped.items()))
    head = b"\n".join([method.upper().encode("latin-1"), _bytes(_first(pairs, "content-md5") or ""),
                       _bytes(_first(pairs, "content-type") or ""), _bytes(date), b""])
    return head + canon + canonical_resource(raw_path, raw_query)


def signature_v2(sk, sts):
    return base64.b64encode(hmac.new(sk.encode("utf-8"), sts, hashlib.sha1).digest()).decode()


def sign_v2(ak, sk, method, raw_path, raw_query, headers, scheme="OBS"):
    """Reference signer: the Authorization value for these headers (give Date or x-obs-date)."""
    prefix = "x-obs-" if scheme == "OBS" else "x-amz-"
    sts = string_to_sign_v2(method, raw_path, raw_query, headers, prefix)
    return "%s %s:%s" % (scheme, ak, signature_v2(sk, sts))


# ---------------------------------------------------------------------------------------------
# AWS SigV4

def _uri_encode(raw):
    return urllib.parse.quote(raw, safe="")   # unreserved A-Za-z0-9-._~ kept, rest %XX


def canonical_uri_v4(raw_path):
    """The path decoded once and each segment URI-encoded once (S3 does not double-encode)."""
    segments = urllib.parse.unquote_to_bytes(raw_path or "/").split(b"/")
    return "/".join(_uri_encode(s) for s in segments) or "/"


def canonical_query_v4(raw_query, drop=()):
    pairs = []
    for part in (raw_query or "").split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        k, v = urllib.parse.unquote_to_bytes(k), urllib.parse.unquote_to_bytes(v)
        if k.decode("latin-1") not in drop:
            pairs.append((_uri_encode(k), _uri_encode(v)))
    return "&".join(k + "=" + v for k, v in sorted(pairs))


def canonical_request_v4(method, raw_path, raw_query, headers, signed, payload, drop=()):
    pairs = header_pairs(headers)
    lines = []
    for name in signed:
        values = [b" ".join(_bytes(v).split()) for k, v in pairs if k == name]
        lines.append(name.encode("latin-1") + b":" + b",".join(values) + b"\n")
    return b"\n".join([method.upper().encode("latin-1"), canonical_uri_v4(raw_path).encode(),
                       canonical_query_v4(raw_query, drop).encode(), b"".join(lines),
                       ";".join(signed).encode("latin-1"), payload.encode("latin-1")])


def string_to_sign_v4(amz_date, scope, creq):
    return "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz_date, scope, hashlib.sha256(creq).hexdigest())


def signature_v4(sk, date, region, service, sts):
    key = ("AWS4" + sk).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_v4(ak, sk, method, raw_path, raw_query, headers, region="us-east-1", service="s3"):
    """Reference signer: the Authorization value signing every given header (give x-amz-date
    and x-amz-content-sha256)."""
    pairs = header_pairs(headers)
    amz_date = _first(pairs, "x-amz-date")
    signed = sorted({k for k, _ in pairs})
    creq = canonical_request_v4(method, raw_path, raw_query, headers, signed,
                                _first(pairs, "x-amz-content-sha256") or UNSIGNED)
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sig = signature_v4(sk, amz_date[:8], region, service, string_to_sign_v4(amz_date, scope, creq))
    return "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ak, scope, ";".join(signed), sig)


# ---------------------------------------------------------------------------------------------
# verification

def _parse_time(value):
    """Epoch seconds of an RFC 1123 date or an ISO 8601 basic one (20240315T120000Z)."""
    value = (value or "").strip()
    try:
        return calendar.timegm(time.strptime(value, V4_DATE))
    except ValueError:
        pass
    try:
        d = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return d.timestamp() if d is not None and d.tzinfo is not None else None


def _denied(message):
    return ObsError(403, "AccessDenied", message)


def _malformed(message):
    return ObsError(400, "AuthorizationHeaderMalformed", message)


class _Request:
    def __init__(self, auth, method, raw_path, raw_query, headers):
        self.auth = auth
        self.method = method
        self.raw_path = raw_path
        self.raw_query = raw_query or ""
        self.headers = headers
        self.pairs = header_pairs(headers)
        self.query = dict(urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True))

    def header(self, name):
        return _first(self.pairs, name)

    def key(self, ak):
        record = self.auth.access_key(ak)
        if record is None:
            raise ObsError(403, "InvalidAccessKeyId", "The access key Id you provided does not "
                                                      "exist in our records.", AccessKeyId=ak)
        return record

    def check_time(self, t, what):
        if t is None:
            raise _denied("%s is not a valid date (RFC 1123 or YYYYMMDDTHHMMSSZ)." % what)
        skew = t - self.auth.now()
        if abs(skew) > MAX_SKEW:
            raise ObsError(403, "RequestTimeTooSkewed", "The difference between the request "
                           "time and the server's time is too large.",
                           RequestTime=time.strftime(V4_DATE, time.gmtime(t)),
                           ServerTime=time.strftime(V4_DATE, time.gmtime(self.auth.now())),
                           MaxAllowedSkewMilliseconds=str(MAX_SKEW * 1000))

    def check_token(self, record, given):
        want = record.get("security_token")
        if want:
            if not given:
                raise ObsError(403, "InvalidAccessKeyId", "The access key %s is temporary: send "
                               "its security token (x-obs-security-token or x-amz-security-token)."
                               % record["ak"], AccessKeyId=record["ak"])
            if not hmac.compare_digest(_bytes(given.strip()), _bytes(want)):
                raise ObsError(400, "InvalidToken", "The provided token is malformed or "
                                                    "otherwise invalid.")
        elif given:
            raise ObsError(400, "InvalidToken", "The access key %s takes no security token."
                           % record["ak"])
        expires = record.get("expires")
        if expires is not None and self.auth.now() >= expires:
            raise ObsError(403, "ExpiredToken", "The provided token has expired.")

    def mismatch(self, ak, given, sts, scheme, creq=None):
        extra = {"AccessKeyId" if scheme == "OBS" else "AWSAccessKeyId": ak,
                 "StringToSign": _printable(sts), "SignatureProvided": given}
        if creq is not None:
            extra["CanonicalRequest"] = _printable(creq)
        return ObsError(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                        "not match the signature you provided. Check your key and signing method.",
                        **extra)


def verify(auth, method, raw_path, raw_query, headers):
    """The Caller of a signed OBS request, or ObsError (403 AccessDenied when anonymous)."""
    r = _Request(auth, method, raw_path, raw_query, headers)
    authorization = r.header("authorization")
    if authorization:
        if authorization.startswith("AWS4-HMAC-SHA256"):
            return _verify_v4_header(r, authorization)
        m = _V2_RE.match(authorization)
        if not m:
            raise _denied("The Authorization header is not 'OBS AK:signature', 'AWS AK:signature' "
                          "or 'AWS4-HMAC-SHA256 Credential=...'.")
        return _verify_v2(r, m.group(1), m.group(2), m.group(3), None)
    q = r.query
    if q.get("X-Amz-Algorithm"):
        return _verify_v4_query(r)
    if q.get("Signature") and (q.get("AccessKeyId") or q.get("AWSAccessKeyId")):
        scheme = "OBS" if q.get("AccessKeyId") else "AWS"
        return _verify_v2(r, scheme, q.get("AccessKeyId") or q["AWSAccessKeyId"],
                          q["Signature"], q.get("Expires", ""))
    raise _denied("Anonymous access is forbidden for this operation: sign the request.")


def _verify_v2(r, scheme, ak, given, expires):
    prefix = "x-obs-" if scheme == "OBS" else "x-amz-"
    record = r.key(ak)
    if expires is None:
        stamp = r.header(prefix + "date") or r.header("date")
        r.check_time(_parse_time(stamp), prefix + "date / Date")
        sts = string_to_sign_v2(r.method, r.raw_path, r.raw_query, r.headers, prefix)
        token = r.header(prefix + "security-token")
    else:
        if not expires.isdigit():
            raise _denied("Expires must be epoch seconds.")
        if int(expires) < r.auth.now():
            raise _denied("Request has expired.")
        sts = string_to_sign_v2(r.method, r.raw_path, _drop_query(
            r.raw_query, ("AccessKeyId", "AWSAccessKeyId", "Signature", "Expires")),
            r.headers, prefix, date=expires)
        token = r.query.get(prefix + "security-token") or r.header(prefix + "security-token")
    if not hmac.compare_digest(signature_v2(record["sk"], sts).encode(), _bytes(given)):
        raise r.mismatch(ak, given, sts, scheme)
    r.check_token(record, token)
    return Caller(ak, record["user"], scheme, "obs" if scheme == "OBS" else "v2")


def _drop_query(raw_query, names):
    return "&".join(p for p in raw_query.split("&") if p.partition("=")[0] not in names)


def _credential(r, value):
    parts = (value or "").split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise _malformed("The Credential is not AK/YYYYMMDD/region/s3/aws4_request: %r." % value)
    if parts[3] != "s3":
        raise _malformed("The credential scope names service %r; OBS is 's3'." % parts[3])
    return parts


def _verify_v4_header(r, authorization):
    m = _V4_RE.match(authorization)
    fields = {}
    for item in (m.group(1) if m else "").split(","):
        k, _, v = item.strip().partition("=")
        fields[k] = v.strip()
    if not all(fields.get(k) for k in ("Credential", "SignedHeaders", "Signature")):
        raise _malformed("The authorization header is malformed: want Credential=..., "
                         "SignedHeaders=..., Signature=....")
    ak, date, region, service, _ = _credential(r, fields["Credential"])
    record = r.key(ak)
    signed = fields["SignedHeaders"].lower().split(";")
    if "host" not in signed:
        raise _denied("SigV4 requests must sign the host header.")
    amz_date = r.header("x-amz-date")
    if amz_date is None:
        t = _parse_time(r.header("date"))
        amz_date = time.strftime(V4_DATE, time.gmtime(t)) if t is not None else ""
    t = _parse_time(amz_date)
    r.check_time(t, "x-amz-date / Date")
    if amz_date[:8] != date:
        raise _malformed("Invalid credential date %s: it is not the date of X-Amz-Date %s."
                         % (date, amz_date))
    payload = r.header("x-amz-content-sha256")
    if payload is None:
        raise ObsError(400, "InvalidRequest", "Missing required header for this request: "
                                              "x-amz-content-sha256.")
    if payload != UNSIGNED and not re.fullmatch(r"[0-9a-f]{64}", payload):
        if payload.startswith("STREAMING-"):
            raise ObsError(501, "NotImplemented", "aws-chunked uploads (%s) are not emulated; "
                                                  "send UNSIGNED-PAYLOAD or the body's sha256." % payload)
        raise ObsError(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD "
                                               "or a lower-case hex sha256.")
    creq = canonical_request_v4(r.method, r.raw_path, r.raw_query, r.headers, signed, payload)
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    sts = string_to_sign_v4(amz_date, scope, creq)
    given = fields["Signature"]
    if not hmac.compare_digest(signature_v4(record["sk"], date, region, service, sts).encode(),
                               _bytes(given)):
        raise r.mismatch(ak, given, sts, "AWS", creq)
    r.check_token(record, r.header("x-amz-security-token"))
    return Caller(ak, record["user"], "AWS", "v4", None if payload == UNSIGNED else payload)


def _verify_v4_query(r):
    q = r.query
    if q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise ObsError(400, "AuthorizationQueryParametersError",
                       "X-Amz-Algorithm only AWS4-HMAC-SHA256 is supported.")
    ak, date, region, service, _ = _credential(r, q.get("X-Amz-Credential"))
    record = r.key(ak)
    amz_date = q.get("X-Amz-Date", "")
    t = _parse_time(amz_date)
    expires = q.get("X-Amz-Expires", "")
    if t is None or not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGN:
        raise ObsError(400, "AuthorizationQueryParametersError", "X-Amz-Date must be "
                       "YYYYMMDDTHHMMSSZ and X-Amz-Expires 1..%d seconds." % MAX_PRESIGN)
    if t - r.auth.now() > MAX_SKEW:
        raise _denied("Request is not valid yet.")
    if r.auth.now() > t + int(expires):
        raise _denied("Request has expired.")
    signed = (q.get("X-Amz-SignedHeaders") or "").lower().split(";")
    creq = canonical_request_v4(r.method, r.raw_path, r.raw_query, r.headers, signed, UNSIGNED,
                                drop=("X-Amz-Signature",))
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    sts = string_to_sign_v4(amz_date, scope, creq)
    given = q.get("X-Amz-Signature", "")
    if not hmac.compare_digest(signature_v4(record["sk"], date, region, service, sts).encode(),
                               _bytes(given)):
        raise r.mismatch(ak, given, sts, "AWS", creq)
    r.check_token(record, q.get("X-Amz-Security-Token"))
    return Caller(ak, record["user"], "AWS", "v4")
