"""Tests for the OBS verifiers (emulator/obsauth.py) against published vectors, and for the key
mapping and listing pages of the store:

    cd /work/main && /usr/bin/python3 -m unittest emulator.test_obs -v

Vectors: AWS's SigV4 examples for S3 (GET Object with Range, PUT Object, GET Bucket
lifecycle, GET Bucket list, the presigned GET) and AWS's Signature V2 examples, all with the
documentation's key pair AKIAIOSFODNN7EXAMPLE; the OBS API reference's StringToSign examples
(obs_04_0010); OBS-native signatures from a separate ten-line signer written here.
Requests are replayed as http.server hands them over: raw path and query, headers parsed by
http.client from ISO-8859-1 wire bytes.
"""

import base64
import calendar
import hashlib
import hmac
import http.client
import io
import json
import os
import tempfile
import time
import unittest

from emulator import obsauth, stackfiles
from emulator.fixtures import Fixtures
from emulator.obsbuckets import page
from emulator.obsstore import key_segments
from emulator.obsxml import ObsError, parse_complete

AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEMP = {"ak": "TEMPAK00000000000001", "sk": "temp-secret", "user": "alice",
        "security_token": "tok-123", "expires": None}


def wire(pairs):
    raw = "".join("%s: %s\r\n" % kv for kv in pairs).encode("latin-1") + b"\r\n"
    return http.client.parse_headers(io.BytesIO(raw))


class FakeAuth:
    def __init__(self, when):
        self.t = when
        self.keys = {AK: {"ak": AK, "sk": SK, "user": "doc", "security_token": None},
                     TEMP["ak"]: dict(TEMP)}

    def now(self):
        return self.t

    def access_key(self, ak):
        return self.keys.get(ak)


def at(iso_basic):
    return calendar.timegm(time.strptime(iso_basic, "%Y%m%dT%H%M%SZ"))


def rfc(s):
    return calendar.timegm(time.strptime(s, "%a, %d %b %Y %H:%M:%S +0000"))


EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
V4_HOST = ("Host", "examplebucket.s3.amazonaws.com")


def v4_auth(signed, sig):
    return ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
            "us-east-1/s3/aws4_request,SignedHeaders=%s,Signature=%s" % (signed, sig))


class SigV4Vectors(unittest.TestCase):
    """docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html examples."""

    def verify(self, method, path, query, pairs):
        return obsauth.verify(FakeAuth(at("20130524T000000Z")), method, path, query, wire(pairs))

    def test_get_object_canonical_request_and_string_to_sign(self):
        h = wire([V4_HOST, ("Range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY),
                  ("x-amz-date", "20130524T000000Z")])
        creq = obsauth.canonical_request_v4(
            "GET", "/test.txt", "", h, ["host", "range", "x-amz-content-sha256", "x-amz-date"],
            EMPTY)
        self.assertEqual(creq.decode(), "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
                         "range:bytes=0-9\nx-amz-content-sha256:%s\nx-amz-date:20130524T000000Z\n\n"
                         "host;range;x-amz-content-sha256;x-amz-date\n%s" % (EMPTY, EMPTY))
        sts = obsauth.string_to_sign_v4("20130524T000000Z",
                                        "20130524/us-east-1/s3/aws4_request", creq)
        self.assertEqual(sts.splitlines()[-1],
                         "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")

    def test_get_object(self):
        pairs = [V4_HOST, ("Range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY),
                 ("x-amz-date", "20130524T000000Z"),
                 v4_auth("host;range;x-amz-content-sha256;x-amz-date",
                         "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")]
        caller = self.verify("GET", "/test.txt", "", pairs)
        self.assertEqual((caller.ak, caller.scheme, caller.version), (AK, "AWS", "v4"))
        self.assertEqual(caller.payload_sha256, EMPTY)

    def test_get_object_wrong_signature(self):
        pairs = [V4_HOST, ("Range", "bytes=0-8"), ("x-amz-content-sha256", EMPTY),
                 ("x-amz-date", "20130524T000000Z"),
                 v4_auth("host;range;x-amz-content-sha256;x-amz-date",
                         "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")]
        with self.assertRaises(ObsError) as e:
            self.verify("GET", "/test.txt", "", pairs)
        self.assertEqual((e.exception.status, e.exception.code), (403, "SignatureDoesNotMatch"))
        self.assertIn("range:bytes=0-8", e.exception.extra["CanonicalRequest"])
        self.assertTrue(e.exception.extra["StringToSign"].startswith("AWS4-HMAC-SHA256\n"))

    def test_put_object(self):
        body = b"Welcome to Amazon S3."
        sha = hashlib.sha256(body).hexdigest()
        self.assertEqual(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        pairs = [V4_HOST, ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                 ("x-amz-date", "20130524T000000Z"),
                 ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("x-amz-content-sha256", sha),
                 v4_auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                         "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")]
        # the key "test$file.text": sent raw ('$'), canonical "/test%24file.text"
        self.assertEqual(self.verify("PUT", "/test$file.text", "", pairs).payload_sha256, sha)
        self.assertEqual(obsauth.canonical_uri_v4("/test%24file.text"), "/test%24file.text")

    def test_get_bucket_lifecycle(self):
        pairs = [V4_HOST, ("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", EMPTY),
                 v4_auth("host;x-amz-content-sha256;x-amz-date",
                         "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")]
        self.verify("GET", "/", "lifecycle", pairs)

    def test_list_objects(self):
        pairs = [V4_HOST, ("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", EMPTY),
                 v4_auth("host;x-amz-content-sha256;x-amz-date",
                         "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")]
        self.verify("GET", "/", "max-keys=2&prefix=J", pairs)

    def test_presigned_get(self):
        query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"
                 "20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&"
                 "X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
                 "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        caller = self.verify("GET", "/test.txt", query, [V4_HOST])
        self.assertEqual((caller.version, caller.payload_sha256), ("v4", None))
        late = FakeAuth(at("20130524T000000Z") + 86401)
        with self.assertRaises(ObsError) as e:
            obsauth.verify(late, "GET", "/test.txt", query, wire([V4_HOST]))
        self.assertEqual(e.exception.code, "AccessDenied")

    def test_any_region_and_skew(self):
        pairs = [("Host", "127.0.0.1:9000"), ("x-amz-date", "20130524T000000Z"),
                 ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]
        pairs.append(("Authorization", obsauth.sign_v4(AK, SK, "GET", "/b/k", "", wire(pairs),
                                                       region="cn-north-4")))
        self.assertIsNone(self.verify("GET", "/b/k", "", pairs).payload_sha256)
        with self.assertRaises(ObsError) as e:
            obsauth.verify(FakeAuth(at("20130524T000000Z") + 901), "GET", "/b/k", "", wire(pairs))
        self.assertEqual((e.exception.status, e.exception.code), (403, "RequestTimeTooSkewed"))


class V2Vectors(unittest.TestCase):
    """docs.aws.amazon.com/AmazonS3/latest/API/RESTAuthentication.html examples (path-style:
    the bucket is the path's first segment)."""

    def check(self, method, path, query, pairs, sig, when):
        pairs = pairs + [("Authorization", "AWS %s:%s" % (AK, sig))]
        caller = obsauth.verify(FakeAuth(rfc(when)), method, path, query, wire(pairs))
        self.assertEqual((caller.scheme, caller.version), ("AWS", "v2"))

    def test_object_get(self):
        d = "Tue, 27 Mar 2007 19:36:42 +0000"
        self.check("GET", "/awsexamplebucket1/photos/puppy.jpg", "", [("Date", d)],
                   "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=", d)
        self.check("GET", "/johnsmith/photos/puppy.jpg", "", [("Date", d)],
                   "bWq2s1WEIj+Ydj0vQ697zp+IXMU=", d)

    def test_object_put(self):
        d = "Tue, 27 Mar 2007 21:15:45 +0000"
        self.check("PUT", "/johnsmith/photos/puppy.jpg", "",
                   [("Content-Type", "image/jpeg"), ("Content-Length", "94328"), ("Date", d)],
                   "MyyxeRY7whkBe+bq8fHCL/2kKUg=", d)

    def test_list_and_acl_subresource(self):
        d = "Tue, 27 Mar 2007 19:42:41 +0000"
        self.check("GET", "/johnsmith/", "prefix=photos&max-keys=50&marker=puppy",
                   [("User-Agent", "Mozilla/5.0"), ("Date", d)], "htDYFYduRNen8P9ZfE/s9SuKy0U=", d)
        d = "Tue, 27 Mar 2007 19:44:46 +0000"
        self.check("GET", "/johnsmith/", "acl", [("Date", d)], "c2WLPFtWHVgbEmeEG93a4cG37dM=", d)

    def test_upload_with_amz_headers(self):
        d = "Tue, 27 Mar 2007 21:06:08 +0000"
        self.check("PUT", "/static.johnsmith.net/db-backup.dat.gz", "", [
            ("User-Agent", "curl/7.15.5"), ("Date", d), ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"), ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"),
            ("X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"),
            ("X-Amz-Meta-FileChecksum", "0x02661779"), ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
            ("Content-Disposition", "attachment; filename=database.dat"),
            ("Content-Encoding", "gzip"), ("Content-Length", "5913339")],
            "ilyl83RwaSoYIEdixDQcA4OnAnc=", d)


def independent_obs_signature(sk, method, md5, ctype, date, obs_headers, resource):
    """A separate OBS-native signer, straight from the API reference's formula."""
    canon = "".join("%s:%s\n" % (k, v) for k, v in sorted(obs_headers.items()))
    sts = "%s\n%s\n%s\n%s\n%s%s" % (method, md5, ctype, date, canon, resource)
    return base64.b64encode(hmac.new(sk.encode(), sts.encode(), hashlib.sha1).digest()).decode()


class ObsNative(unittest.TestCase):
    def test_documented_string_to_sign(self):
        # obs_04_0010, StringToSign examples: GET with a Date; headers are merged ("name1,name2")
        # and trimmed; x-obs-date empties Date; sub-resources follow the resource sorted
        h = wire([("Host", "bucket.obs.cn-north-4.myhuaweicloud.com"),
                  ("Date", "Sat, 12 Oct 2015 08:12:38 GMT")])
        self.assertEqual(obsauth.string_to_sign_v2("GET", "/bucket/object.txt", "", h),
                         b"GET\n\n\nSat, 12 Oct 2015 08:12:38 GMT\n/bucket/object.txt")
        h = wire([("Date", "Sat, 12 Oct 2015 08:12:38 GMT"), ("x-obs-date", "Sat, 12 Oct 2015 "
                  "08:12:38 GMT"), ("x-obs-meta-name", " name1"), ("X-Obs-Meta-Name", "name2"),
                  ("Content-Type", "text/plain"), ("Content-MD5", "I5pU0r4+sgO9Emgl1KMQUg==")])
        self.assertEqual(obsauth.string_to_sign_v2("PUT", "/bucket/object.txt",
                                                   "uploadId=a%2Bb&partNumber=3&foo=1", h),
                         b"PUT\nI5pU0r4+sgO9Emgl1KMQUg==\ntext/plain\n\n"
                         b"x-obs-date:Sat, 12 Oct 2015 08:12:38 GMT\nx-obs-meta-name:name1,name2\n"
                         b"/bucket/object.txt?partNumber=3&uploadId=a+b")
        self.assertEqual(obsauth.canonical_resource("/b", "uploads&location="),
                         b"/b?location=&uploads")
        self.assertEqual(obsauth.canonical_resource("/b/a%20b", "acl"), b"/b/a%20b?acl")

    def test_signature_matches_an_independent_signer(self):
        date = "Tue, 27 Mar 2007 21:06:08 +0000"
        sig = independent_obs_signature(SK, "PUT", "4gJE4saaMU4BqNR0kLY+lw==",
                                        "application/x-download", date,
                                        {"x-obs-acl": "public-read", "x-obs-meta-a": "1,2"},
                                        "/bucket/db%20backup.gz?partNumber=2&uploadId=u1")
        pairs = [("Date", date), ("x-obs-acl", "public-read"),
                 ("Content-Type", "application/x-download"),
                 ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="), ("X-Obs-Meta-A", "1"),
                 ("x-obs-meta-a", "2"), ("Authorization", "OBS %s:%s" % (AK, sig))]
        caller = obsauth.verify(FakeAuth(rfc(date)), "PUT", "/bucket/db%20backup.gz",
                                "partNumber=2&uploadId=u1", wire(pairs))
        self.assertEqual((caller.scheme, caller.version, caller.user), ("OBS", "obs", "doc"))
        self.assertEqual(obsauth.sign_v2(AK, SK, "PUT", "/bucket/db%20backup.gz",
                                         "partNumber=2&uploadId=u1", wire(pairs[:-1])),
                         "OBS %s:%s" % (AK, sig))

    def test_refusals(self):
        date = "Tue, 27 Mar 2007 21:06:08 +0000"
        auth = FakeAuth(rfc(date))

        def code(pairs, a=auth):
            with self.assertRaises(ObsError) as e:
                obsauth.verify(a, "GET", "/b/k", "", wire(pairs))
            return e.exception.status, e.exception.code

        good = independent_obs_signature(SK, "GET", "", "", date, {}, "/b/k")
        self.assertEqual(code([("Date", date)]), (403, "AccessDenied"))
        self.assertEqual(code([("Date", date), ("Authorization", "OBS NOPE:%s" % good)]),
                         (403, "InvalidAccessKeyId"))
        bad = independent_obs_signature("wrong", "GET", "", "", date, {}, "/b/k")
        self.assertEqual(code([("Date", date), ("Authorization", "OBS %s:%s" % (AK, bad))]),
                         (403, "SignatureDoesNotMatch"))
        late = FakeAuth(rfc(date) + 16 * 60)
        self.assertEqual(code([("Date", date), ("Authorization", "OBS %s:%s" % (AK, good))], late),
                         (403, "RequestTimeTooSkewed"))
        # a temporary key: its token is required, must match, and expires
        t = TEMP["ak"]

        def temp(token):
            hs = {"x-obs-security-token": token} if token else {}
            sig = independent_obs_signature("temp-secret", "GET", "", "", date, hs, "/b/k")
            return [("Date", date), ("Authorization", "OBS %s:%s" % (t, sig))] + \
                list(hs.items())
        self.assertEqual(obsauth.verify(auth, "GET", "/b/k", "", wire(temp("tok-123"))).user,
                         "alice")
        self.assertEqual(code(temp(None)), (403, "InvalidAccessKeyId"))
        self.assertEqual(code(temp("tok-999")), (400, "InvalidToken"))
        auth.keys[t]["expires"] = rfc(date) - 1
        self.assertEqual(code(temp("tok-123")), (403, "ExpiredToken"))


class Store(unittest.TestCase):
    def test_keys_that_cannot_map(self):
        for key in ("", "a//b", "a/", "/a", "./a", "a/../b", "..", "a\0b", ".obs/x", "x" * 1025,
                    "a/" + "y" * 256):
            with self.assertRaises(ObsError, msg=repr(key)):
                key_segments(key)
        self.assertEqual(key_segments("a b/c+d/.obs"), ["a b", "c+d", ".obs"])

    def test_pages_with_delimiter_and_markers(self):
        keys = ["a", "d/1", "d/2", "e/x/1", "f"]
        self.assertEqual(page(keys, "", "/", "", 2), ([("key", "a"), ("prefix", "d/")], True))
        self.assertEqual(page(keys, "", "/", "d/", 2),
                         ([("prefix", "e/"), ("key", "f")], False))
        self.assertEqual(page(keys, "d/", "", "d/1", 10), ([("key", "d/2"), ("key", "e/x/1"),
                                                           ("key", "f")], False))
        self.assertEqual(page(keys, "", "", "", 0), ([], False))

    def test_complete_body(self):
        body = (b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                b'<Part><ETag>"AbC"</ETag><PartNumber>1</PartNumber></Part>'
                b'<Part><PartNumber>2</PartNumber><ETag>def</ETag></Part></CompleteMultipartUpload>')
        self.assertEqual(parse_complete(body), [(1, "abc"), (2, "def")])
        for bad in (b"", b"<x/>", b"<CompleteMultipartUpload><Part/></CompleteMultipartUpload>",
                    b"<CompleteMultipartUpload>"):
            with self.assertRaises(ObsError) as e:
                parse_complete(bad)
            self.assertEqual(e.exception.code, "MalformedXML")


class OldFixtures(unittest.TestCase):
    """A fixtures.json written before buckets had a region and a storage class."""

    OLD = {"domain": {"id": "d" * 32, "name": "ims-demo"},
           "regions": [{"name": "cn-north-4"}, {"name": "cn-south-1"}],
           "projects": [{"id": "a" * 32, "name": "cn-north-4"}], "users": [], "aksk": [],
           "buckets": [{"name": "ims-demo-bucket", "dir": "buckets/ims-demo-bucket"}]}

    def test_loads_with_defaults_and_gains_the_new_buckets(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "fixtures.json")
            with open(path, "w") as f:
                json.dump(self.OLD, f)
            b = Fixtures(path).buckets["ims-demo-bucket"]
            self.assertEqual((b.region, b.storage_class), ("cn-north-4", "STANDARD"))
            self.assertEqual(b.dir, os.path.join(d, "buckets", "ims-demo-bucket"))
            stackfiles.make_fixtures(d)          # scripts/stack up on an old DIR
            buckets = Fixtures(path).buckets
            self.assertEqual(sorted(buckets), ["ims-cold-bucket", "ims-demo-bucket",
                                               "ims-south-bucket"])
            self.assertEqual(buckets["ims-cold-bucket"].storage_class, "COLD")
            self.assertEqual(buckets["ims-south-bucket"].region, "cn-south-1")
            self.assertTrue(os.path.isdir(buckets["ims-south-bucket"].dir))
            with open(path) as f:
                self.assertEqual(json.load(f)["buckets"][0], self.OLD["buckets"][0])


if __name__ == "__main__":
    unittest.main()
