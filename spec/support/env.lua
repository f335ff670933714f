-- The test environment `scripts/test` prepares, for specs: `local env = require "support.env"`.
--   env.glance_url  IMS_TEST_GLANCE_URL  a real OpenStack Glance (scripts/glance)
--   env.httpd_url   IMS_TEST_HTTPD_URL   the loopback test server (spec/support/httpd.py)
--   env.tmp         IMS_TEST_TMP         a scratch directory, removed after the run
-- Reading one of them raises when its variable is unset (run the specs with `make test`).
local env = {}

local vars = { glance_url = "IMS_TEST_GLANCE_URL", httpd_url = "IMS_TEST_HTTPD_URL",
  tmp = "IMS_TEST_TMP" }

setmetatable(env, { __index = function(_, key)
  local var = vars[key]
  if not var then return nil end
  local v = os.getenv(var)
  if v == nil or v == "" then
    error(string.format("spec/support/env.lua: %s is not set; run `make test` (or scripts/test)",
      var), 2)
  end
  return v
end })

-- The local stack (scripts/stack up): env.stack.IMS_ENDPOINT, env.stack.IMS_AK_A, ... as
-- written to DIR/env; reading a variable that is not set raises.
env.stack = setmetatable({}, { __index = function(_, name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(string.format("spec/support/env.lua: %s is not set; run `make test` (the stack is "
      .. "started by scripts/test)", name), 2)
  end
  return v
end })

env.project_a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
env.project_b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

-- Headers that make Glance (no Keystone) treat the request as user-a in project_a or user-b in
-- project_b.
function env.identity_headers(who)
  local project = ({ a = env.project_a, b = env.project_b })[who]
  if not project then error("env.identity_headers: who must be \"a\" or \"b\"", 2) end
  return {
    ["X-Identity-Status"] = "Confirmed",
    ["X-Project-Id"] = project,
    ["X-User-Id"] = "user-" .. who,
    ["X-Roles"] = "member,reader",
  }
end

local counter = 0

-- A fresh path in env.tmp ending in `name` (the file is not created).
function env.tmpfile(name)
  local dir = env.tmp
  while true do
    counter = counter + 1
    local path = string.format("%s/%d-%06x-%s", dir, counter, math.random(0, 0xffffff), name or "tmp")
    local f = io.open(path, "rb")
    if not f then return path end
    f:close()
  end
end

-- Writes `nbytes` bytes from /dev/urandom to `path`, 1 MiB at a time.
function env.write_random(path, nbytes)
  local src = assert(io.open("/dev/urandom", "rb"))
  local dst = assert(io.open(path, "wb"))
  local left = nbytes
  while left > 0 do
    local chunk = assert(src:read(math.min(left, 1024 * 1024)))
    assert(dst:write(chunk))
    left = left - #chunk
  end
  src:close()
  assert(dst:close())
  return path
end

-- Replaces the content of a file with `data`.
function env.write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
  return path
end

-- The whole content of a file (nil, msg when unreadable).
function env.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("a")
  f:close()
  return data
end

-- The /bytes/<n> pattern of spec/support/httpd.py: byte i = (i * 7 + i // 251) % 256, i counted
-- from 0 in the whole resource. It repeats every 251 * 256 = 64256 bytes.
local PERIOD = 251 * 256
local period
local function pattern_period()
  if not period then
    local parts, buf = {}, {}
    for i = 0, PERIOD - 1 do
      buf[#buf + 1] = (i * 7 + i // 251) % 256
      if #buf == 4096 or i == PERIOD - 1 then
        parts[#parts + 1] = string.char(table.unpack(buf))
        buf = {}
      end
    end
    period = table.concat(parts)
  end
  return period
end

-- What /bytes/<n> serves from offset `from` (default 0): bytes from .. n-1 of the pattern,
-- i.e. the body of a `Range: bytes=<from>-` answer. Builds the string in memory.
function env.pattern_bytes(n, from)
  from = from or 0
  if from >= n then return "" end
  local p = pattern_period()
  local off = from % PERIOD
  local len = n - from
  local reps = (off + len) // PERIOD + 1
  return string.rep(p, reps):sub(off + 1, off + len)
end

-- Writes the n bytes of /bytes/<n> to `path` (one period in memory at a time).
function env.pattern_file(path, n)
  local p = pattern_period()
  local f = assert(io.open(path, "wb"))
  local left = n
  while left > 0 do
    local piece = left >= PERIOD and p or p:sub(1, left)
    assert(f:write(piece))
    left = left - #piece
  end
  assert(f:close())
  return path
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function digest_file(tool, path)
  local p = assert(io.popen(tool .. " -b -- " .. shell_quote(path) .. " 2>/dev/null"))
  local out = p:read("a")
  p:close()
  local hex = out:match("^(%x+)")
  if not hex then error(string.format("env: %s failed for %s", tool, path), 3) end
  return hex
end

function env.sha512_file(path) return digest_file("sha512sum", path) end
function env.md5_file(path) return digest_file("md5sum", path) end

-- Runs the emulator's Python test module emulator/NAME.py (unittest, development mode so that
-- unclosed sockets and files warn); returns its exit status and output. Without LD_PRELOAD, as
-- for spawn below.
function env.emulator_unittest(name)
  local p = assert(io.popen("env -u LD_PRELOAD /usr/bin/python3 -X dev -m unittest emulator."
    .. name .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("a")
  p:close()
  return tonumber(out:match("rc=(%d+)%s*$")), out:gsub("rc=%d+%s*$", "")
end

-- Starts a helper process that prints "PORT PID" once listening; returns the port and a
-- function that stops it. Without LD_PRELOAD: under `make asan` that holds libasan, which the
-- helper must not load.
local function spawn(what, command)
  local p = assert(io.popen("exec env -u LD_PRELOAD " .. command, "r"))
  local port, pid = (p:read("l") or ""):match("^(%d+) (%d+)$")
  assert(port, what .. ": the helper did not start")
  return tonumber(port), function()
    os.execute("kill " .. pid .. " 2>/dev/null")
    p:close()
  end
end

-- A loopback port whose listen queue is full, so a connection attempt gets no answer at all
-- (its SYNs are dropped) until the returned function is called to close it: what a firewalled
-- or dead host looks like, for connect timeouts.
function env.unanswered_port()
  local script = table.concat({
    "import os, socket, sys, time",
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
    "port = s.getsockname()[1]; held = []",
    "for _ in range(3):",
    "    c = socket.socket(); c.setblocking(False); held.append(c)",
    "    try: c.connect(('127.0.0.1', port))",
    "    except BlockingIOError: pass",
    "time.sleep(0.3)",
    "print(port, os.getpid(), flush=True)",
    "time.sleep(120)",
  }, "\n")
  return spawn("env.unanswered_port", "/usr/bin/python3 -c " .. shell_quote(script))
end

local SUPPORT = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

-- spec/support/netpeers.py (a TLS server, a forward proxy) with these arguments: its port and
-- a function that stops it.
function env.netpeer(...)
  local args = {}
  for i, a in ipairs { ... } do args[i] = shell_quote(a) end
  return spawn("env.netpeer", "/usr/bin/python3 " .. shell_quote(SUPPORT .. "netpeers.py") .. " "
    .. table.concat(args, " "))
end

-- spec/support/hostile.py, a misbehaving server with two origins. Returns a table:
--   h.url, h.other      "http://127.0.0.1:PORT" of the main and the other origin
--   h:routes{[path] = {response, ...}}   what each path answers (see hostile.py)
--   h:log()             every request seen: {port, method, target, raw, body_len}
--   h:reset()           forget routes and log
--   h:stop()
function env.hostile()
  local core = require "ims.core"
  local json = require "ims.json"
  local p = assert(io.popen("exec env -u LD_PRELOAD /usr/bin/python3 "
    .. shell_quote(SUPPORT .. "hostile.py"), "r"))
  local port, other, pid = (p:read("l") or ""):match("^(%d+) (%d+) (%d+)$")
  assert(port, "env.hostile: the helper did not start")
  local s = core.session { stall_timeout = 10 }
  local h = { url = "http://127.0.0.1:" .. port, other = "http://127.0.0.1:" .. other }
  local function admin(method, path, body)
    local res = assert(s:request { method = method, url = h.url .. "/_hostile/" .. path,
      body = body and json.encode(body), timeout = 10 })
    assert(res.status == 200, res.body)
    return json.decode(res.body)
  end
  function h.routes(_, t) return admin("PUT", "routes", t) end
  function h.log() return admin("GET", "log") end
  function h.reset() return admin("POST", "reset") end
  function h.stop()
    s:close()
    os.execute("kill " .. pid .. " 2>/dev/null")
    p:close()
  end
  return h
end

-- A self-signed certificate for 127.0.0.1 in `dir`: returns the certificate and key paths.
function env.self_signed(dir)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  assert(os.execute("env -u LD_PRELOAD openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
    .. "-addext subjectAltName=IP:127.0.0.1 -keyout " .. shell_quote(key) .. " -out "
    .. shell_quote(cert) .. " >/dev/null 2>&1"), "env.self_signed: openssl failed")
  return cert, key
end

return env
