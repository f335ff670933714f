/* SDK-HMAC-SHA256 signing: canonical request -> string to sign -> HMAC-SHA256 with the SK.
 * The canonicalisation follows the python-v3 reference signer byte for byte (the vectors in
 * spec/fixtures/signer-vectors.json). Nothing here calls Lua except ims_l_sign at the end. */

/***
AK/SK signing: `sign`.
@module ims.core
*/

#include "sign.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static int unreserved(unsigned char c) {
  return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

int ims_uri_escape(ims_buf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};
    if (unreserved(c) ? ims_buf_add(out, s + i, 1) : ims_buf_add(out, e, 3)) return -1;
  }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Plain %XX decoding ('+' stays '+'; a malformed escape stays as it is). */
int ims_uri_unescape(ims_buf *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      char c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      if (ims_buf_add(out, &c, 1)) return -1;
      i += 2;
    } else if (ims_buf_add(out, s + i, 1)) {
      return -1;
    }
  }
  return 0;
}

int ims_canon_uri(ims_buf *out, const char *path, size_t n) {
  ims_buf dec = {0};
  int rc = ims_uri_unescape(&dec, path, n);
  size_t start = 0;
  for (size_t i = 0; rc == 0 && i <= dec.len; i++) {
    if (i == dec.len || dec.p[i] == '/') {
      /* keep the slashes, encode the text between them */
      if (i > start) rc = ims_uri_escape(out, dec.p + start, i - start);
      if (rc == 0 && i < dec.len) rc = ims_buf_add(out, "/", 1);
      start = i + 1;
    }
  }
  if (rc == 0 && (out->len == 0 || out->p[out->len - 1] != '/')) rc = ims_buf_add(out, "/", 1);
  ims_buf_free(&dec);
  return rc;
}

typedef struct pair {
  ims_buf k, v;
} pair;

static int pair_cmp(const void *a, const void *b) {
  const pair *x = a, *y = b;
  size_t n = x->k.len < y->k.len ? x->k.len : y->k.len;
  int c = memcmp(x->k.p ? x->k.p : "", y->k.p ? y->k.p : "", n);
  if (c || x->k.len != y->k.len) return c ? c : (x->k.len < y->k.len ? -1 : 1);
  n = x->v.len < y->v.len ? x->v.len : y->v.len;
  c = memcmp(x->v.p ? x->v.p : "", y->v.p ? y->v.p : "", n);
  return c ? c : (x->v.len < y->v.len ? -1 : x->v.len > y->v.len);
}

int ims_canon_query(ims_buf *out, const char *q, size_t n) {
  size_t count = 0, i, start;
  if (n == 0) return 0;
  for (i = 0; i < n; i++) count += q[i] == '&';
  pair *pairs = calloc(count + 1, sizeof *pairs);
  if (!pairs) return -1;
  int rc = 0;
  size_t np = 0;
  for (i = 0, start = 0; rc == 0 && i <= n; i++) {
    if (i < n && q[i] != '&') continue;
    if (i > start) { /* "a=1&&b" has an empty piece: skip it */
      const char *eq = memchr(q + start, '=', i - start);
      size_t kl = eq ? (size_t)(eq - (q + start)) : i - start;
      rc = ims_uri_unescape(&pairs[np].k, q + start, kl);
      if (rc == 0 && eq) rc = ims_uri_unescape(&pairs[np].v, eq + 1, (size_t)(q + i - eq - 1));
      np++;
    }
    start = i + 1;
  }
  if (rc == 0) qsort(pairs, np, sizeof *pairs, pair_cmp);
  for (i = 0; rc == 0 && i < np; i++) {
    if (i) rc = ims_buf_add(out, "&", 1);
    if (rc == 0) rc = ims_uri_escape(out, pairs[i].k.p, pairs[i].k.len);
    if (rc == 0) rc = ims_buf_add(out, "=", 1);
    if (rc == 0) rc = ims_uri_escape(out, pairs[i].v.p, pairs[i].v.len);
  }
  for (i = 0; i < count + 1; i++) {
    ims_buf_free(&pairs[i].k);
    ims_buf_free(&pairs[i].v);
  }
  free(pairs);
  return rc;
}

int ims_split_url(const char *url, const char **netloc, size_t *netloc_len, const char **path,
                  size_t *path_len, const char **query, size_t *query_len) {
  const char *p;
  if (strncasecmp(url, "http://", 7) == 0) p = url + 7;
  else if (strncasecmp(url, "https://", 8) == 0) p = url + 8;
  else return -1;
  size_t nl = strcspn(p, "/?#");
  if (nl == 0) return -1;
  *netloc = p;
  *netloc_len = nl;
  p += nl;
  size_t pl = strcspn(p, "?#");
  *path = p;
  *path_len = pl;
  p += pl;
  *query = "";
  *query_len = 0;
  if (*p == '?') {
    *query = p + 1;
    *query_len = strcspn(p + 1, "#");
  }
  return 0;
}

static void to_hex(const unsigned char *md, size_t n, char *hex) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    hex[2 * i] = d[md[i] >> 4];
    hex[2 * i + 1] = d[md[i] & 15];
  }
  hex[2 * n] = '\0';
}

static const ims_hdr *find_hdr(const ims_hdr *h, int n, const char *name, size_t len) {
  for (int i = 0; i < n; i++)
    if (strlen(h[i].name) == len && strncasecmp(h[i].name, name, len) == 0) return &h[i];
  return NULL;
}

static int add_trimmed(ims_buf *out, const char *v) {
  size_t n = strlen(v);
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  return ims_buf_add(out, v, n);
}

int ims_sign(const char *ak, const char *sk, size_t sk_len, const char *method, const char *url,
             const ims_hdr *hdrs, int nhdrs, const char *signed_names, const char *payload_hash,
             ims_buf *canon, ims_buf *sts, ims_buf *auth, char *err, size_t errlen) {
  const char *netloc, *path, *query;
  size_t netloc_len, path_len, query_len;
  if (ims_split_url(url, &netloc, &netloc_len, &path, &path_len, &query, &query_len)) {
    snprintf(err, errlen, "not an http(s) URL");
    return -1;
  }
  const ims_hdr *date = find_hdr(hdrs, nhdrs, "x-sdk-date", 10);
  if (!date) {
    snprintf(err, errlen, "X-Sdk-Date header missing");
    return -1;
  }
  int rc = ims_buf_add(canon, method, strlen(method)) || ims_buf_add(canon, "\n", 1) ||
           ims_canon_uri(canon, path, path_len) || ims_buf_add(canon, "\n", 1) ||
           ims_canon_query(canon, query, query_len) || ims_buf_add(canon, "\n", 1);
  for (const char *s = signed_names; rc == 0 && *s;) {
    size_t len = strcspn(s, ";");
    const ims_hdr *h = find_hdr(hdrs, nhdrs, s, len);
    if (!h) {
      snprintf(err, errlen, "signed header '%.*s' is not among the headers", (int)len, s);
      return -1;
    }
    for (size_t i = 0; rc == 0 && i < len; i++) {
      char c = (char)tolower((unsigned char)s[i]);
      rc = ims_buf_add(canon, &c, 1);
    }
    rc = rc || ims_buf_add(canon, ":", 1) || add_trimmed(canon, h->value) ||
         ims_buf_add(canon, "\n", 1);
    s += len;
    if (*s == ';') s++;
  }
  rc = rc || ims_buf_add(canon, "\n", 1) || ims_buf_add(canon, signed_names, strlen(signed_names)) ||
       ims_buf_add(canon, "\n", 1) || ims_buf_add(canon, payload_hash, strlen(payload_hash));
  if (rc) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  SHA256((const unsigned char *)canon->p, canon->len, md);
  to_hex(md, SHA256_DIGEST_LENGTH, hex);
  rc = ims_buf_add(sts, "SDK-HMAC-SHA256\n", 16) || add_trimmed(sts, date->value) ||
       ims_buf_add(sts, "\n", 1) || ims_buf_add(sts, hex, 64);
  if (rc || !HMAC(EVP_sha256(), sk, (int)sk_len, (const unsigned char *)sts->p, sts->len, md,
                  &mdlen)) {
    snprintf(err, errlen, "HMAC failed");
    return -1;
  }
  to_hex(md, mdlen, hex);
  rc = ims_buf_add(auth, "SDK-HMAC-SHA256 Access=", 23) || ims_buf_add(auth, ak, strlen(ak)) ||
       ims_buf_add(auth, ", SignedHeaders=", 16) ||
       ims_buf_add(auth, signed_names, strlen(signed_names)) ||
       ims_buf_add(auth, ", Signature=", 12) || ims_buf_add(auth, hex, 2 * mdlen);
  if (rc) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

/* ---- the signer every signed request goes through ---------------------------------------- */

#define SCRATCH_MT "ims.SignScratch"
#define MAX_SIGNED 128

/* Scratch buffers owned by a userdata, so a raise (an allocation failure while pushing the
 * results) cannot leak them: __gc frees what is left. */
static int scratch_gc(lua_State *L) {
  ims_buf *b = luaL_checkudata(L, 1, SCRATCH_MT);
  for (int i = 0; i < 3; i++) ims_buf_free(&b[i]);
  return 0;
}

ims_buf *ims_sign_scratch(lua_State *L) {
  ims_buf *b = lua_newuserdatauv(L, 3 * sizeof *b, 0);
  memset(b, 0, 3 * sizeof *b);
  if (luaL_newmetatable(L, SCRATCH_MT)) {
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int json_type(const char *ct) {
  return strncasecmp(ct, "application/json", 16) == 0 || strncasecmp(ct, "application/bson", 16) == 0;
}

/* Adds the lower-case names to sign to the list table at `names` (override, or the default:
 * every header of the set whose name has no '_'; removals are not sent, so not signed). */
static void signed_names(lua_State *L, int set, int names, int override, const char *fn) {
  if (override && lua_type(L, override) == LUA_TSTRING) {
    const char *s = lua_tostring(L, override);
    while (*s) {
      size_t len = strcspn(s, ";");
      lua_pushlstring(L, s, len);
      lua_rawseti(L, names, (lua_Integer)lua_rawlen(L, names) + 1);
      s += len + (s[len] == ';');
    }
  } else if (override && lua_type(L, override) == LUA_TTABLE) {
    lua_Integer cnt = luaL_len(L, override);
    for (lua_Integer i = 1; i <= cnt; i++) {
      if (lua_geti(L, override, i) != LUA_TSTRING) luaL_error(L, "%s: field 'signed_headers' must list names", fn);
      lua_rawseti(L, names, (lua_Integer)lua_rawlen(L, names) + 1);
    }
  } else if (override) {
    luaL_error(L, "%s: field 'signed_headers' must be a string or a list (got %s)", fn,
               luaL_typename(L, override));
  } else {
    lua_pushnil(L);
    while (lua_next(L, set)) {
      const char *line = lua_tostring(L, -1);
      size_t kl = strcspn(line, ":;");
      int removal = line[kl] == ':' && line[kl + 1] == '\0';
      lua_pop(L, 1);
      if (!removal && !strchr(lua_tostring(L, -1), '_')) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, names, (lua_Integer)lua_rawlen(L, names) + 1);
      }
    }
  }
}

void ims_sign_set(lua_State *L, int set, const ims_sign_in *in, ims_buf *bufs, const char *fn) {
  set = lua_absindex(L, set);
  int top = lua_gettop(L);
  const char *netloc, *path, *query;
  size_t netloc_len, path_len, query_len;
  if (ims_split_url(in->url, &netloc, &netloc_len, &path, &path_len, &query, &query_len))
    luaL_error(L, "%s: signing needs an absolute http(s) URL", fn);
  lua_pushlstring(L, netloc, netloc_len);
  ims_headers_put(L, set, "Host", lua_tostring(L, -1), 0);
  lua_pop(L, 1);
  char now[17];
  const char *date = in->date;
  if (!date && !ims_headers_value(L, set, "x-sdk-date")) {
    time_t tt = time(NULL);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(now, sizeof now, "%Y%m%dT%H%M%SZ", &tm);
    date = now;
  }
  if (date) ims_headers_put(L, set, "X-Sdk-Date", date, 1); /* a retried request re-signs */
  /* a streamed or non-JSON body (an image file) is not hashed: python-v3's UNSIGNED-PAYLOAD */
  const char *ct = ims_headers_value(L, set, "content-type");
  if (in->streamed || (in->body_len > 0 && ct && !json_type(ct)))
    ims_headers_put(L, set, "X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD", 0);

  lua_newtable(L); /* names to sign, lower case */
  int names = lua_gettop(L);
  signed_names(L, set, names, in->signed_idx, fn);
  lua_Integer total = (lua_Integer)lua_rawlen(L, names);
  if (total > MAX_SIGNED) luaL_error(L, "%s: too many headers to sign", fn);
  const char *list[MAX_SIGNED];
  for (lua_Integer i = 1; i <= total; i++) {
    lua_rawgeti(L, names, i);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    luaL_Buffer lb;
    char *p = luaL_buffinitsize(L, &lb, n);
    for (size_t k = 0; k < n; k++) p[k] = (char)tolower((unsigned char)s[k]);
    luaL_pushresultsize(&lb, n);
    lua_rawseti(L, names, i);
    lua_pop(L, 1);
    lua_rawgeti(L, names, i);
    list[i - 1] = lua_tostring(L, -1); /* the table keeps it alive */
    lua_pop(L, 1);
  }
  qsort(list, (size_t)total, sizeof list[0], cmp_str);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 0; i < total; i++) {
    if (i && strcmp(list[i], list[i - 1]) == 0) continue;
    if (i) luaL_addchar(&b, ';');
    luaL_addstring(&b, list[i]);
  }
  luaL_pushresult(&b);
  int joined = lua_gettop(L);

  char hash[65];
  const char *given = ims_headers_value(L, set, "x-sdk-content-sha256");
  if (given && (in->body_len > 0 || in->streamed)) {
    lua_pushstring(L, given);
  } else {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(in->body ? in->body : ""), in->body_len, md);
    to_hex(md, sizeof md, hash);
    lua_pushstring(L, hash);
  }
  int payload = lua_gettop(L);

  /* the header array: strings anchored in the set */
  ims_hdr hdrs[MAX_SIGNED];
  int nh = 0;
  lua_pushnil(L);
  while (lua_next(L, set)) {
    const char *line = lua_tostring(L, -1);
    size_t kl = strcspn(line, ":;");
    lua_pop(L, 1);
    if (line[kl] == ':' && line[kl + 1] == '\0') continue;
    if (nh == MAX_SIGNED) luaL_error(L, "%s: too many headers to sign", fn);
    hdrs[nh].name = lua_tostring(L, -1);
    hdrs[nh].value = line[kl] == ':' ? line + kl + 2 : "";
    nh++;
  }
  char err[160];
  for (int i = 0; i < 3; i++) bufs[i].len = 0;
  if (ims_sign(in->ak, in->sk, in->sk_len, in->method, in->url, hdrs, nh, lua_tostring(L, joined),
               lua_tostring(L, payload), &bufs[0], &bufs[1], &bufs[2], err, sizeof err))
    luaL_error(L, "%s: %s", fn, err);
  lua_pushlstring(L, bufs[2].p, bufs[2].len);
  ims_headers_put(L, set, "Authorization", lua_tostring(L, -1), 1);
  lua_pushvalue(L, joined); /* leaves the signed names on the stack, for ims.sign */
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}

/* ---- core.sign(req) ---------------------------------------------------------------------- */

#define SIGN_FN "ims.sign"

static const char *const SIGN_KEYS[] = {"ak", "sk", "method", "url", "headers", "body", "date",
                                        "signed_headers", "scheme", "security_token", NULL};

static const char *req_string(lua_State *L, const char *k, int required, size_t *len) {
  int t = lua_getfield(L, 1, k);
  if (t == LUA_TNIL && !required) {
    lua_pop(L, 1);
    return NULL;
  }
  if (t == LUA_TNIL) luaL_error(L, SIGN_FN ": missing required field '%s'", k);
  if (t != LUA_TSTRING)
    luaL_error(L, SIGN_FN ": field '%s' must be a string (got %s)", k, luaL_typename(L, -1));
  const char *s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* still referenced by the request table */
  return s;
}

/***
Signs a request with AK/SK (`SDK-HMAC-SHA256`, Huawei API Gateway signing); this is `ims.sign`,
and the same signer every signed request of a session goes through. Every header in `headers`
whose name has no `_` is signed, plus `Host` (added from the URL when absent) and `X-Sdk-Date`
(the current UTC time when absent); a non-empty body whose `Content-Type` is set and not JSON
gets `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (signed) instead of a body hash.
@function sign
@tparam table req the request: `ak`, `sk`, `method`, `url` (required), `headers` (table; one
name given twice in different case raises), `body` (string), `date` (`"YYYYMMDDTHHMMSSZ"`),
`signed_headers` (`"a;b"` or `{"a", "b"}`: replaces the list of signed headers), `scheme`
(`"sdk"`, the default, or `"obs"`: OBS's own `Authorization: OBS AK:signature` over VERB,
Content-MD5, Content-Type, Date (`date` is then an HTTP date, default now), the `x-obs-*`
headers and the resource: the URL's path as given plus its OBS sub-resources, sorted),
`security_token` (scheme `"obs"`: sent and signed as `x-obs-security-token`)
@treturn table `authorization`, `headers` (every header to send, `Authorization` included),
`canonical_request`, `string_to_sign`, `signed_headers`, `url` (the URL with its query in
canonical order, as the reference signer sends it); scheme `"obs"`: `authorization`, `headers`,
`string_to_sign`
@raise on misuse: an unknown key, a missing `ak`/`sk`/`method`/`url`, a URL that is not absolute
http(s), a lower-case method, headers that are not strings, a header named twice, CR/LF/NUL in a
header; nothing is sent, so there is no `nil, err` form
@usage
local r = core.sign { ak = ak, sk = sk, method = "GET", url = "https://ims.example/v2/cloudimages",
  date = "20260101T000000Z" }
print(r.authorization)
*/
int ims_l_sign(lua_State *L) {
  size_t n;
  if (lua_type(L, 1) != LUA_TTABLE)
    luaL_error(L, SIGN_FN ": argument 'req' must be a table (got %s)", luaL_typename(L, 1));
  lua_settop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; SIGN_KEYS[i] && !known; i++) known = strcmp(SIGN_KEYS[i], lua_tostring(L, -1)) == 0;
    if (!known) luaL_error(L, SIGN_FN ": unknown option '%s'", luaL_tolstring(L, -1, NULL));
  }
  ims_sign_in in = {0};
  in.ak = req_string(L, "ak", 1, &n);
  in.sk = req_string(L, "sk", 1, &in.sk_len);
  in.method = req_string(L, "method", 1, &n);
  in.url = req_string(L, "url", 1, &n);
  in.body = req_string(L, "body", 0, &in.body_len);
  in.date = req_string(L, "date", 0, &n);
  const char *netloc, *path, *query;
  size_t netloc_len, path_len, query_len;
  if (ims_split_url(in.url, &netloc, &netloc_len, &path, &path_len, &query, &query_len))
    luaL_error(L, SIGN_FN ": field 'url' must be an absolute http(s) URL");
  for (const char *c = in.method; *c; c++)
    if (!isupper((unsigned char)*c)) luaL_error(L, SIGN_FN ": field 'method' must be upper case");

  lua_newtable(L); /* 2: the header set */
  int t = lua_getfield(L, 1, "headers"); /* 3 */
  if (t == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      if (lua_type(L, -2) != LUA_TSTRING || (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        luaL_error(L, SIGN_FN ": field 'headers' must map names to strings");
      lua_pop(L, 1);
    }
    ims_headers_merge(L, 2, 3, SIGN_FN, "headers");
  } else if (t != LUA_TNIL) {
    luaL_error(L, SIGN_FN ": field 'headers' must be a table (got %s)", luaL_typename(L, -1));
  }
  lua_getfield(L, 1, "signed_headers"); /* 4 */
  in.signed_idx = lua_isnil(L, 4) ? 0 : 4;
  ims_buf *sc = ims_sign_scratch(L); /* 5 */
  const char *scheme = req_string(L, "scheme", 0, &n);
  in.security_token = req_string(L, "security_token", 0, &n);
  if (scheme && strcmp(scheme, "obs") == 0) {
    char now[40];
    if (in.signed_idx) luaL_error(L, SIGN_FN ": field 'signed_headers' is not for scheme \"obs\"");
    if (!in.date) ims_http_date(0, now), in.date = now;
    ims_sign_obs_set(L, 2, &in, sc, SIGN_FN);
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, sc[2].p, sc[2].len);
    lua_setfield(L, -2, "authorization");
    ims_headers_push_plain(L, 2);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, sc[1].p, sc[1].len);
    lua_setfield(L, -2, "string_to_sign");
    return 1;
  }
  if (scheme && strcmp(scheme, "sdk") != 0)
    luaL_error(L, SIGN_FN ": field 'scheme' must be \"sdk\" or \"obs\"");
  if (in.security_token) luaL_error(L, SIGN_FN ": field 'security_token' is for scheme \"obs\"");
  ims_sign_set(L, 2, &in, sc, SIGN_FN); /* 6: the signed names */

  lua_createtable(L, 0, 6);
  lua_pushlstring(L, sc[2].p, sc[2].len);
  lua_setfield(L, -2, "authorization");
  ims_headers_push_plain(L, 2);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, sc[0].p, sc[0].len);
  lua_setfield(L, -2, "canonical_request");
  lua_pushlstring(L, sc[1].p, sc[1].len);
  lua_setfield(L, -2, "string_to_sign");
  lua_pushvalue(L, 6);
  lua_setfield(L, -2, "signed_headers");
  /* the URL as python-v3 sends it: the query in canonical form */
  luaL_Buffer u;
  luaL_buffinit(L, &u);
  luaL_addlstring(&u, in.url, (size_t)(path + path_len - in.url));
  sc[1].len = 0; /* reused: owned by the scratch userdata */
  if (ims_canon_query(&sc[1], query, query_len) == 0 && sc[1].len) {
    luaL_addchar(&u, '?');
    luaL_addlstring(&u, sc[1].p, sc[1].len);
  }
  luaL_pushresult(&u);
  lua_setfield(L, -2, "url");
  return 1;
}
