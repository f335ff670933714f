"""Tests for emulator/auth.py:  cd /work/main && /usr/bin/python3 -m unittest emulator.test_auth -v

Requests are replayed the way http.server hands them over: raw (still percent-encoded) path and
query, headers parsed by http.client.parse_headers from ISO-8859-1 wire bytes.
"""

import base64
import calendar
import io
import http.client
import json
import os
import re
import time
import unittest
import urllib.parse

from emulator import auth

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = json.load(open(os.path.join(HERE, "..", "spec", "fixtures", "signer-vectors.json"), encoding="utf-8"))

DOMAIN = {"id": "d" * 32, "name": "ims-demo"}
PA, PB, PV = "a" * 32, "b" * 32, "0123456789abcdef0123456789abcdef"
AK_A, SK_A = "ALICEAKEXAMPLE000001", "alice-secret-key-00000000000000000000001"
AK_B, SK_B = "BOBAKEXAMPLE00000001", "bob-secret-key-0000000000000000000000001"
AK_T, SK_T = "TEMPAKEXAMPLE0000001", "temp-secret-key-000000000000000000000001"

FIXTURES = {
    "domain": DOMAIN,
    "projects": [{"id": PA, "name": "cn-north-4"}, {"id": PB, "name": "cn-north-4_consumer"},
                 {"id": PV, "name": "ap-southeast-1"}],
    "users": [{"id": "1" * 32, "name": "alice", "password": "alice-pw", "projects": [PA]},
              {"id": "2" * 32, "name": "bob", "password": "bob-pw", "projects": [PB]},
              {"id": "3" * 32, "name": "vec", "password": "vec-pw", "projects": [PV]}],
    "aksk": [{"ak": AK_A, "sk": SK_A, "user": "alice", "security_token": None},
             {"ak": AK_B, "sk": SK_B, "user": "bob", "security_token": None},
             {"ak": AK_T, "sk": SK_T, "user": "alice", "security_token": "sts-token-xyz"}]
             # every signer vector's pair, owned by "vec" (whose project is the vectors' X-Project-Id)
             + [{"ak": v["ak"], "sk": v["sk"], "user": "vec", "security_token": None} for v in VECTORS],
    "token_lifetime": 86400,
}
NOW = calendar.timegm(time.strptime("20240315T120000Z", auth.DATE_FORMAT))
URL = "http://127.0.0.1:8774/v2/cloudimages?__imagetype=private&name=a%20b"


def epoch(x_sdk_date):
    return calendar.timegm(time.strptime(x_sdk_date, auth.DATE_FORMAT))


def wire_headers(headers):
    """headers dict -> the HTTPMessage http.server would give (values are wire-form str)."""
    raw = "".join("%s: %s\r\n" % kv for kv in headers.items()).encode("latin-1") + b"\r\n"
    return http.client.parse_headers(io.BytesIO(raw))


def vector_body(v):
    if v["body"] is None:
        return None
    return base64.b64decode(v["body"]) if v["body_encoding"] == "base64" else v["body"].encode("utf-8")


def vector_request(v):
    """(method, raw_path, raw_query, headers dict, body) as the emulator receives the vector."""
    parts = urllib.parse.urlsplit(v["sent_url"])
    headers = dict(v["headers"], **v["signer_added_headers"])
    headers["Authorization"] = v["authorization"]
    body = vector_body(v)
    if body:
        headers["Content-Length"] = str(len(body))   # not signed: the transport adds it
    return v["method"], parts.path, parts.query, headers, body


def policy(v):
    return "go" if v["name"].startswith("go_") else "python"


class Base(unittest.TestCase):
    def assertApigw(self, call, fragment=None):
        with self.assertRaises(auth.AuthError) as cm:
            call()
        e = cm.exception
        self.assertEqual(e.status, 401)
        self.assertEqual(e.body["error_code"], "APIGW.0301")
        self.assertTrue(e.body["error_msg"].startswith("Incorrect IAM authentication information: "))
        self.assertRegex(e.body["request_id"], r"^[0-9a-f]{32}$")
        if fragment:
            self.assertIn(fragment, e.body["error_msg"])
        return e


class VectorTests(Base):
    def replay(self, v, method=None, path=None, query=None, headers=None, body=None, clock=None):
        m, p, q, h, b = vector_request(v)
        a = auth.Authenticator(FIXTURES, clock=lambda: clock or epoch(v["x_sdk_date"]), require_project=False)
        return a.authenticate(method or m, path if path is not None else p, query if query is not None else q,
                              wire_headers(headers or h), body if body is not None else b)

    def test_every_vector_verifies(self):
        for v in VECTORS:
            with self.subTest(v["name"]):
                ident = self.replay(v)
                self.assertEqual((ident.method, ident.user_name, ident.access_key), ("aksk", "vec", v["ak"]))

    def test_unsigned_payload_verifies_without_reading_the_body(self):
        v = next(v for v in VECTORS if v["payload_hash"] == "UNSIGNED-PAYLOAD")
        m, p, q, h, _ = vector_request(v)
        a = auth.Authenticator(FIXTURES, clock=lambda: epoch(v["x_sdk_date"]), require_project=False)
        self.assertEqual(a.authenticate(m, p, q, wire_headers(h), None).method, "aksk")

    def test_canonical_request_and_string_to_sign_byte_for_byte(self):
        for v in VECTORS:
            with self.subTest(v["name"]):
                m, p, q, h, _ = vector_request(v)
                creq = auth.canonical_request(m, p, q, wire_headers(h), v["signed_headers"], v["payload_hash"])
                self.assertEqual(creq, v["canonical_request"])
                sts = auth.string_to_sign(creq, v["x_sdk_date"])
                self.assertEqual(sts, v["string_to_sign"])
                self.assertEqual(auth.signature(v["sk"], sts), v["signature"])

    def test_reference_signer_reproduces_every_vector(self):
        for v in VECTORS:
            with self.subTest(v["name"]):
                out = auth.sign(v["ak"], v["sk"], v["method"], v["url"], v["headers"], vector_body(v),
                                v["x_sdk_date"], policy=policy(v))
                self.assertEqual(out["Authorization"], v["authorization"])
                for k, val in v["signer_added_headers"].items():
                    self.assertEqual(out[k], val)
                self.assertEqual(urllib.parse.urlsplit(v["sent_url"]).query,
                                 auth.canonical_query(urllib.parse.urlsplit(v["url"]).query))

    def test_canonical_parts(self):
        self.assertEqual(auth.canonical_uri(""), "/")
        self.assertEqual(auth.canonical_uri("/v2/tags/a=b"), "/v2/tags/a%3Db/")
        self.assertEqual(auth.canonical_uri("/v2/tags/a%3db/"), "/v2/tags/a%3Db/")
        self.assertEqual(auth.canonical_uri("/x/%C3%A9%20+~"), "/x/%C3%A9%20%2B~/")
        # plain %XX decoding: '+' is a plus, not a space; bare key keeps "k="; repeated keys by value
        self.assertEqual(auth.canonical_query("b=2&a=x+y&c&a=%20&&Z=1"), "Z=1&a=%20&a=x%2By&b=2&c=")
        self.assertEqual(auth.canonical_query("n=%E2%82%AC&n=z"), "n=z&n=%E2%82%AC")
        self.assertEqual(auth.canonical_query(""), "")

    def test_tampering_is_refused(self):
        q = next(v for v in VECTORS if v["name"] == "ims_list_get_query_encoding_and_sorting")
        posted = next(v for v in VECTORS if v["method"] == "POST")
        m, p, qs, h, _ = vector_request(q)
        self.assertApigw(lambda: self.replay(q, query=qs.replace("limit=10", "limit=11")), "signature fail")
        self.assertApigw(lambda: self.replay(q, path=p + "x"), "signature fail")
        self.assertApigw(lambda: self.replay(q, method="DELETE"), "signature fail")
        self.assertApigw(lambda: self.replay(q, headers=dict(h, Host="evil.example.com")), "signature fail")
        bad = re.sub(r"[0-9a-f]$", lambda c: "0" if c.group() != "0" else "1", h["Authorization"])
        self.assertApigw(lambda: self.replay(q, headers=dict(h, Authorization=bad)), "signature fail")
        body = vector_body(posted)
        self.assertApigw(lambda: self.replay(posted, body=body[:-1] + b"!"), "signature fail")
        # an unsigned header may change freely (go vector: TEST_UNDERSCORE is not signed)
        go = next(v for v in VECTORS if policy(v) == "go")
        self.replay(go, headers=dict(vector_request(go)[3], TEST_UNDERSCORE="other"))

    def test_clock_skew(self):
        v = VECTORS[0]
        t = epoch(v["x_sdk_date"])
        self.replay(v, clock=t + 900)
        self.replay(v, clock=t - 900)
        self.assertApigw(lambda: self.replay(v, clock=t + 901), "clock skew")
        self.assertApigw(lambda: self.replay(v, clock=t - 901), "clock skew")
        a = auth.Authenticator(FIXTURES, clock=lambda: t, require_project=False)
        a.set_clock_offset(3600)
        m, p, q, h, b = vector_request(v)
        self.assertApigw(lambda: a.authenticate(m, p, q, wire_headers(h), b), "clock skew")


class AkskTests(Base):
    def setUp(self):
        self.a = auth.Authenticator(FIXTURES, clock=lambda: NOW)

    def call(self, ak=AK_A, sk=SK_A, method="GET", url=URL, headers=None, body=None, send_body=True,
             extra=None, drop=()):
        h = {"X-Project-Id": PA} if headers is None else headers
        out = auth.sign(ak, sk, method, url, h, body, "20240315T120000Z")
        out.update(extra or {})
        for k in drop:
            del out[k]
        if body:
            out["Content-Length"] = str(len(body))
        parts = urllib.parse.urlsplit(url)
        return self.a.authenticate(method, parts.path, parts.query, wire_headers(out),
                                   body if send_body else None)

    def test_ok(self):
        ident = self.call()
        self.assertEqual((ident.method, ident.user_name, ident.project_id, ident.domain_id),
                         ("aksk", "alice", PA, DOMAIN["id"]))
        self.assertEqual(ident.user_id, "1" * 32)

    def test_plain_dict_headers_work_too(self):
        out = auth.sign(AK_A, SK_A, "GET", URL, {"X-Project-Id": PA}, None, "20240315T120000Z")
        parts = urllib.parse.urlsplit(URL)
        lower = {k.lower(): v for k, v in out.items()}
        self.assertEqual(self.a.authenticate("GET", parts.path, parts.query, lower, None).user_name, "alice")

    def test_project_rules(self):
        self.assertApigw(lambda: self.call(headers={}), "X-Project-Id is required")
        self.assertApigw(lambda: self.call(headers={"X-Project-Id": PB}), "not a project of user alice")
        self.assertApigw(lambda: self.call(headers={"X-Project-Id": "f" * 32}), "is not a project")
        self.assertEqual(self.call(AK_B, SK_B, headers={"X-Project-Id": PB}).project_id, PB)

    def test_security_token(self):
        ok = self.call(AK_T, SK_T, headers={"X-Project-Id": PA, "X-Security-Token": "sts-token-xyz"})
        self.assertEqual(ok.user_name, "alice")
        self.assertApigw(lambda: self.call(AK_T, SK_T), "X-Security-Token")
        self.assertApigw(lambda: self.call(AK_T, SK_T, headers={"X-Project-Id": PA, "X-Security-Token": "no"}),
                         "X-Security-Token")

    def test_credentials_refused(self):
        self.assertApigw(lambda: self.a.authenticate("GET", "/v2/images", "", wire_headers({}), None),
                         "no credentials")
        self.assertApigw(lambda: self.call(ak="NOSUCHAKEXAMPLE00001"), "does not exist")
        self.assertApigw(lambda: self.call(sk="wrong"), "signature fail")
        for garbled in ("Bearer x", "SDK-HMAC-SHA256 Access=A, Signature=00",
                        "SDK-HMAC-SHA256 Credential=A/20240315/r/s/sdk_request, SignedHeaders=host, Signature="
                        + "0" * 64):
            self.assertApigw(lambda: self.call(extra={"Authorization": garbled}), "malformed Authorization")

    def test_x_sdk_date_must_be_signed_and_present(self):
        out = auth.sign(AK_A, SK_A, "GET", URL, {"X-Project-Id": PA}, None, "20240315T120000Z")
        out["Authorization"] = out["Authorization"].replace("x-project-id;x-sdk-date", "x-project-id")
        self.assertApigw(lambda: self.a.authenticate("GET", "/v2/cloudimages", "", wire_headers(out), None),
                         "must list x-sdk-date")
        self.assertApigw(lambda: self.call(drop=["Host"]), "signed header host is not in the request")
        self.assertApigw(lambda: self.call(headers={"X-Project-Id": PA, "X-Sdk-Date": "2024-03-15"}),
                         "not YYYYMMDDTHHMMSSZ")

    def test_body_limits(self):
        big = b"x" * (auth.MAX_SIGNED_BODY + 1)
        json_h = {"X-Project-Id": PA, "Content-Type": "application/json"}
        self.assertApigw(lambda: self.call(method="PUT", url="http://h/v2/x", headers=json_h, body=big),
                         "body too large")
        self.assertApigw(lambda: self.call(method="PUT", url="http://h/v2/x", headers=json_h, body=big,
                                           send_body=False), "body too large")
        # UNSIGNED-PAYLOAD: any size, the caller need not read the body
        bin_h = {"X-Project-Id": PA, "Content-Type": "application/octet-stream"}
        ident = self.call(method="PUT", url="http://h/v2/images/i/file", headers=bin_h, body=big, send_body=False)
        self.assertEqual(ident.project_id, PA)
        small = self.call(method="POST", url="http://h/v2/x", headers=json_h, body=b'{"a":1}')
        self.assertEqual(small.method, "aksk")

    def test_empty_body_with_declared_hash_accepts_both_signer_rules(self):
        # go-v3/APIG hash an empty body as the X-Sdk-Content-Sha256 value; python-v3 as sha256("")
        h = {"X-Project-Id": PA, "X-Sdk-Date": "20240315T120000Z", "Host": "h",
             "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}
        names = sorted(k.lower() for k in h)
        for payload in ("UNSIGNED-PAYLOAD", auth.EMPTY_SHA256):
            creq = auth.canonical_request("DELETE", "/v2/images/i", "", h, names, payload)
            sig = auth.signature(SK_A, auth.string_to_sign(creq, h["X-Sdk-Date"]))
            hh = dict(h, Authorization="SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%s"
                      % (AK_A, ";".join(names), sig))
            self.assertEqual(self.a.authenticate("DELETE", "/v2/images/i", "", wire_headers(hh), b"").method, "aksk")

    def test_non_ascii_header_and_query(self):
        url = "http://h/v2/cloudimages?name=%C3%A9t%C3%A9%20%E2%82%AC&tag=k%3Dv"
        ident = self.call(url=url, headers={"X-Project-Id": PA, "X-Image-Note": "  café ☕  "})
        self.assertEqual(ident.user_name, "alice")
        # RFC 3986 but unsorted and with lower-case hex: same pairs, same signature
        out = auth.sign(AK_A, SK_A, "GET", url, {"X-Project-Id": PA}, None, "20240315T120000Z")
        self.a.authenticate("GET", "/v2/cloudimages", "tag=k%3dv&name=%c3%a9t%c3%a9%20%e2%82%ac",
                            wire_headers(out), None)


class TokenTests(Base):
    def setUp(self):
        self.t = NOW
        self.a = auth.Authenticator(FIXTURES, clock=lambda: self.t)
        self.a.public_url = "http://127.0.0.1:8774"

    def issue(self, user=None, scope="default", password="alice-pw", raw=None, **kw):
        if raw is None:
            user = user or {"name": "alice", "domain": {"name": "ims-demo"}}
            user = dict(user, password=password)
            body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}}
            if scope == "default":
                scope = {"project": {"id": PA}}
            if scope is not None:
                body["auth"]["scope"] = scope
            raw = json.dumps(body).encode()
        return self.a.issue_token(raw, **kw)

    def assertKeystone(self, result, status):
        st, headers, body = result
        self.assertEqual(st, status)
        self.assertEqual(body["error"]["code"], status)
        self.assertEqual(body["error"]["title"], {400: "Bad Request", 401: "Unauthorized"}[status])
        if status == 401:
            self.assertEqual(body["error"]["message"], "The request you have made requires authentication.")

    def use(self, token):
        return self.a.authenticate("GET", "/v2/images", "", wire_headers({"X-Auth-Token": token}), None)

    def test_issue_and_use(self):
        st, headers, body = self.issue()
        self.assertEqual(st, 201)
        token = headers["X-Subject-Token"]
        self.assertRegex(token, r"^ims-emu-[0-9a-f]{40}$")
        t = body["token"]
        self.assertEqual(t["methods"], ["password"])
        self.assertEqual(t["issued_at"], "2024-03-15T12:00:00.000000Z")
        self.assertEqual(t["expires_at"], "2024-03-16T12:00:00.000000Z")
        self.assertEqual(t["user"]["name"], "alice")
        self.assertEqual(t["user"]["domain"], DOMAIN)
        self.assertEqual((t["project"]["id"], t["project"]["name"], t["project"]["domain"]), (PA, "cn-north-4", DOMAIN))
        self.assertTrue(t["roles"] and all({"id", "name"} <= set(r) for r in t["roles"]))
        [svc] = t["catalog"]
        self.assertEqual((svc["type"], svc["name"]), ("image", "ims"))
        [ep] = svc["endpoints"]
        self.assertEqual((ep["url"], ep["region"], ep["interface"]), ("http://127.0.0.1:8774", "cn-north-4", "public"))
        ident = self.use(token)
        self.assertEqual((ident.method, ident.user_name, ident.project_id, ident.domain_id),
                         ("token", "alice", PA, DOMAIN["id"]))
        self.assertNotIn("catalog", self.issue(nocatalog=True)[2]["token"])

    def test_expiry(self):
        token = self.issue()[1]["X-Subject-Token"]
        self.t = NOW + 86399
        self.use(token)
        self.t = NOW + 86400
        self.assertApigw(lambda: self.use(token), "expired")
        self.t = NOW
        self.a.set_token_lifetime(5)
        short = self.issue()[1]["X-Subject-Token"]
        self.a.set_clock_offset(6)
        self.assertApigw(lambda: self.use(short), "expired")
        self.assertApigw(lambda: self.use("ims-emu-" + "0" * 40), "not valid")

    def test_other_identifications(self):
        self.assertEqual(self.issue(user={"id": "1" * 32})[0], 201)
        self.assertEqual(self.issue(user={"name": "alice", "domain": {"id": DOMAIN["id"]}})[0], 201)
        by_name = self.issue(scope={"project": {"name": "cn-north-4", "domain": {"name": "ims-demo"}}})
        self.assertEqual(by_name[2]["token"]["project"]["id"], PA)
        bob = self.issue(user={"name": "bob", "domain": {"name": "ims-demo"}}, password="bob-pw",
                         scope={"project": {"name": "cn-north-4_consumer"}})
        self.assertEqual(bob[2]["token"]["catalog"][0]["endpoints"][0]["region"], "cn-north-4")

    def test_refusals(self):
        self.assertKeystone(self.issue(password="nope"), 401)
        self.assertKeystone(self.issue(user={"name": "mallory", "domain": {"name": "ims-demo"}}), 401)
        self.assertKeystone(self.issue(user={"name": "alice", "domain": {"name": "other"}}), 401)
        self.assertKeystone(self.issue(scope={"project": {"id": PB}}), 401)       # not alice's project
        self.assertKeystone(self.issue(scope={"project": {"id": "f" * 32}}), 401)
        self.assertKeystone(self.issue(raw=b"{not json"), 400)
        self.assertKeystone(self.issue(raw=b"[]"), 400)
        self.assertKeystone(self.issue(raw=b'{"auth": {"identity": {"methods": ["password"]}}}'), 400)
        self.assertKeystone(self.issue(user={"name": "alice"}), 400)              # no domain
        self.assertKeystone(self.issue(user={"name": ["alice"], "domain": {"name": "ims-demo"}}), 400)
        self.assertKeystone(self.issue(scope=None), 400)                          # unscoped
        self.assertKeystone(self.issue(scope={"domain": {"name": "ims-demo"}}), 400)
        self.assertIn("project-scoped", self.issue(scope=None)[2]["error"]["message"])


if __name__ == "__main__":
    unittest.main()
