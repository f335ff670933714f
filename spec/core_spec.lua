-- ims.core against the loopback test server (spec/support/httpd.py): transfers, digests,
-- progress, callbacks, timeouts, connection reuse, resource hygiene.
local core = require "ims.core"
local env = require "support.env"

local base = env.httpd_url

local function json_of(res)
  return require("ims.json").decode(res.body)
end

describe("ims.core", function()
  local s
  before_each(function() s = core.session { stall_timeout = 10 } end)
  after_each(function() s:close() end)

  it("reports its version and libcurl's", function()
    assert.matches("^ims%.core %d+%.%d+%.%d+ libcurl/", core.version())
  end)

  it("computes digests of strings like the reference values", function()
    assert.equal("d41d8cd98f00b204e9800998ecf8427e", core.digest("md5", ""))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      core.digest("sha256", "abc"))
    assert.has_error(function() core.digest("crc32", "x") end)
  end)

  it("performs a GET and returns status, reason, lower-case headers and body", function()
    local res = assert(s:request { url = base .. "/echo?a=1&b=two", headers = { ["X-Test"] = "v" } })
    assert.equal(200, res.status)
    assert.equal("OK", res.reason)
    assert.matches("json", res.headers["content-type"])
    local echo = json_of(res)
    assert.equal("GET", echo.method)
    assert.equal("a=1&b=two", echo.query)
    assert.equal("v", echo.headers["x-test"])
  end)

  it("sends string bodies with any method", function()
    local res = assert(s:request { method = "PATCH", url = base .. "/echo", body = "hello",
      headers = { ["Content-Type"] = "text/plain" } })
    local echo = json_of(res)
    assert.equal("PATCH", echo.method)
    assert.equal("hello", echo.body)
    assert.equal("text/plain", echo.headers["content-type"])
  end)

  it("streams a file body with Content-Length and hashes it while sending", function()
    local path = env.tmpfile("up.bin")
    env.write_random(path, 3 * 1024 * 1024 + 17)
    local res = assert(s:request { method = "PUT", url = base .. "/upload", body_file = path,
      upload_digests = { "md5", "sha512" } })
    local got = json_of(res)
    assert.equal(3 * 1024 * 1024 + 17, got.bytes)
    assert.is_false(got.chunked)
    assert.equal(got.md5, res.upload_digests.md5)
    assert.equal(got.sha512, res.upload_digests.sha512)
    assert.equal(env.sha512_file(path), res.upload_digests.sha512)
    assert.equal(3 * 1024 * 1024 + 17, res.uploaded)
  end)

  it("streams a reader body, chunked without a size and with Content-Length with one", function()
    local function reader(parts)
      local i = 0
      return function() i = i + 1; return parts[i] end
    end
    local res = assert(s:request { method = "POST", url = base .. "/upload",
      body_reader = reader { "ab", "", "cde", string.rep("x", 100000) } })
    local got = json_of(res)
    assert.is_true(got.chunked)
    assert.equal(100005, got.bytes)
    res = assert(s:request { method = "PUT", url = base .. "/upload", body_size = 5,
      body_reader = reader { "ab", "cde" }, upload_digests = { "sha256" } })
    got = json_of(res)
    assert.is_false(got.chunked)
    assert.equal(5, got.bytes)
    assert.equal(got.sha256, res.upload_digests.sha256)
  end)

  it("refuses a reader that breaks its declared size", function()
    local parts = { "abc" }
    local res, err = s:request { method = "PUT", url = base .. "/upload", body_size = 10,
      body_reader = function() return table.remove(parts, 1) end }
    assert.is_nil(res)
    assert.equal("BODY_SIZE", err.code)
  end)

  it("downloads to a file in pieces, hashing on the fly", function()
    local n = 5 * 1024 * 1024 + 3
    local path = env.tmpfile("dl.bin")
    local res = assert(s:request { url = base .. "/bytes/" .. n, sink_file = path,
      download_digests = { "sha512", "md5" } })
    assert.equal(200, res.status)
    assert.is_nil(res.body)
    assert.equal(n, res.downloaded)
    local want = env.tmpfile("want.bin")
    env.pattern_file(want, n)
    assert.equal(env.sha512_file(want), res.download_digests.sha512)
    assert.equal(env.sha512_file(path), res.download_digests.sha512)
    assert.equal(env.md5_file(path), res.download_digests.md5)
  end)

  it("hands each chunk to a sink function", function()
    local parts, total = 0, 0
    local res = assert(s:request { url = base .. "/bytes/2000000", sink = function(chunk)
      parts = parts + 1
      total = total + #chunk
    end })
    assert.equal(2000000, total)
    assert.is_true(parts >= 1)
    assert.equal(2000000, res.downloaded)
  end)

  it("keeps error bodies out of sinks and returns them", function()
    local path = env.tmpfile("never.bin")
    local called = false
    local res = assert(s:request { url = base .. "/status/404", sink = function() called = true end })
    assert.equal(404, res.status)
    assert.is_false(called)
    assert.matches("status 404", res.body)
    res = assert(s:request { url = base .. "/status/500", sink_file = path })
    assert.equal(500, res.status)
    assert.is_nil(io.open(path, "rb"))
    assert.equal("req-test-500", res.headers["x-request-id"])
  end)

  it("resumes a partial file with Range and hashes the whole file", function()
    local n = 1000000
    local path = env.tmpfile("resume.bin")
    local full = env.pattern_bytes(n)
    local f = assert(io.open(path, "wb"))
    f:write(full:sub(1, 123457))
    f:close()
    local res = assert(s:request { url = base .. "/bytes/" .. n, sink_file = path, append = true,
      download_digests = { "sha256" } })
    assert.equal(206, res.status)
    assert.equal(123457, res.resumed_from)
    assert.equal(n - 123457, res.downloaded)
    assert.equal(core.digest("sha256", full), res.download_digests.sha256)
    assert.equal(full, env.read(path))
  end)

  it("restarts a resumed download when the server ignores Range", function()
    local n = 300000
    local path = env.tmpfile("restart.bin")
    local f = assert(io.open(path, "wb"))
    f:write(string.rep("Z", 1000))
    f:close()
    local res = assert(s:request { url = base .. "/bytes/" .. n .. "?ignore_range=1",
      sink_file = path, append = true, download_digests = { "sha256" } })
    assert.equal(200, res.status)
    assert.is_true(res.restarted)
    local full = env.pattern_bytes(n)
    assert.equal(full, env.read(path))
    assert.equal(core.digest("sha256", full), res.download_digests.sha256)
  end)

  it("cuts a longer file to the body, whether it was replaced or restarted", function()
    local path = env.tmpfile("longer.bin")
    for _, append in ipairs { false, true } do
      local f = assert(io.open(path, "wb"))
      f:write(string.rep("Z", 5000))
      f:close()
      local res = assert(s:request { url = base .. "/bytes/3000?ignore_range=1", sink_file = path,
        append = append })
      assert.equal(200, res.status)
      assert.equal(env.pattern_bytes(3000), env.read(path))
    end
  end)

  it("fails a download whose file cannot be written, naming the file and the reason", function()
    for _, digests in ipairs { {}, { "sha512" } } do
      local res, err = s:request { url = base .. "/bytes/" .. 3 * 1024 * 1024, sink_file = "/dev/full",
        download_digests = digests }
      assert.is_nil(res)
      assert.equal("FILE", err.code)
      assert.matches("cannot write /dev/full: No space left on device", err.message, 1, true)
    end
    -- /dev/full refuses the first write; this file takes 2 MiB (bash counts ulimit -f in KiB) and
    -- then refuses, past the 1 MiB after which src/hasher.c's worker thread hashes: the call
    -- fails and the file keeps what was written
    local path = env.tmpfile("limited.bin")
    local script = env.tmpfile("limited.lua")
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
      package.path, package.cpath = %q, %q
      local s = require("ims.core").session { stall_timeout = 10 }
      local res, err = s:request { url = %q, sink_file = %q, download_digests = { "sha512" } }
      io.write(tostring(res), " ", err and err.code or "", " ", err and err.message or "")
      s:close()
    ]], package.path, package.cpath, base .. "/bytes/" .. 8 * 1024 * 1024, path))
    f:close()
    local p = assert(io.popen("bash -c 'ulimit -f 2048; trap \"\" XFSZ; exec lua5.4 " .. script .. " 2>&1'"))
    local out = p:read("a")
    p:close()
    assert.matches("nil FILE cannot write " .. path .. ": File too large", out, 1, true)
    local size = #env.read(path)
    assert.is_true(size > 1024 * 1024 and size <= 2 * 1024 * 1024, "size " .. size)
  end)

  -- Past 1 MiB the digests move to a worker thread (src/hasher.c); these cross that line in
  -- every path that touches the digests mid-stream: a resumed prefix, a restart, an abort.
  describe("hashing large bodies on a worker thread", function()
    -- hashing threads of this process (named "ims-hash"; sanitizers start threads of their own)
    local pid
    do
      local f = assert(io.open("/proc/self/stat"))
      pid = f:read("n")
      f:close()
    end
    local function threads()
      local p = assert(io.popen("cat /proc/" .. pid .. "/task/*/comm 2>/dev/null"))
      local n = 0
      for line in p:lines() do if line == "ims-hash" then n = n + 1 end end
      p:close()
      return n
    end

    it("starts a second thread only past 1 MiB, and its digests match", function()
      local n = 6 * 1024 * 1024 + 11
      local before, most, total = threads(), 0, 0
      local calls = 0
      local res = assert(s:request { url = base .. "/bytes/" .. n,
        download_digests = { "sha512", "md5" }, sink = function(chunk)
          total = total + #chunk
          calls = calls + 1
          if total > 2 * 1024 * 1024 and calls % 16 == 0 then most = math.max(most, threads()) end
        end })
      assert.equal(before + 1, most)
      assert.equal(before, threads()) -- joined when the request returned
      local want = env.pattern_file(env.tmpfile("bg-want.bin"), n)
      assert.equal(env.sha512_file(want), res.download_digests.sha512)
      assert.equal(env.md5_file(want), res.download_digests.md5)
      most, calls = 0, 0
      assert(s:request { url = base .. "/bytes/" .. (1024 * 1024 - 1), download_digests = { "md5" },
        sink = function()
          calls = calls + 1
          if calls % 8 == 0 then most = math.max(most, threads()) end
        end })
      assert.equal(before, most)
    end)

    it("covers a resumed prefix and a restart", function()
      local n = 5 * 1024 * 1024
      local full = env.pattern_bytes(n)
      local path = env.tmpfile("bg-resume.bin")
      env.write(path, full:sub(1, 3 * 1024 * 1024 + 5))
      local res = assert(s:request { url = base .. "/bytes/" .. n, sink_file = path, append = true,
        download_digests = { "sha256", "sha1" } })
      assert.equal(206, res.status)
      assert.equal(core.digest("sha256", full), res.download_digests.sha256)
      assert.equal(core.digest("sha1", full), res.download_digests.sha1)
      env.write(path, string.rep("Z", 2 * 1024 * 1024))
      res = assert(s:request { url = base .. "/bytes/" .. n .. "?ignore_range=1", sink_file = path,
        append = true, download_digests = { "sha256" } })
      assert.is_true(res.restarted)
      assert.equal(core.digest("sha256", full), res.download_digests.sha256)
      assert.equal(full, env.read(path))
    end)

    it("stops the worker when a callback aborts, and the next request is right", function()
      local before = threads()
      local ok, err = pcall(s.request, s, { url = base .. "/bytes/" .. (8 * 1024 * 1024),
        download_digests = { "sha512" }, sink = function()
          if threads() > before then error("enough") end
        end })
      assert.is_false(ok)
      assert.matches("enough", err)
      assert.equal(before, threads())
      local path = env.tmpfile("bg-up.bin")
      env.write_random(path, 3 * 1024 * 1024)
      local res = assert(s:request { method = "PUT", url = base .. "/upload", body_file = path,
        upload_digests = { "sha512" } })
      assert.equal(env.sha512_file(path), res.upload_digests.sha512)
    end)
  end)

  it("reports progress that only grows and ends at the total", function()
    local seen = {}
    local n = 8 * 1024 * 1024
    assert(s:request { url = base .. "/bytes/" .. n, sink = function() end,
      progress = function(dl, dlt) seen[#seen + 1] = { dl, dlt } end })
    assert.is_true(#seen >= 1)
    for i = 2, #seen do assert.is_true(seen[i][1] >= seen[i - 1][1]) end
    assert.same({ n, n }, seen[#seen])
    local path = env.tmpfile("prog-up.bin")
    env.write_random(path, n)
    local ups = {}
    assert(s:request { method = "PUT", url = base .. "/upload", body_file = path,
      progress = function(_, _, ul, ult) ups[#ups + 1] = { ul, ult } end })
    for i = 2, #ups do assert.is_true(ups[i][1] >= ups[i - 1][1]) end
    assert.same({ n, n }, ups[#ups])
    -- often enough to draw a bar however fast the transfer: at every 1 % of the total (an
    -- upload reads 1 MiB at a time, so at least once a MiB); time alone gave 2-4 calls here
    assert.is_true(#seen >= 50, #seen .. " download progress calls")
    assert.is_true(#ups >= n // (1024 * 1024), #ups .. " upload progress calls")
    assert.is_true(#seen <= 400 and #ups <= 400)
  end)

  it("re-raises a Lua error from a sink after cleaning up, and stays usable", function()
    local ok, err = pcall(s.request, s, { url = base .. "/bytes/1000000",
      sink = function() error({ mine = true }) end })
    assert.is_false(ok)
    assert.same({ mine = true }, err)
    ok, err = pcall(s.request, s, { url = base .. "/bytes/1000",
      progress = function() error("progress boom") end })
    assert.is_false(ok)
    assert.matches("progress boom", err)
    ok, err = pcall(s.request, s, { method = "PUT", url = base .. "/upload",
      body_reader = function() error("reader boom") end })
    assert.is_false(ok)
    assert.matches("reader boom", err)
    local res = assert(s:request { url = base .. "/echo" })
    assert.equal(200, res.status)
  end)

  it("aborts when a callback returns nil, msg", function()
    local res, err = s:request { url = base .. "/bytes/1000000",
      sink = function() return nil, "disk full" end }
    assert.is_nil(res)
    assert.equal("ABORTED_BY_CALLBACK", err.code)
    assert.matches("disk full", err.message)
  end)

  it("refuses to start a request or close from inside its own callback", function()
    local inner
    local ok = pcall(s.request, s, { url = base .. "/bytes/1000", sink = function()
      inner = select(2, pcall(s.request, s, { url = base .. "/echo" }))
      error("stop")
    end })
    assert.is_false(ok)
    assert.matches("busy", inner)
    ok = pcall(s.request, s, { url = base .. "/bytes/1000", sink = function() s:close() end })
    assert.is_false(ok)
    assert.equal(200, s:request { url = base .. "/echo" }.status)
  end)

  it("reuses one connection across requests", function()
    local a = assert(s:request { url = base .. "/conn" })
    local b = assert(s:request { url = base .. "/conn" })
    assert.equal(json_of(a).conn, json_of(b).conn)
    assert.equal(0, b.new_connections)
    assert.equal(1, a.new_connections)
  end)

  it("times out a whole request and a stalled transfer", function()
    local t0 = core.now()
    local res, err = s:request { url = base .. "/sleep?secs=3", timeout = 0.5 }
    assert.is_nil(res)
    assert.equal("OPERATION_TIMEDOUT", err.code)
    assert.is_true(core.now() - t0 < 2)
    local quick = core.session { stall_timeout = 1 }
    t0 = core.now()
    res, err = quick:request { url = base .. "/stall?after=1000&secs=5", sink = function() end }
    quick:close()
    assert.is_nil(res)
    assert.equal("OPERATION_TIMEDOUT", err.code)
    assert.is_true(core.now() - t0 < 4)
    assert.equal(1000, err.downloaded)
  end)

  it("gives up connecting after connect_timeout to a host that never answers", function()
    local port, stop = env.unanswered_port()
    local quick <close> = core.session { connect_timeout = 1 }
    local t0 = core.now()
    local res, err = quick:request { url = "http://127.0.0.1:" .. port .. "/" }
    local took = core.now() - t0
    stop()
    assert.is_nil(res)
    assert.equal("OPERATION_TIMEDOUT", err.code)
    assert.matches("[Cc]onnect", err.message)
    assert.is_true(took >= 0.9 and took < 5, string.format("%.2f s", took))
  end)

  it("reports connection failures, truncated bodies and resets", function()
    local res, err = s:request { url = "http://127.0.0.1:1/" }
    assert.is_nil(res)
    assert.equal("COULDNT_CONNECT", err.code)
    assert.equal(7, err.curl_code)
    res, err = s:request { url = base .. "/truncate?n=100000&send=5000" }
    assert.is_nil(res)
    assert.equal("PARTIAL_FILE", err.code)
    res, err = s:request { url = base .. "/reset" }
    assert.is_nil(res)
    assert.is_truthy(err.code == "GOT_NOTHING" or err.code == "RECV_ERROR")
  end)

  it("calls the header hook with the request and sends what it returns", function()
    local seen
    local hooked = core.session { header_hook = function(method, u, headers)
      seen = { method = method, url = u, ct = headers["Content-Type"] }
      return { ["X-Signed"] = method .. " ok" }
    end }
    local res = assert(hooked:request { method = "POST", url = base .. "/echo", body = "{}",
      headers = { ["Content-Type"] = "application/json" } })
    assert.same({ method = "POST", url = base .. "/echo", ct = "application/json" }, seen)
    assert.equal("POST ok", json_of(res).headers["x-signed"])
    res = assert(hooked:request { url = base .. "/echo", header_hook = false })
    assert.is_nil(json_of(res).headers["x-signed"])
    hooked:close()
  end)

  it("rejects misuse before any I/O", function()
    assert.has_error(function() s:request { url = base, bogus = 1 } end,
      "ims.Session:request: unknown option 'bogus'")
    assert.has_error(function() s:request {} end, "ims.Session:request: missing required field 'url'")
    assert.has_error(function() s:request { url = base, timeout = "x" } end)
    assert.has_error(function() s:request { url = base, body = "a", body_file = "b" } end)
    assert.has_error(function() s:request { url = base, headers = { ["X-A"] = "a\r\nX-B: b" } } end)
    assert.has_error(function() s:request { url = base, download_digests = { "crc" } } end)
    assert.has_error(function() core.session { nope = true } end,
      "ims.core.session: unknown option 'nope'")
  end)

  it("returns FILE for an unreadable body file", function()
    local res, err = s:request { method = "PUT", url = base .. "/upload",
      body_file = env.tmp .. "/does/not/exist" }
    assert.is_nil(res)
    assert.equal("FILE", err.code)
  end)

  it("closes idempotently, through __close and __gc, and raises when used closed", function()
    local x = core.session {}
    x:close()
    x:close()
    assert.equal("ims.Session (closed)", tostring(x))
    assert.has_error(function() x:request { url = base } end, "attempt to use a closed ims.Session")
    do
      local y <close> = core.session {}
      assert.equal(200, y:request { url = base .. "/echo" }.status)
    end
    for _ = 1, 50 do core.session {} end
    collectgarbage()
    collectgarbage()
  end)

  it("hashes files already on disk", function()
    local path = env.tmpfile("fd.bin")
    env.write_random(path, 100000)
    local d = assert(core.file_digests(path, { "sha512", "md5" }))
    assert.equal(100000, d.bytes)
    assert.equal(env.sha512_file(path), d.sha512)
    assert.equal(env.md5_file(path), d.md5)
    local none, msg = core.file_digests(path .. ".missing", { "md5" })
    assert.is_nil(none)
    assert.matches("cannot read", msg)
  end)
end)
