/* OBS's own request signature: Authorization: OBS AK:Base64(HMAC-SHA1(SK, StringToSign)), with
 * StringToSign = VERB \n Content-MD5 \n Content-Type \n Date \n x-obs-* headers, resource.
 * The resource is the path as sent (path-style: /bucket/key, percent-encoding kept) plus the
 * query's OBS sub-resources, sorted. It lives beside the IMS signer and is reached the same
 * way (a request's `sign` option, or ims.sign with scheme = "obs"). */
#include "sign.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* The query parameters OBS signs (its list, in strcmp order for bsearch). */
static const char *const SUBRESOURCES[] = {
  "acl", "append", "attname", "backtosource", "cors", "customdomain", "delete", "deletebucket",
  "directcoldaccess", "encryption", "inventory", "length", "lifecycle", "location", "logging",
  "metadata", "modify", "name", "notification", "partNumber", "policy", "position", "quota",
  "rename", "replication", "response-cache-control", "response-content-disposition",
  "response-content-encoding", "response-content-language", "response-content-type",
  "response-expires", "restore", "storageClass", "storagePolicy", "storageinfo", "tagging",
  "torrent", "truncate", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
  "x-image-process", "x-image-save-bucket", "x-image-save-object", "x-obs-security-token"};
#define NSUB (sizeof SUBRESOURCES / sizeof SUBRESOURCES[0])

static int cmp_key(const void *k, const void *e) {
  return strcmp((const char *)k, *(const char *const *)e);
}

void ims_http_date(double offset, char out[40]) {
  static const char *const day[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL) + (time_t)offset;
  struct tm tm;
  gmtime_r(&now, &tm);
  /* by hand: strftime's %a/%b follow the host's locale */
  snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", day[tm.tm_wday], tm.tm_mday,
           mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

typedef struct pair {
  const char *k, *v; /* v: the whole "name: value" line (headers) or the raw value (query) */
  size_t kl, vl;
} pair;

static int cmp_pair(const void *a, const void *b) {
  const pair *x = a, *y = b;
  size_t n = x->kl < y->kl ? x->kl : y->kl;
  int c = memcmp(x->k, y->k, n);
  return c ? c : (x->kl > y->kl) - (x->kl < y->kl);
}

static int add_trim(ims_buf *b, const char *v, size_t n) {
  while (n && (*v == ' ' || *v == '\t')) v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  return ims_buf_add(b, v, n);
}

/* The resource: the raw path ("/" when empty), then "?" and the sub-resources. */
static int add_resource(ims_buf *b, const char *path, size_t path_len, const char *q, size_t ql) {
  if (ims_buf_add(b, path_len ? path : "/", path_len ? path_len : 1)) return -1;
  pair subs[NSUB];
  size_t ns = 0;
  while (ql) {
    const char *amp = memchr(q, '&', ql);
    size_t len = amp ? (size_t)(amp - q) : ql;
    const char *eq = memchr(q, '=', len);
    size_t kl = eq ? (size_t)(eq - q) : len;
    char key[40];
    if (kl && kl < sizeof key) {
      memcpy(key, q, kl);
      key[kl] = '\0';
      if (ns < NSUB && bsearch(key, SUBRESOURCES, NSUB, sizeof SUBRESOURCES[0], cmp_key)) {
        subs[ns].k = q, subs[ns].kl = kl;
        subs[ns].v = eq ? eq + 1 : NULL, subs[ns].vl = eq ? len - kl - 1 : 0;
        ns++;
      }
    }
    q += len + (amp != NULL);
    ql -= len + (amp != NULL);
  }
  qsort(subs, ns, sizeof subs[0], cmp_pair);
  for (size_t i = 0; i < ns; i++) {
    if (ims_buf_add(b, i ? "&" : "?", 1) || ims_buf_add(b, subs[i].k, subs[i].kl)) return -1;
    if (subs[i].v && (ims_buf_add(b, "=", 1) || ims_uri_unescape(b, subs[i].v, subs[i].vl)))
      return -1;
  }
  return 0;
}

int ims_obs_resource(ims_buf *b, const char *url) {
  const char *netloc, *path, *query;
  size_t netloc_len, path_len, query_len;
  if (ims_split_url(url, &netloc, &netloc_len, &path, &path_len, &query, &query_len)) return -1;
  return add_resource(b, path, path_len, query, query_len) ? -2 : 0;
}

void ims_sign_obs_set(lua_State *L, int set, const ims_sign_in *in, ims_buf *bufs, const char *fn) {
  set = lua_absindex(L, set);
  ims_buf *sts = &bufs[1], *auth = &bufs[2];
  sts->len = auth->len = 0;
  {
    const char *netloc, *path, *query;
    size_t netloc_len, path_len, query_len;
    if (ims_split_url(in->url, &netloc, &netloc_len, &path, &path_len, &query, &query_len))
      luaL_error(L, "%s: signing needs an absolute http(s) URL", fn);
  }
  if (in->security_token) ims_headers_put(L, set, "x-obs-security-token", in->security_token, 1);
  if (!ims_headers_value(L, set, "x-obs-date")) ims_headers_put(L, set, "Date", in->date, 1);
  /* libcurl would add a form Content-Type to a string body; what is sent must be what is
   * signed, so an absent one is sent as absent */
  if (!ims_headers_value(L, set, "content-type")) {
    lua_pushliteral(L, "Content-Type:");
    lua_setfield(L, set, "content-type");
  }
  pair hs[128];
  size_t nh = 0;
  lua_pushnil(L);
  while (lua_next(L, set)) {
    size_t kl, ll;
    const char *k = lua_tolstring(L, -2, &kl), *line = lua_tolstring(L, -1, &ll);
    lua_pop(L, 1); /* the set anchors both */
    int removal = line[kl] == ':' && ll == kl + 1;
    if (kl > 6 && memcmp(k, "x-obs-", 6) == 0 && !removal) {
      if (nh == sizeof hs / sizeof hs[0]) luaL_error(L, "%s: too many headers to sign", fn);
      hs[nh].k = k, hs[nh].kl = kl, hs[nh].v = line + kl + 1, hs[nh].vl = ll - kl - 1;
      nh++;
    }
  }
  qsort(hs, nh, sizeof hs[0], cmp_pair);
  const char *md5 = ims_headers_value(L, set, "content-md5");
  const char *ct = ims_headers_value(L, set, "content-type");
  const char *date = ims_headers_value(L, set, "x-obs-date") ? "" : in->date;
  int rc = ims_buf_add(sts, in->method, strlen(in->method)) || ims_buf_add(sts, "\n", 1) ||
           (md5 && add_trim(sts, md5, strlen(md5))) || ims_buf_add(sts, "\n", 1) ||
           (ct && add_trim(sts, ct, strlen(ct))) || ims_buf_add(sts, "\n", 1) ||
           ims_buf_add(sts, date, strlen(date)) || ims_buf_add(sts, "\n", 1);
  for (size_t i = 0; rc == 0 && i < nh; i++)
    rc = ims_buf_add(sts, hs[i].k, hs[i].kl) || ims_buf_add(sts, ":", 1) ||
         add_trim(sts, hs[i].v, hs[i].vl) || ims_buf_add(sts, "\n", 1);
  rc = rc || ims_obs_resource(sts, in->url);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (rc || !HMAC(EVP_sha1(), in->sk, (int)in->sk_len, (const unsigned char *)sts->p, sts->len,
                  md, &mdlen))
    luaL_error(L, "%s: out of memory while signing", fn);
  char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
  rc = ims_buf_add(auth, "OBS ", 4) || ims_buf_add(auth, in->ak, strlen(in->ak)) ||
       ims_buf_add(auth, ":", 1) || ims_buf_add(auth, b64, (size_t)n);
  if (rc) luaL_error(L, "%s: out of memory while signing", fn);
  lua_pushlstring(L, auth->p, auth->len);
  ims_headers_put(L, set, "Authorization", lua_tostring(L, -1), 1);
  lua_pop(L, 1);
}
