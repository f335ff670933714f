"""Authentication for the IMS emulator: IAM tokens and AK/SK SDK-HMAC-SHA256 (ims-api.md §2, §8).

Python standard library only. Two entry points for the server:

    status, headers, body = auth.issue_token(raw_body)        # POST /v3/auth/tokens (never raises)
    identity = auth.authenticate(method, raw_path, raw_query, headers, body)   # raises AuthError

`sign()` is a reference client signer (python-v3 policy) for tests and tools.

Header values are handled in "wire form": str objects holding the received bytes decoded as
ISO-8859-1, which is what http.server gives. python-v3 signs the Unicode value and sends its UTF-8
bytes, so the canonical request maps wire values back to UTF-8 text (surrogateescape for bytes that
are not UTF-8) and hashes exactly the received bytes.
"""

import calendar
import datetime
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.parse
import uuid

ALGORITHM = "SDK-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = 15 * 60                # APIG rejects an X-Sdk-Date further than this from its clock
MAX_SIGNED_BODY = 12 * 1024 * 1024  # APIG limit for AK/SK requests whose body is hashed
DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_AK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_AUTH_RE = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^\s,]+)\s*,\s*SignedHeaders=([^\s,]+)\s*,\s*Signature=([0-9A-Fa-f]{64})\s*$")


class AuthError(Exception):
    """A refused request: .status (401/400), .body (JSON-able dict), .headers (dict)."""

    def __init__(self, status, body, headers=None):
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class Identity:
    """Who is calling. method is "token" or "aksk"; access_key is set for "aksk" only."""

    def __init__(self, project_id, user_id, user_name, domain_id, method,
                 project_name=None, access_key=None):
        self.project_id = project_id
        self.user_id = user_id
        self.user_name = user_name
        self.domain_id = domain_id
        self.method = method
        self.project_name = project_name
        self.access_key = access_key

    def __repr__(self):
        return "Identity(%s user=%s project=%s)" % (self.method, self.user_name, self.project_id)


def apigw_error(message):
    """The API Gateway 401 (ims-api.md §1.3 #2) as an AuthError."""
    rid = uuid.uuid4().hex
    return AuthError(401, {
        "error_code": "APIGW.0301",
        "error_msg": "Incorrect IAM authentication information: " + message,
        "request_id": rid,
    }, {"Content-Type": "application/json", "X-Request-Id": rid})


def _keystone(status, message):
    titles = {400: "Bad Request", 401: "Unauthorized"}
    return (status, {"Content-Type": "application/json", "X-Request-Id": uuid.uuid4().hex},
            {"error": {"code": status, "title": titles[status], "message": message}})


# ---------------------------------------------------------------------------------------------
# canonical request (ims-api.md §2.2 step 5)

def _escape(raw: bytes) -> str:
    # RFC 3986 unreserved kept, everything else %XX upper-case (quote never treats '~' as unsafe)
    return urllib.parse.quote(raw, safe="~")


def canonical_uri(raw_path: str) -> str:
    """Decode with plain %XX, escape each '/'-separated segment, always end with '/'."""
    segments = urllib.parse.unquote_to_bytes(raw_path or "").split(b"/")
    uri = "/".join(_escape(s) for s in segments)
    return uri if uri.endswith("/") else uri + "/"


def _query_pairs(raw_query: str):
    pairs = []
    for part in (raw_query or "").split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        # plain %XX: '+' stays '+' (python-v3 sends '+' as %2B, so a raw '+' is a literal plus)
        pairs.append((urllib.parse.unquote_to_bytes(k), urllib.parse.unquote_to_bytes(v)))
    return pairs


def canonical_query(raw_query: str) -> str:
    """Decoded pairs sorted by key then value (byte order = code-point order for UTF-8)."""
    return "&".join(_escape(k) + "=" + _escape(v) for k, v in sorted(_query_pairs(raw_query)))


def _get_header(headers, name):
    """Case-insensitive lookup in a Message (as http.server gives) or a plain dict."""
    if isinstance(headers, dict):
        for k, v in headers.items():
            if k.lower() == name.lower():
                return v
        return None
    return headers.get(name)


class _DictHeaders:
    """A plain dict given to authenticate() gets the case-insensitive .get of a Message."""

    def __init__(self, d):
        self._d = d

    def get(self, name, default=None):
        v = _get_header(self._d, name)
        return default if v is None else v


def _wire_to_text(value: str) -> str:
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:      # already Unicode text (not wire form): sign it as given
        return value
    return raw.decode("utf-8", "surrogateescape")


def canonical_request(method, raw_path, raw_query, headers, signed_headers, payload_hash) -> str:
    """The 6-line canonical request. signed_headers: list of names (or "a;b"), used as given.
    Raises ValueError when a signed header is absent from headers."""
    if isinstance(signed_headers, str):
        signed_headers = signed_headers.split(";")
    lines = []
    for name in signed_headers:
        value = _get_header(headers, name)
        if value is None:
            raise ValueError("signed header %s is missing" % name)
        lines.append(name + ":" + _wire_to_text(value).strip() + "\n")
    return "\n".join([method.upper(), canonical_uri(raw_path), canonical_query(raw_query),
                      "".join(lines), ";".join(signed_headers), payload_hash])


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def string_to_sign(canonical: str, x_sdk_date: str) -> str:
    return "%s\n%s\n%s" % (ALGORITHM, x_sdk_date, _sha256_hex(canonical))


def signature(sk: str, sts: str) -> str:
    return hmac.new(sk.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------
# reference client signer

def sign(ak, sk, method, url, headers, body=None, date=None, policy="python"):
    """Sign like huaweicloud-sdk-python-v3 Signer.sign(); returns the headers to send (a new dict:
    the given ones trimmed, plus Host, X-Sdk-Date, X-Sdk-Content-Sha256 as the policy adds them, and
    Authorization). Send the query as canonical_query() gives it to match python-v3 byte for byte;
    any encoding of the same pairs verifies. date: "YYYYMMDDTHHMMSSZ" when X-Sdk-Date is not in
    headers (default: now, UTC). policy="go" signs like go-v3 (no Host, content-type not signed)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body or b""
    parts = urllib.parse.urlsplit(url)
    # wire form, as python-v3 does after signing (value.encode("utf-8").decode("iso-8859-1"))
    out = {k: v.strip().encode("utf-8").decode("latin-1") for k, v in headers.items()}
    if _get_header(out, "X-Sdk-Date") is None:
        out["X-Sdk-Date"] = date or datetime.datetime.now(datetime.timezone.utc).strftime(DATE_FORMAT)
    if policy == "python" and _get_header(out, "Host") is None:
        out["Host"] = parts.netloc
    ctype = _get_header(out, "Content-Type")
    if body and ctype and not ctype.startswith(("application/json", "application/bson")) \
            and _get_header(out, "X-Sdk-Content-Sha256") is None:
        out["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
    names = sorted({k.lower() for k in out if "_" not in k
                    and not (policy == "go" and k.lower().startswith("content-type"))})
    if not body:
        payload = EMPTY_SHA256
    else:
        payload = _get_header(out, "X-Sdk-Content-Sha256") or hashlib.sha256(body).hexdigest()
    creq = canonical_request(method, parts.path or "/", parts.query, out, names, payload)
    sig = signature(sk, string_to_sign(creq, _get_header(out, "X-Sdk-Date")))
    out["Authorization"] = "%s Access=%s, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, ak, ";".join(names), sig)
    return out


# ---------------------------------------------------------------------------------------------
# the authenticator

def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stable_id(*parts) -> str:
    # deterministic ids for roles/catalog entries, so responses do not change between runs
    return hashlib.md5("/".join(parts).encode()).hexdigest()


class Authenticator:
    def __init__(self, fixtures: dict, clock=time.time, require_project=True):
        self.clock = clock
        self.require_project = require_project  # False only to replay signer vectors (no X-Project-Id)
        self.public_url = ""                    # the server sets it once bound; used in the catalog
        self.urls = {}                          # region -> its endpoint, the same way
        self.domain = fixtures["domain"]
        self.projects = {p["id"]: p for p in fixtures.get("projects", [])}
        self.users = {u["name"]: u for u in fixtures.get("users", [])}
        self.users_by_id = {u["id"]: u for u in fixtures.get("users", [])}
        self.aksk = {k["ak"]: k for k in fixtures.get("aksk", [])}
        self.token_lifetime = float(fixtures.get("token_lifetime", 86400))
        self._offset = 0.0
        self._tokens = {}            # token -> (Identity, expires_at epoch seconds)
        self._temporary = {}         # temporary AK -> {ak, sk, user, security_token, expires}
        self._lock = threading.Lock()  # the server handles requests on several threads

    def now(self) -> float:
        return self.clock() + self._offset

    def set_clock_offset(self, seconds: float):
        self._offset = float(seconds)

    def set_token_lifetime(self, seconds: float):
        self.token_lifetime = float(seconds)   # applies to tokens issued from now on

    # -- POST /v3/auth/tokens ------------------------------------------------------------------

    def issue_token(self, body: bytes, nocatalog=False):
        """Keystone v3 password auth, project scope only. Returns (status, headers, body dict)."""
        try:
            req = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
            auth = req["auth"]
            identity = auth["identity"]
            methods = identity["methods"]
            if not isinstance(methods, list):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            return _keystone(400, "Expecting to find auth.identity.methods in a JSON request body.")
        if "password" not in methods:
            return _keystone(401, "Attempted to authenticate with an unsupported method.")
        try:
            user = identity["password"]["user"]
            password = user["password"]
            if not isinstance(password, str) or not ("id" in user or "name" in user):
                raise TypeError
            if not all(isinstance(user.get(k, ""), str) for k in ("id", "name")):
                raise TypeError
            if "id" not in user and not isinstance(user.get("domain"), dict):
                raise TypeError
        except (KeyError, TypeError):
            return _keystone(400, "Expecting to find password.user {name, password, domain} or {id, password}.")
        scope = auth.get("scope")
        if not isinstance(scope, dict) or "domain" in scope or not isinstance(scope.get("project"), dict) \
                or not ("id" in scope["project"] or "name" in scope["project"]):
            return _keystone(400, "The IMS emulator issues project-scoped tokens only: "
                                  "give auth.scope.project {id} or {name}.")

        record = self._find_user(user)
        given = password.encode("utf-8", "surrogatepass")   # JSON may carry lone surrogates
        if record is None or not hmac.compare_digest(record["password"].encode(), given):
            return _keystone(401, "The request you have made requires authentication.")
        project = self._find_project(scope["project"])
        if project is None or project["id"] not in record.get("projects", []):
            return _keystone(401, "The request you have made requires authentication.")

        ident = Identity(project["id"], record["id"], record["name"], self.domain["id"], "token",
                         project_name=project["name"])
        issued = self.now()
        expires = issued + self.token_lifetime
        token = "ims-emu-" + secrets.token_hex(20)
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > issued}  # drop expired
            self._tokens[token] = (ident, expires)
        dom = {"id": self.domain["id"], "name": self.domain["name"]}
        body = {"token": {
            "methods": ["password"],
            "expires_at": _iso(expires),
            "issued_at": _iso(issued),
            "user": {"id": record["id"], "name": record["name"], "domain": dom, "password_expires_at": ""},
            "project": {"id": project["id"], "name": project["name"], "domain": dom},
            "roles": [{"id": _stable_id("role", "te_admin"), "name": "te_admin"}],
        }}
        if not nocatalog:
            region = project["name"].split("_")[0]   # Huawei: project "cn-north-4_sub" is in cn-north-4
            urls = self.urls or {region: self.public_url}
            regions = [region] + sorted(r for r in urls if r != region)   # the project's first
            body["token"]["catalog"] = [{
                "type": "image", "name": "ims", "id": _stable_id("service", "ims"),
                "endpoints": [{"url": urls.get(r, self.public_url), "region": r, "region_id": r,
                               "interface": "public", "id": _stable_id("endpoint", r)}
                              for r in regions],
            }]
        return 201, {"Content-Type": "application/json", "X-Subject-Token": token,
                     "X-Request-Id": uuid.uuid4().hex}, body

    def _find_user(self, user):
        if "id" in user:
            record = self.users_by_id.get(user["id"])
        else:
            record = self.users.get(user["name"])
            dom = user["domain"]
            if dom.get("id", self.domain["id"]) != self.domain["id"] or \
                    dom.get("name", self.domain["name"]) != self.domain["name"]:
                return None
        if record is not None and "name" in user and user["name"] != record["name"]:
            return None
        return record

    def _find_project(self, want):
        dom = want.get("domain")
        if isinstance(dom, dict) and (dom.get("id", self.domain["id"]) != self.domain["id"] or
                                      dom.get("name", self.domain["name"]) != self.domain["name"]):
            return None
        for p in self.projects.values():
            if ("id" not in want or want["id"] == p["id"]) and ("name" not in want or want["name"] == p["name"]):
                return p
        return None

    # -- temporary access keys (IAM POST /v3.0/OS-CREDENTIAL/securitytokens) ------------------

    def issue_temporary(self, ident, duration):
        """A temporary AK/SK and security token for the token's user, valid `duration` seconds:
        the record {ak, sk, user, security_token, expires}."""
        now = self.now()
        record = {"ak": "".join(secrets.choice(_AK_ALPHABET) for _ in range(20)),
                  "sk": secrets.token_urlsafe(30)[:40], "user": ident.user_name,
                  "security_token": "ims-emu-sts-" + secrets.token_urlsafe(96),
                  "expires": now + duration}
        with self._lock:   # forget keys expired more than a day ago
            self._temporary = {k: v for k, v in self._temporary.items()
                               if v["expires"] > now - 86400}
            self._temporary[record["ak"]] = record
        return record

    def access_key(self, ak):
        """The fixture AK/SK pair or temporary key record named `ak`, or None. A temporary one
        has "expires" (epoch seconds); the caller checks it."""
        pair = self.aksk.get(ak)
        if pair is not None:
            return pair
        with self._lock:
            return self._temporary.get(ak)

    # -- every other request --------------------------------------------------------------------

    def authenticate(self, method, raw_path, raw_query, headers, body):
        """Identity for the request, or AuthError (401 APIGW.0301). body: the bytes, or None when
        not read (UNSIGNED-PAYLOAD, or no body)."""
        if isinstance(headers, dict):
            headers = _DictHeaders(headers)
        token = headers.get("X-Auth-Token")
        if token:
            return self._check_token(token.strip())
        authorization = headers.get("Authorization")
        if authorization:
            return self._check_aksk(method, raw_path, raw_query, headers, body, authorization)
        raise apigw_error("no credentials (neither X-Auth-Token nor an SDK-HMAC-SHA256 Authorization header)")

    def _check_token(self, token):
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None:
            raise apigw_error("the token is not valid (unknown token)")
        ident, expires = entry
        if self.now() >= expires:
            raise apigw_error("the token has expired (expired at %s); get a new one" % _iso(expires))
        return ident

    def _check_aksk(self, method, raw_path, raw_query, headers, body, authorization):
        m = _AUTH_RE.match(authorization.strip())
        if not m:
            raise apigw_error("malformed Authorization header (want 'SDK-HMAC-SHA256 Access=AK, "
                              "SignedHeaders=a;b, Signature=hex')")
        ak, signed, sig = m.group(1), m.group(2).split(";"), m.group(3).lower()
        pair = self.access_key(ak)
        if pair is None:
            raise apigw_error("access key %s does not exist" % ak)
        if pair.get("expires") is not None and self.now() >= pair["expires"]:
            raise apigw_error("the temporary access key %s expired at %s" % (ak, _iso(pair["expires"])))
        if "x-sdk-date" not in [h.lower() for h in signed] or "" in signed:
            raise apigw_error("SignedHeaders must list x-sdk-date (got %s)" % ";".join(signed))
        missing = [h for h in signed if headers.get(h) is None]
        if missing:
            raise apigw_error("signed header %s is not in the request" % missing[0])

        x_date = headers.get("X-Sdk-Date").strip()
        try:
            t = calendar.timegm(time.strptime(x_date, DATE_FORMAT))
        except ValueError:
            raise apigw_error("X-Sdk-Date %r is not YYYYMMDDTHHMMSSZ" % x_date) from None
        skew = t - self.now()
        if abs(skew) > MAX_SKEW:
            raise apigw_error("X-Sdk-Date %s is %d s away from the server clock (clock skew over %d minutes)"
                              % (x_date, abs(skew), MAX_SKEW // 60))

        for payload in self._payload_hashes(headers, body):
            creq = canonical_request(method, raw_path, raw_query, headers, signed, payload)
            if hmac.compare_digest(signature(pair["sk"], string_to_sign(creq, x_date)), sig):
                break
        else:
            # APIG echoes its canonical request with '|' for newlines; so does this, for debugging
            raise apigw_error("verify aksk signature fail, ak:%s, canonicalRequest:%s"
                              % (ak, creq.replace("\n", "|")))

        if pair.get("security_token"):
            given = headers.get("X-Security-Token")
            if given is None or not hmac.compare_digest(given.strip().encode("latin-1", "replace"),
                                                        pair["security_token"].encode("latin-1", "replace")):
                raise apigw_error("X-Security-Token is missing or does not match this temporary access key")
        user = self.users.get(pair["user"])
        if user is None:
            raise apigw_error("access key %s has no user" % ak)
        project_id = headers.get("X-Project-Id")
        project_id = project_id.strip() if project_id else None
        if project_id is None and self.require_project:
            raise apigw_error("X-Project-Id is required with AK/SK (the project the request acts in)")
        if project_id is not None:
            if project_id not in self.projects:
                raise apigw_error("X-Project-Id %s is not a project" % project_id)
            if project_id not in user.get("projects", []):
                raise apigw_error("X-Project-Id %s is not a project of user %s" % (project_id, user["name"]))
        return Identity(project_id, user["id"], user["name"], self.domain["id"], "aksk",
                        project_name=self.projects[project_id]["name"] if project_id else None,
                        access_key=ak)

    @staticmethod
    def _payload_hashes(headers, body):
        """Candidate payload hashes. Signers disagree only for an empty body sent with
        X-Sdk-Content-Sha256 (python: sha256(""); go-v3/APIG: the header value), so both pass."""
        declared = headers.get("X-Sdk-Content-Sha256")
        declared = declared.strip() if declared else None
        length = headers.get("Content-Length")
        try:
            length = int(length) if length is not None else None
        except ValueError:
            raise apigw_error("bad Content-Length") from None
        if body is None:
            empty = not length and headers.get("Transfer-Encoding") is None
        else:
            empty = len(body) == 0
        if empty:
            return [EMPTY_SHA256] + ([declared] if declared else [])
        if declared == UNSIGNED_PAYLOAD:
            return [UNSIGNED_PAYLOAD]
        if (length or 0) > MAX_SIGNED_BODY or (body is not None and len(body) > MAX_SIGNED_BODY):
            raise apigw_error("body too large: AK/SK requests with a hashed body are limited to 12 MiB "
                              "(use X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD or a token)")
        if body is None:
            raise apigw_error("the body is hashed in the signature but was not received")
        actual = hashlib.sha256(body).hexdigest()
        if declared and declared.lower() != actual:
            raise apigw_error("X-Sdk-Content-Sha256 does not match the body")
        return [actual]
