-- The `ims` command, driven as a user would: arguments, environment, output, exit codes.
local env = require "support.env"
local json = require "ims.json"
local raw = require "support.raw"

local S = env.stack

-- Runs bin/ims with the stack's AK/SK in the environment; returns stdout, stderr, exit code.
local function ims(args, extra_env)
  local errf = env.tmpfile("cli.err")
  local vars = {
    LUA_PATH_5_4 = "lua/?.lua;lua/?/init.lua;;",
    LUA_CPATH_5_4 = (os.getenv("IMS_TEST_CPATH") or "build/?.so") .. ";;",
    IMS_ENDPOINT = S.IMS_ENDPOINT, HUAWEICLOUD_SDK_AK = S.IMS_AK_A, HUAWEICLOUD_SDK_SK = S.IMS_SK_A,
    HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_A,
  }
  for k, v in pairs(extra_env or {}) do vars[k] = v end
  local cmd = { "env -u OS_AUTH_URL -u IMS_TOKEN" }
  for k, v in pairs(vars) do cmd[#cmd + 1] = k .. "='" .. v .. "'" end
  cmd[#cmd + 1] = "lua5.4 bin/ims " .. args .. " 2>" .. errf .. " </dev/null; echo \"rc=$?\""
  local p = io.popen(table.concat(cmd, " "))
  local out = p:read("a")
  p:close()
  local f = io.open(errf)
  local err = f and f:read("a") or ""
  if f then f:close() end
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), err, rc
end

local function lit(s) return (s:gsub("%p", "%%%0")) end

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

describe("the ims command", function()
  it("explains itself", function()
    local out, _, rc = ims("--help")
    assert.equal(0, rc)
    assert.matches("images upload%s+create an image", out)
    for _, sub in ipairs { "images list", "images upload", "images download", "images share", "jobs wait",
        "images show", "images set", "images member list", "obs put", "cloudimages export" } do
      local o, _, r = ims(sub .. " --help")
      assert.equal(0, r, sub)
      assert.matches("usage: ims " .. sub, o)
    end
    local _, err, bad = ims("images frobnicate")
    assert.equal(2, bad)
    assert.matches("unknown command", err)
    _, err, bad = ims("images list --colour red")
    assert.equal(2, bad)
    assert.matches("unknown option %-%-colour", err)
    _, err, bad = ims("images upload /nonexistent --name x")
    assert.equal(2, bad)
    assert.matches("cannot read /nonexistent", err)
  end)

  it("uploads, lists, shares and downloads", function()
    local file = env.tmpfile("cli.raw")
    env.write_random(file, 3 * 1024 * 1024)
    local name = unique("cli")
    local out, err, rc = ims("images upload " .. file .. " --name " .. name .. " --tag os=linux")
    assert.equal(0, rc, err)
    local id = out:match("^(%x+%-[%x%-]+)%s*$")
    assert.is_string(id, out)
    assert.matches("upload 100%%", err) -- not a terminal: plain progress lines
    -- --reuse: the same bytes under the same name are the image already there
    local again
    again, err, rc = ims("--json images upload " .. file .. " --name " .. name .. " --reuse")
    assert.equal(0, rc, err)
    assert.equal(id, json.decode(again).id)
    assert.is_true(json.decode(again).reused)
    out, err, rc = ims("images list --name " .. name)
    assert.equal(0, rc, err)
    assert.matches("| ID%s+| Name%s+| Status%s+| Size%s+|", out) -- a table with headers
    assert.matches("| " .. lit(id) .. " | " .. lit(name) .. "%s+| active | 3145728 |", out)
    local _
    out, _, rc = ims("--json images list --tag os=linux --name " .. name)
    assert.equal(0, rc)
    local docs = json.decode(out)
    assert.equal(1, #docs)
    assert.equal(id, docs[1].id)
    out, err, rc = ims("images share " .. id .. " " .. S.IMS_PROJECT_B)
    assert.equal(0, rc, err)
    assert.matches("shared with " .. S.IMS_PROJECT_B .. " %(pending%)", out)
    local dest = env.tmpfile("cli-back.raw")
    out, err, rc = ims("images download " .. id .. " " .. dest)
    assert.equal(0, rc, err)
    assert.matches("3145728 bytes, verified", out)
    assert.equal(env.sha512_file(file), env.sha512_file(dest))
    local _, nerr, nrc = ims("images download 00000000-0000-0000-0000-000000000000 " .. dest)
    assert.equal(1, nrc)
    assert.matches("^ims: GET [^\n]*404", nerr) -- one "ims:" prefix
    assert.matches("\nhint: not found", nerr)
  end)

  it("waits for jobs with exit codes scripts can rely on", function()
    local function job(body, path)
      return raw.call { method = "POST", path = path or "/v1/cloudimages/wholeimages/action", json = body }.json.job_id
    end
    local ok1 = job { name = unique("cli-job"), instance_id = S.IMS_INSTANCE_STOPPED }
    local ok2 = job { name = unique("cli-job"), instance_id = S.IMS_INSTANCE_STOPPED }
    local out, err, rc = ims("jobs wait " .. ok1 .. " " .. ok2 .. " --interval 0.2")
    assert.equal(0, rc, err)
    assert.matches(lit(ok1) .. " SUCCESS %x", out)
    assert.matches(lit(ok2) .. " SUCCESS %x", out)
    local bad = job({ name = unique("cli-fail"), image_url = S.IMS_BUCKET .. ":missing.raw", min_disk = 40 },
      "/v2/cloudimages/action")
    out, err, rc = ims("--json jobs wait " .. bad .. " --interval 0.2")
    assert.equal(3, rc, err)
    assert.equal("IMG.0057", json.decode(out)[1].error_code)
    assert.matches("hint: IMS could not read the object", err)
    raw.admin("POST", "/jobs", { duration = 3 })
    local slow = job { name = unique("cli-slow"), instance_id = S.IMS_INSTANCE_STOPPED }
    raw.admin("POST", "/jobs", { duration = 0.3 })
    local _
    _, err, rc = ims("jobs wait " .. slow .. " --interval 0.2 --timeout 0.5")
    assert.equal(4, rc, err)
    assert.matches("timeout", err)
  end)

  it("shows, sets, unsets, tags, shares and deletes by name, in every output format", function()
    local file = env.tmpfile("cli-crud.raw")
    env.write_random(file, 4096)
    local name = unique("cli-crud")
    local id = (ims("images upload " .. file .. " --name " .. name)):match("^(%S+)")
    local _, err, rc = ims("images set " .. name .. " --property os_distro=debian --tag golden --min-disk=3")
    assert.equal(0, rc, err)
    local out
    out, err, rc = ims("-f json images show " .. name)
    assert.equal(0, rc, err)
    local doc = json.decode(out)
    assert.same({ id, "debian", 3 }, { doc.id, doc.os_distro, doc.min_disk })
    assert.same({ "golden" }, doc.tags)
    out = ims("images show " .. id .. " -c name -c min_disk -f value")
    assert.equal(name .. "\n3\n", out)
    out = ims("images show " .. name)
    assert.matches("| Field%s+| Value%s+|", out)
    assert.matches("| os_distro%s+| debian%s+|", out)
    assert.matches("^name: " .. lit(name) .. "$", (ims("images show " .. id .. " -f yaml -c name")):gsub("\n$", ""))
    out = ims("images list --name " .. name .. " -f csv -c id -c tags")
    assert.equal("ID,tags\n" .. id .. ",golden\n", out)
    _, err, rc = ims("images unset " .. name .. " --property os_distro --tag golden")
    assert.equal(0, rc, err)
    out = ims("-f json images show " .. id)
    assert.is_nil(json.decode(out).os_distro)
    assert.matches('"tags":%[%]', out) -- an empty list stays [] in JSON
    assert.equal(0, select(3, ims("images tag add " .. name .. " t1")))
    assert.same({ "t1" }, json.decode((ims("--json images show " .. id))).tags)
    assert.equal(0, select(3, ims("images tag remove " .. id .. " t1")))
    -- members, openstack style
    _, err, rc = ims("images add project " .. name .. " " .. S.IMS_PROJECT_B)
    assert.equal(0, rc, err)
    out = ims("images member list " .. name .. " -f value -c member_id -c status")
    assert.equal(S.IMS_PROJECT_B .. " pending\n", out)
    local b_env = { HUAWEICLOUD_SDK_AK = S.IMS_AK_B, HUAWEICLOUD_SDK_SK = S.IMS_SK_B,
      HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_B }
    out, err, rc = ims("images member accept " .. id, b_env)
    assert.equal(0, rc, err)
    assert.matches("accepted", out)
    assert.equal(0, select(3, ims("images remove project " .. id .. " " .. S.IMS_PROJECT_B)))
    -- ambiguous names are refused, unknown ones too
    local twin = (ims("images upload " .. file .. " --name " .. name)):match("^(%S+)")
    local _, aerr, arc = ims("images show " .. name)
    assert.equal(1, arc)
    assert.matches("more than one image is named", aerr)
    _, aerr, arc = ims("images show no-such-" .. name)
    assert.equal(1, arc)
    assert.matches("no image named", aerr)
    _, err, rc = ims("images delete " .. id .. " " .. twin)
    assert.equal(0, rc, err)
    assert.equal(1, select(3, ims("images show " .. id)))
  end)

  it("has help, version, completion and openstack-style --opt=value parsing", function()
    local out, _, rc = ims("help images set")
    assert.equal(0, rc)
    assert.matches("^usage: ims images set IMAGE", out)
    out, _, rc = ims("images --help")
    assert.equal(0, rc)
    assert.matches("images member accept", out)
    out, _, rc = ims("--version")
    assert.equal(0, rc)
    assert.matches("^ims %d+%.%d+%.%d+ %(ims%.core", out)
    out, _, rc = ims("completion bash")
    assert.equal(0, rc)
    assert.matches("complete %-F _ims ims", out)
    assert.matches('"images set"%) opts="[^"]*%-%-min%-disk', out)
    -- the completion really completes: bash with the function loaded
    local script = env.tmpfile("complete.sh")
    local f = assert(io.open(script, "w"))
    f:write(out, '\nCOMP_WORDS=(ims images se); COMP_CWORD=2; _ims; echo "${COMPREPLY[*]}"\n',
      'COMP_WORDS=(ims images set x --min); COMP_CWORD=4; _ims; echo "${COMPREPLY[*]}"\n')
    f:close()
    local p = io.popen("bash " .. script)
    local got = p:read("a")
    p:close()
    assert.equal("set\n--min-disk --min-ram\n", got)
    local _, err, bad = ims("images list --name=x --status")
    assert.equal(2, bad)
    assert.matches("%-%-status needs a value", err)
    _, err, bad = ims("images list -f xml")
    assert.equal(2, bad)
    assert.matches("%-f must be", err)
    _, err, bad = ims("images list -c nope")
    assert.equal(2, bad)
    assert.matches("no column 'nope'", err)
  end)

  it("drives the IMS-native calls: quota, os-versions, create --body --wait, export, copy", function()
    local out, err, rc = ims("cloudimages quota -f value -c type")
    assert.equal(0, rc, err)
    assert.equal("image\n", out)
    out, err, rc = ims("cloudimages os-versions -f csv -c os_version")
    assert.equal(0, rc, err)
    assert.matches("\nUbuntu 22%.04 server 64bit\n", out)
    local body = json.encode { name = unique("cli-create"), image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT,
      min_disk = 1 }
    out, err, rc = ims("cloudimages create --body '" .. body .. "' --wait --timeout 60")
    assert.equal(0, rc, err)
    local job, id = out:match("^(%S+) SUCCESS (%S+)\n$")
    assert.is_string(id, out)
    out, err, rc = ims("cloudimages copy " .. id .. " --name " .. unique("cli-copy") .. " --wait")
    assert.equal(0, rc, err)
    local copy = out:match("SUCCESS (%S+)")
    assert.is_string(copy, out)
    out, err, rc = ims("cloudimages export " .. copy .. " --bucket-url " .. S.IMS_BUCKET .. ":cli/"
      .. unique("e") .. ".qcow2 --file-format qcow2 --wait")
    assert.equal(0, rc, err)
    assert.matches("SUCCESS", out)
    -- register: a queued image gets the object's bytes
    local _
    local sdk = require("ims").new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A,
      auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
    local queued = assert(sdk.images:create { name = unique("cli-reg"), disk_format = "raw",
      container_format = "bare" })
    out, err, rc = ims("cloudimages register " .. queued.id .. " " .. S.IMS_BUCKET .. ":"
      .. S.IMS_IMPORT_OBJECT .. " --wait")
    assert.equal(0, rc, err)
    assert.matches("SUCCESS", out)
    assert.equal("active", assert(sdk.images:get(queued.id)).status)
    _, err, rc = ims("cloudimages register " .. queued.id .. " notbucketobject")
    assert.equal(2, rc, err)
    assert.matches("bucket:object", err)
    assert(sdk.images:delete(queued.id))
    sdk:close()
    -- a body that is not one: usage, before any request
    _, err, rc = ims("cloudimages create --body '{\"name\": 3}'")
    assert.equal(2, rc)
    assert.matches("ims.cloudimages:create", err)
    -- a job id that does not exist: a failed request (1), with the job's line, not "nil"
    out, err, rc = ims("jobs wait 00000000000000000000000000000000 --interval 0.1 --timeout 5")
    assert.equal(1, rc, err)
    assert.matches("^00000000000000000000000000000000 ERROR ims: GET", out)
    assert.is_nil(out:find("nil", 1, true))
    assert(job)
    assert.equal(0, select(3, ims("images delete " .. id .. " " .. copy)))
  end)

  it("works as project A with nothing but the stack's DIR/env sourced", function()
    local dir = os.getenv("IMS_TEST_TMP"):gsub("/scratch$", "") .. "/stack"
    local script = env.tmpfile("as-a.sh")
    local f = assert(io.open(script, "w"))
    f:write(". '", dir, "/env'\n",
      "export LUA_CPATH_5_4='", os.getenv("IMS_TEST_CPATH") or "build/?.so", ";;'\n",
      "lua5.4 bin/ims -f value -c type cloudimages quota || exit 1\n",
      "LUA_PATH_5_4='lua/?.lua;lua/?/init.lua;;' lua5.4 -e ",
      "'print(require(\"ims\").from_env().project_id)'\n")
    f:close()
    -- a clean environment: only PATH (and the sanitizer, under make asan)
    local p = io.popen("env -i PATH=\"$PATH\" LD_PRELOAD=\"${LD_PRELOAD:-}\" bash " .. script .. " 2>&1; echo rc=$?")
    local out = p:read("a")
    p:close()
    assert.equal("image\n" .. S.IMS_PROJECT_A .. "\nrc=0\n", out)
  end)

  it("scripts/env puts the clone on a shell's paths: require \"ims\" and ims from anywhere", function()
    assert(os.execute("env -u LD_PRELOAD make --no-print-directory -s >/dev/null"))
    local p = io.popen("env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 bash -c 'eval \"$(scripts/env)\" && cd / && "
      .. "lua5.4 -e \"print(require(\\\"ims\\\")._VERSION)\" && ims --version' 2>&1; echo rc=$?")
    local out = p:read("a")
    p:close()
    assert.matches("^%d+%.%d+%.%d+\nims %d+%.%d+%.%d+ %(ims%.core[^\n]*\nrc=0\n$", out)
  end)

  it("runs from a clone without any LUA_PATH", function()
    -- right after `make` (make valgrind / make asan build their own cores elsewhere)
    assert(os.execute("env -u LD_PRELOAD make --no-print-directory -s >/dev/null"))
    local p = io.popen("cd /tmp && env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LUA_PATH -u LUA_CPATH "
      .. "lua5.4 " .. os.getenv("PWD") .. "/bin/ims --version 2>&1; echo rc=$?")
    local out = p:read("a")
    p:close()
    assert.matches("^ims %d", out)
    assert.matches("rc=0", out)
  end)

  it("jobs wait draws a bar per job on a terminal, and one line per state change when piped", function()
    raw.admin("POST", "/jobs", { duration = 1.5 })
    local function job()
      return raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
        json = { name = unique("cli-bar"), instance_id = S.IMS_INSTANCE_STOPPED } }.json.job_id
    end
    local j1, j2 = job(), job()
    -- piped: each state once (percentages change in between), then the result lines
    local out, err, rc = ims("jobs wait " .. j1 .. " " .. j2 .. " --interval 0.1")
    assert.equal(0, rc, err)
    for _, j in ipairs { j1, j2 } do
      assert.equal(1, select(2, err:gsub(lit(j) .. " SUCCESS\n", "")), err)
      assert.is_true(select(2, err:gsub(lit(j) .. " RUNNING\n", "")) <= 1, err)
      assert.matches(lit(j) .. " SUCCESS %x", out)
    end
    -- in a pseudo-terminal (script(1)): bars redrawn in place, ending at 100 %
    local j3 = job()
    local tty = env.tmpfile("tty.out")
    -- script(1) itself runs without the sanitizer preload (make asan); lua5.4 inside gets it back
    local cmd = "LD_PRELOAD='" .. (os.getenv("LD_PRELOAD") or "") .. "' LUA_PATH_5_4='lua/?.lua;lua/?/init.lua;;' LUA_CPATH_5_4='"
      .. (os.getenv("IMS_TEST_CPATH") or "build/?.so") .. ";;' HUAWEICLOUD_SDK_AK=" .. S.IMS_AK_A
      .. " HUAWEICLOUD_SDK_SK=" .. S.IMS_SK_A .. " HUAWEICLOUD_SDK_PROJECT_ID=" .. S.IMS_PROJECT_A
      .. " lua5.4 bin/ims jobs wait " .. j3 .. " --interval 0.1"
    assert(os.execute("env -u LD_PRELOAD script -qec \"" .. cmd .. "\" " .. tty .. " >/dev/null 2>&1"))
    local text = assert(io.open(tty, "rb")):read("a")
    assert.matches(lit(j3) .. "%s+%[####################%] 100%% SUCCESS", text)
    assert.truthy(text:find("\27[K", 1, true), "redrawn in place")
    raw.admin("POST", "/jobs", { duration = 0.3 })
  end)

  it("says what configuration is missing", function()
    local _, err, rc = ims("images list", { IMS_ENDPOINT = "" })
    assert.equal(2, rc)
    assert.matches("endpoint", err)
    _, err, rc = ims("images list", { HUAWEICLOUD_SDK_AK = "", HUAWEICLOUD_SDK_SK = "" })
    assert.equal(2, rc)
    assert.matches("^ims: ims.from_env: no credentials in the environment", err)
  end)
end)

describe("the ims command with OBS", function()
  local obs_env
  setup(function()
    raw.admin("POST", "/jobs", { duration = 0.3 })
    obs_env = { IMS_OBS_ENDPOINT = S.IMS_OBS_ENDPOINT, HUAWEICLOUD_SDK_REGION = S.IMS_REGION }
  end)

  it("puts, lists and gets objects (--name=value style options too)", function()
    local src = env.tmpfile("cli-obs.bin")
    env.write_random(src, 200 * 1024)
    local prefix = unique("cli-obs")
    local _, out, err, rc
    out, err, rc = ims("obs put " .. src .. " " .. S.IMS_BUCKET .. " " .. prefix .. "/a.bin", obs_env)
    assert.equal(0, rc, err)
    assert.matches(lit(S.IMS_BUCKET .. ":" .. prefix .. "/a.bin") .. " 204800 bytes", out)
    out, err, rc = ims("obs list " .. S.IMS_BUCKET .. " --prefix=" .. prefix .. "/", obs_env)
    assert.equal(0, rc, err)
    assert.matches("| " .. lit(prefix .. "/a.bin") .. "%s+| 204800 |", out)
    local dest = env.tmpfile("cli-obs.out")
    _, err, rc = ims("obs get " .. S.IMS_BUCKET .. " " .. prefix .. "/a.bin " .. dest, obs_env)
    assert.equal(0, rc, err)
    local a, b = io.open(src, "rb"), io.open(dest, "rb")
    assert.equal(a:read("a"), b:read("a"))
    a:close(); b:close()
    _, err, rc = ims("obs get " .. S.IMS_BUCKET .. " " .. prefix .. "/none " .. dest, obs_env)
    assert.equal(1, rc)
    assert.matches("404 NoSuchKey", err)
  end)

  it("images import-file takes a file to an image, with progress, and --plan reports problems", function()
    local src = env.tmpfile("cli-import.raw")
    env.write_random(src, 300 * 1024)
    local name = unique("cli-import")
    local out, err, rc = ims("images import-file " .. src .. " --bucket " .. S.IMS_BUCKET .. " --name " .. name
      .. " --os-version 'Ubuntu 22.04 server 64bit'", obs_env)
    assert.equal(0, rc, err)
    local id = out:match("^(%S+)\n$")
    assert.is_string(id, out)
    assert.matches("obs route: raw, 307200 bytes", err)
    assert.matches("upload 100%%", err)
    local shown, _, rc2 = ims("--json images list --name " .. name)
    assert.equal(0, rc2)
    assert.equal(id, json.decode(shown)[1].id)
    -- the plan alone: every problem, exit 1
    _, err, rc = ims("images import-file " .. src .. " --bucket " .. S.IMS_BUCKET_COLD .. " --name " .. name
      .. " --os-version Nope --plan", obs_env)
    assert.equal(1, rc)
    assert.matches("problem: [^\n]*storage class COLD", err)
    assert.matches("problem: os_version 'Nope'", err)
    assert.matches("problem: an image named", err)
    raw.admin("DELETE", "/faults")
  end)
end)
