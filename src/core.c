/* luaopen_ims_core: the ims.core module table (see docs/core.md). */

/***
The C transport: HTTP requests over libcurl, bodies streamed in constant memory and hashed
while they stream, progress, callbacks run safely, AK/SK signing, and many job polls on one
curl multi handle. It knows nothing about images: `ims` (the Lua files in `lua/ims/`) gives
requests their meaning. `docs/core.md` describes it in full; C hosts can link it statically
(`luaopen_ims_core`, `src/ims_core.h`).

Misuse (wrong types, unknown keys, use after close) raises at once; a transport failure of a
request returns `nil, err` with `err` a plain table (`ims.errors` turns it into an `ims.Error`).
@module ims.core
@usage
local core = require "ims.core"
print(core.version())
local s <close> = core.session { connect_timeout = 5 }
local res, err = s:request { url = "http://127.0.0.1:9292/versions" }
*/

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "ims_core.h"
#include "engine.h"
#include "sign.h"

#define IMS_CORE_VERSION "0.1.0"

/* libcurl has no code -> name function; these are the codes a transfer can end with. */
const char *ims_curl_code_name(CURLcode code) {
  switch (code) {
    case CURLE_OK: return "OK";
    case CURLE_UNSUPPORTED_PROTOCOL: return "UNSUPPORTED_PROTOCOL";
    case CURLE_URL_MALFORMAT: return "URL_MALFORMAT";
    case CURLE_COULDNT_RESOLVE_PROXY: return "COULDNT_RESOLVE_PROXY";
    case CURLE_COULDNT_RESOLVE_HOST: return "COULDNT_RESOLVE_HOST";
    case CURLE_COULDNT_CONNECT: return "COULDNT_CONNECT";
    case CURLE_WEIRD_SERVER_REPLY: return "WEIRD_SERVER_REPLY";
    case CURLE_HTTP2: return "HTTP2";
    case CURLE_PARTIAL_FILE: return "PARTIAL_FILE";
    case CURLE_HTTP_RETURNED_ERROR: return "HTTP_RETURNED_ERROR";
    case CURLE_WRITE_ERROR: return "WRITE_ERROR";
    case CURLE_UPLOAD_FAILED: return "UPLOAD_FAILED";
    case CURLE_READ_ERROR: return "READ_ERROR";
    case CURLE_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case CURLE_OPERATION_TIMEDOUT: return "OPERATION_TIMEDOUT";
    case CURLE_RANGE_ERROR: return "RANGE_ERROR";
    case CURLE_SSL_CONNECT_ERROR: return "SSL_CONNECT_ERROR";
    case CURLE_ABORTED_BY_CALLBACK: return "ABORTED_BY_CALLBACK";
    case CURLE_TOO_MANY_REDIRECTS: return "TOO_MANY_REDIRECTS";
    case CURLE_GOT_NOTHING: return "GOT_NOTHING";
    case CURLE_SEND_ERROR: return "SEND_ERROR";
    case CURLE_RECV_ERROR: return "RECV_ERROR";
    case CURLE_SSL_CERTPROBLEM: return "SSL_CERTPROBLEM";
    case CURLE_SSL_CIPHER: return "SSL_CIPHER";
    case CURLE_PEER_FAILED_VERIFICATION: return "PEER_FAILED_VERIFICATION";
    case CURLE_BAD_CONTENT_ENCODING: return "BAD_CONTENT_ENCODING";
    case CURLE_SEND_FAIL_REWIND: return "SEND_FAIL_REWIND";
    case CURLE_SSL_CACERT_BADFILE: return "SSL_CACERT_BADFILE";
    case CURLE_HTTP2_STREAM: return "HTTP2_STREAM";
    case CURLE_HTTP3: return "HTTP3";
    case CURLE_PROXY: return "PROXY";
    default: return "CURL_ERROR";
  }
}

/***
The core's version, `"0.1.0"`.
@field _VERSION
@usage print(require("ims.core")._VERSION)
*/

/***
The core's and libcurl's versions.
@function version
@treturn string `"ims.core 0.1.0 libcurl/7.88.1 OpenSSL/3.0.19 ..."`
@raise never
@usage print(core.version())
*/
static int l_version(lua_State *L) {
  lua_pushfstring(L, "ims.core " IMS_CORE_VERSION " %s", curl_version());
  return 1;
}

static void digests_from_list(lua_State *L, int idx, ims_digests *ds, const char *fn) {
  char err[128];
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer n = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, idx, i) != LUA_TSTRING) {
      ims_digests_free(ds);
      luaL_error(L, "%s: digest names must be strings", fn);
    }
    if (ims_digests_add(ds, lua_tostring(L, -1), err, sizeof err)) {
      ims_digests_free(ds);
      luaL_error(L, "%s: %s", fn, err);
    }
    lua_pop(L, 1);
  }
}

/***
Digest of a string.
@function digest
@tparam string name `"md5"`, `"sha1"`, `"sha256"` or `"sha512"`
@tparam string data the bytes
@treturn string the lower-case hex digest
@raise on an unknown digest name or a non-string argument; there is no `nil, err` form
@usage assert(core.digest("md5", "") == "d41d8cd98f00b204e9800998ecf8427e")
*/
/* core.digest(name, data) -> hex */
static int l_digest(lua_State *L) {
  size_t len;
  const char *name = luaL_checkstring(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  char err[128], hex[129];
  ims_digests ds = {0};
  if (ims_digests_add(&ds, name, err, sizeof err)) return luaL_error(L, "ims.core.digest: %s", err);
  ims_digests_update(&ds, data, len);
  int rc = ims_digests_hex(&ds, 0, hex);
  ims_digests_free(&ds);
  if (rc) return luaL_error(L, "ims.core.digest: digest failed");
  lua_pushstring(L, hex);
  return 1;
}

/***
Digests of a file, read in constant memory (used to verify files already on disk).
@function file_digests
@tparam string path the file
@tparam {string,...} names digest names (`"md5"`, `"sha1"`, `"sha256"`, `"sha512"`)
@tparam[opt=0] integer offset where to start (a part of a multipart upload)
@tparam[opt] integer length how many bytes at most (default: to the end)
@treturn[1] table `{md5 = hex, ..., bytes = n}`: one entry per name, and the size hashed
@treturn[2] nil
@treturn[2] string `"cannot read PATH: reason"`
@raise on a non-string path, `names` not a list of known digest names
@usage local d = assert(core.file_digests("disk.qcow2", { "md5", "sha512" })); print(d.bytes, d.md5)
*/
/* core.file_digests(path, names) -> {name = hex, bytes = n} | nil, msg. Used to verify files
 * already on disk (an upload's source, a resumed download) in constant memory. */
static int l_file_digests(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer offset = luaL_optinteger(L, 3, 0), left = luaL_optinteger(L, 4, -1);
  luaL_argcheck(L, offset >= 0, 3, "offset must be >= 0");
  luaL_argcheck(L, left >= -1, 4, "length must be >= 0");
  ims_digests ds = {0};
  digests_from_list(L, 2, &ds, "ims.core.file_digests");
  FILE *f = fopen(path, "rb");
  if (f && offset && fseeko(f, (off_t)offset, SEEK_SET) != 0) {
    fclose(f);
    f = NULL;
  }
  if (!f) {
    ims_digests_free(&ds);
    luaL_pushfail(L);
    lua_pushfstring(L, "cannot read %s: %s", path, strerror(errno));
    return 2;
  }
  char buf[1 << 16];
  size_t n;
  lua_Integer total = 0;
  while (left != 0 && (n = fread(buf, 1, left < 0 || left > (lua_Integer)sizeof buf ? sizeof buf : (size_t)left, f)) > 0) {
    ims_digests_update(&ds, buf, n);
    total += (lua_Integer)n;
    if (left > 0) left -= (lua_Integer)n;
  }
  int bad = ferror(f);
  fclose(f);
  char hex[129];
  const char *names[IMS_MAX_DIGESTS];
  char hexes[IMS_MAX_DIGESTS][129];
  int count = ds.n;
  for (int i = 0; i < count; i++) {
    names[i] = ds.names[i];
    if (ims_digests_hex(&ds, i, hex)) bad = 1;
    memcpy(hexes[i], hex, sizeof hex);
  }
  ims_digests_free(&ds); /* nothing allocated is left when the pushes below run */
  if (bad) {
    luaL_pushfail(L);
    lua_pushfstring(L, "cannot read %s", path);
    return 2;
  }
  lua_createtable(L, 0, count + 1);
  for (int i = 0; i < count; i++) {
    lua_pushstring(L, hexes[i]);
    lua_setfield(L, -2, names[i]);
  }
  lua_pushinteger(L, total);
  lua_setfield(L, -2, "bytes");
  return 1;
}

/***
A file's size and modification time (what guards an upload checkpoint: a file changed since
has another size or mtime).
@function file_info
@tparam string path the file
@treturn[1] table `{size = n, mtime = seconds (with the nanoseconds as a fraction), type = "file"|"directory"|"other"}`
@treturn[2] nil
@treturn[2] string `"cannot stat PATH: reason"`
@raise on a non-string path
@usage local info = assert(core.file_info("disk.qcow2")); print(info.size, info.mtime)
*/
static int l_file_info(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "cannot stat %s: %s", path, strerror(errno));
    return 2;
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)st.st_size);
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
  lua_setfield(L, -2, "mtime");
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  lua_setfield(L, -2, "type");
  return 1;
}

/***
Sleeps (backoff, rate limiting) without a busy loop.
@function sleep
@tparam number seconds how long; 0 or less returns at once
@raise when `seconds` is not a number
@usage core.sleep(0.25)
*/
/* core.sleep(seconds): for backoff and rate limiting without a busy loop. */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s > 0) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  }
  return 0;
}

/***
Monotonic seconds, for deadlines that must not jump with the wall clock.
@function now
@treturn number seconds (with a fraction) since an arbitrary point
@raise never
@usage local t0 = core.now(); core.sleep(0.1); print(core.now() - t0)
*/
/* core.now() -> monotonic seconds (deadlines must not jump with the wall clock). */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
  return 1;
}

/***
Wall-clock seconds since the epoch, with a fraction (to compare with server timestamps).
@function time
@treturn number seconds
@raise never
@usage print(os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(core.time())))
*/
/* core.time() -> wall-clock seconds with a fraction (to compare with server timestamps). */
static int l_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
  return 1;
}

/***
Whether a file descriptor is a terminal: a progress bar on a terminal, plain lines otherwise.
@function isatty
@tparam integer fd 1 = stdout, 2 = stderr
@treturn boolean
@raise when `fd` is not an integer
@usage if core.isatty(1) then io.write("\r", pct, "%") else print(pct .. "%") end
*/
/* core.isatty(fd) -> whether fd (1 = stdout, 2 = stderr) is a terminal: progress bars vs lines. */
static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

int luaopen_ims_core(lua_State *L) {
  static int curl_ready = 0;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "ims.core: curl_global_init failed");
    curl_ready = 1;
  }
  static const luaL_Reg funcs[] = {{"session", ims_session_new}, {"version", l_version},
                                   {"digest", l_digest},         {"file_digests", l_file_digests},
                                   {"file_info", l_file_info},
                                   {"sleep", l_sleep},           {"now", l_now},
                                   {"sign", ims_l_sign},          {"time", l_time},
                                   {"isatty", l_isatty},
                                   {NULL, NULL}};
  ims_session_open(L);
  luaL_newlib(L, funcs);
  lua_pushliteral(L, IMS_CORE_VERSION);
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
