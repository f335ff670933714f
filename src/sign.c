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
static int uri_unescape(ims_buf *out, const char *s, size_t n) {
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
  int rc = uri_unescape(&dec, path, n);
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
      rc = uri_unescape(&pairs[np].k, q + start, kl);
      if (rc == 0 && eq) rc = uri_unescape(&pairs[np].v, eq + 1, (size_t)(q + i - eq - 1));
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

/* ---- core.sign(req) ---------------------------------------------------------------------- */

#define SIGN_FN "ims.sign"
#define SCRATCH_MT "ims.SignScratch"

/* Scratch buffers owned by a userdata, so a raise (an allocation failure while pushing the
 * results) cannot leak them: __gc frees what is left. */
typedef struct scratch {
  ims_buf canon, sts, auth;
} scratch;

static int scratch_gc(lua_State *L) {
  scratch *s = luaL_checkudata(L, 1, SCRATCH_MT);
  ims_buf_free(&s->canon);
  ims_buf_free(&s->sts);
  ims_buf_free(&s->auth);
  return 0;
}

static scratch *new_scratch(lua_State *L) {
  scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  if (luaL_newmetatable(L, SCRATCH_MT)) {
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return s;
}

static const char *const SIGN_KEYS[] = {"ak", "sk", "method", "url", "headers", "body", "date",
                                        "signed_headers", NULL};

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

/* Finds a header of the table at idx by lower-case name; pushes its value or nil. */
static int get_header(lua_State *L, int idx, const char *lname) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING && strcasecmp(lua_tostring(L, -2), lname) == 0) {
      lua_remove(L, -2);
      return 1;
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/***
Signs a request with AK/SK (`SDK-HMAC-SHA256`, Huawei API Gateway signing); this is `ims.sign`.
Every header in `headers` whose name has no `_` is signed, plus `Host` (added from the URL when
absent) and `X-Sdk-Date` (the current UTC time when absent); a non-empty body whose
`Content-Type` is set and not JSON gets `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (signed)
instead of a body hash.
@function sign
@tparam table req the request: `ak`, `sk`, `method`, `url` (required), `headers` (table),
`body` (string), `date` (`"YYYYMMDDTHHMMSSZ"`), `signed_headers` (`"a;b"` or `{"a", "b"}`:
replaces the list of signed headers)
@treturn table `authorization`, `headers` (every header to send, `Authorization` included),
`canonical_request`, `string_to_sign`, `signed_headers`, `url` (the URL with its query in
canonical order, as the reference signer sends it)
@raise on misuse: an unknown key, a missing `ak`/`sk`/`method`/`url`, a URL that is not absolute
http(s), a lower-case method, headers that are not strings; nothing is sent, so there is no
`nil, err` form
@usage
local r = core.sign { ak = ak, sk = sk, method = "GET", url = "https://ims.example/v2/cloudimages",
  date = "20260101T000000Z" }
print(r.authorization)
*/
int ims_l_sign(lua_State *L) {
  size_t sk_len, body_len = 0, n;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  /* keys */
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; SIGN_KEYS[i] && !known; i++) known = strcmp(SIGN_KEYS[i], lua_tostring(L, -1)) == 0;
    if (!known) luaL_error(L, SIGN_FN ": unknown option '%s'", luaL_tolstring(L, -1, NULL));
  }
  const char *ak = req_string(L, "ak", 1, &n);
  const char *sk = req_string(L, "sk", 1, &sk_len);
  const char *method = req_string(L, "method", 1, &n);
  const char *url = req_string(L, "url", 1, &n);
  const char *body = req_string(L, "body", 0, &body_len);
  const char *date = req_string(L, "date", 0, &n);
  const char *netloc, *path, *query;
  size_t netloc_len, path_len, query_len;
  if (ims_split_url(url, &netloc, &netloc_len, &path, &path_len, &query, &query_len))
    luaL_error(L, SIGN_FN ": field 'url' must be an absolute http(s) URL");
  for (const char *c = method; *c; c++)
    if (!isupper((unsigned char)*c)) luaL_error(L, SIGN_FN ": field 'method' must be upper case");

  /* 2: the headers to send (a copy, plus what the signer adds) */
  lua_newtable(L);
  int t = lua_getfield(L, 1, "headers");
  if (t == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      if (lua_type(L, -2) != LUA_TSTRING || (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        luaL_error(L, SIGN_FN ": field 'headers' must map names to strings");
      lua_pushvalue(L, -2);
      lua_pushstring(L, lua_tostring(L, -2));
      lua_settable(L, 2);
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    luaL_error(L, SIGN_FN ": field 'headers' must be a table (got %s)", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  if (!get_header(L, 2, "host")) {
    lua_pushlstring(L, netloc, netloc_len);
    lua_setfield(L, 2, "Host");
  }
  lua_pop(L, 1);
  if (!get_header(L, 2, "x-sdk-date")) {
    char now[17];
    if (!date) {
      time_t tt = time(NULL);
      struct tm tm;
      gmtime_r(&tt, &tm);
      strftime(now, sizeof now, "%Y%m%dT%H%M%SZ", &tm);
      date = now;
    }
    lua_pushstring(L, date);
    lua_setfield(L, 2, "X-Sdk-Date");
  }
  lua_pop(L, 1);
  /* a non-JSON body (an image file) is not hashed: python-v3's UNSIGNED-PAYLOAD rule */
  if (body_len > 0) {
    int has = get_header(L, 2, "x-sdk-content-sha256");
    lua_pop(L, 1);
    get_header(L, 2, "content-type");
    const char *ct = lua_tostring(L, -1);
    if (!has && ct && strncasecmp(ct, "application/json", 16) != 0 &&
        strncasecmp(ct, "application/bson", 16) != 0) {
      lua_pushliteral(L, "UNSIGNED-PAYLOAD");
      lua_setfield(L, 2, "X-Sdk-Content-Sha256");
    }
    lua_pop(L, 1);
  }

  /* 3: the signed names, lower case, sorted, ';'-joined */
  luaL_Buffer names;
  int nnames = 0;
  const char *list[64];
  lua_newtable(L); /* 3: lower-case names kept alive */
  t = lua_getfield(L, 1, "signed_headers");
  if (t == LUA_TSTRING) { /* "a;b" -> a list */
    const char *s = lua_tostring(L, -1);
    lua_newtable(L);
    for (int i = 1; *s; i++) {
      size_t len = strcspn(s, ";");
      lua_pushlstring(L, s, len);
      lua_rawseti(L, -2, i);
      s += len + (s[len] == ';');
    }
    lua_remove(L, -2);
    t = LUA_TTABLE;
  }
  if (t == LUA_TTABLE) {
    lua_Integer cnt = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= cnt; i++) {
      if (lua_geti(L, -1, i) != LUA_TSTRING) luaL_error(L, SIGN_FN ": field 'signed_headers' must list names");
      lua_rawseti(L, 3, (lua_Integer)lua_rawlen(L, 3) + 1);
    }
  } else if (t == LUA_TNIL) { /* default: every header whose name has no '_' */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      lua_pop(L, 1);
      if (!strchr(lua_tostring(L, -1), '_')) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, 3, (lua_Integer)lua_rawlen(L, 3) + 1);
      }
    }
  } else {
    luaL_error(L, SIGN_FN ": field 'signed_headers' must be a string or a list (got %s)", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  /* lower-case every name in table 3, then sort and de-duplicate */
  lua_Integer total = (lua_Integer)lua_rawlen(L, 3);
  if (total > 64) luaL_error(L, SIGN_FN ": too many signed headers");
  for (lua_Integer i = 1; i <= total; i++) {
    lua_rawgeti(L, 3, i);
    luaL_Buffer lb;
    const char *s = lua_tolstring(L, -1, &n);
    char *p = luaL_buffinitsize(L, &lb, n);
    for (size_t k = 0; k < n; k++) p[k] = (char)tolower((unsigned char)s[k]);
    luaL_pushresultsize(&lb, n);
    lua_rawseti(L, 3, i);
    lua_pop(L, 1);
  }
  for (lua_Integer i = 1; i <= total; i++) {
    lua_rawgeti(L, 3, i);
    list[nnames++] = lua_tostring(L, -1);
    lua_pop(L, 1); /* the table keeps it alive */
  }
  qsort(list, (size_t)nnames, sizeof list[0], cmp_str);
  luaL_buffinit(L, &names);
  for (int i = 0; i < nnames; i++) {
    if (i && strcmp(list[i], list[i - 1]) == 0) continue;
    if (names.n) luaL_addchar(&names, ';');
    luaL_addstring(&names, list[i]);
  }
  luaL_pushresult(&names); /* 4 */

  /* 5: payload hash */
  if (body_len == 0) {
    lua_pushliteral(L, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  } else if (get_header(L, 2, "x-sdk-content-sha256")) {
  } else {
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    lua_pop(L, 1);
    SHA256((const unsigned char *)body, body_len, md);
    to_hex(md, sizeof md, hex);
    lua_pushstring(L, hex);
  }

  /* the header array for ims_sign: strings all anchored in table 2 */
  ims_hdr hdrs[80];
  int nh = 0;
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    if (nh == 80) luaL_error(L, SIGN_FN ": too many headers");
    hdrs[nh].name = lua_tostring(L, -2);
    hdrs[nh].value = lua_tostring(L, -1);
    nh++;
    lua_pop(L, 1);
  }
  scratch *sc = new_scratch(L); /* 6 */
  char err[160];
  if (ims_sign(ak, sk, sk_len, method, url, hdrs, nh, lua_tostring(L, 4), lua_tostring(L, 5),
               &sc->canon, &sc->sts, &sc->auth, err, sizeof err))
    return luaL_error(L, SIGN_FN ": %s", err);

  lua_createtable(L, 0, 6);
  lua_pushlstring(L, sc->auth.p, sc->auth.len);
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, "Authorization");
  lua_setfield(L, -2, "authorization");
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, sc->canon.p, sc->canon.len);
  lua_setfield(L, -2, "canonical_request");
  lua_pushlstring(L, sc->sts.p, sc->sts.len);
  lua_setfield(L, -2, "string_to_sign");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "signed_headers");
  /* the URL as python-v3 sends it: the query in canonical form */
  luaL_Buffer u;
  luaL_buffinit(L, &u);
  luaL_addlstring(&u, url, (size_t)(path + path_len - url));
  sc->sts.len = 0; /* reused: owned by the scratch userdata */
  if (ims_canon_query(&sc->sts, query, query_len) == 0 && sc->sts.len) {
    luaL_addchar(&u, '?');
    luaL_addlstring(&u, sc->sts.p, sc->sts.len);
  }
  luaL_pushresult(&u);
  lua_setfield(L, -2, "url");
  return 1;
}
