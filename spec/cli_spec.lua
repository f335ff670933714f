-- The `ims` command, driven as a user would: arguments, environment, output, exit codes; every
-- command of the command table both piped and in a pseudo-terminal (the table-driven block at the end).
local env = require "support.env"
local json = require "ims.json"
local raw = require "support.raw"

local S = env.stack

-- The command line running bin/ims with the stack's AK/SK (project A) in the environment.
local function ims_command(args, extra_env)
  local vars = {
    LUA_PATH_5_4 = "lua/?.lua;lua/?/init.lua;;",
    LUA_CPATH_5_4 = (os.getenv("IMS_TEST_CPATH") or "build/?.so") .. ";;",
    IMS_ENDPOINT = S.IMS_ENDPOINT, HUAWEICLOUD_SDK_AK = S.IMS_AK_A, HUAWEICLOUD_SDK_SK = S.IMS_SK_A,
    HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_A,
  }
  for k, v in pairs(extra_env or {}) do vars[k] = v end
  local cmd = { "env -u OS_AUTH_URL -u IMS_TOKEN" }
  for k, v in pairs(vars) do cmd[#cmd + 1] = k .. "='" .. v .. "'" end
  cmd[#cmd + 1] = "lua5.4 bin/ims " .. args
  return table.concat(cmd, " ")
end

-- Runs bin/ims with the stack's AK/SK in the environment; returns stdout, stderr, exit code.
local function ims(args, extra_env)
  local errf = env.tmpfile("cli.err")
  local p = io.popen(ims_command(args, extra_env) .. " 2>" .. errf .. " </dev/null; echo \"rc=$?\"")
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

-- Runs bin/ims in a pseudo-terminal (script(1)), stdout and stderr both on it as at a shell;
-- returns the transcript (CR LF made LF) as stdout and as stderr, and the exit code.
local function ims_tty(args, extra_env)
  local sh = env.tmpfile("tty.sh")
  local preload = os.getenv("LD_PRELOAD") or ""
  -- script(1) runs without the sanitizer preload (make asan); lua5.4 inside gets it back
  env.write(sh, (preload ~= "" and ("export LD_PRELOAD='" .. preload .. "'\n") or "")
    .. "exec " .. ims_command(args, extra_env) .. "\n")
  local transcript = env.tmpfile("tty.out")
  local p = io.popen("env -u LD_PRELOAD script -qec 'sh " .. sh .. "' /dev/null </dev/null >" .. transcript
    .. " 2>&1; echo rc=$?")
  local rc = tonumber(p:read("a"):match("rc=(%d+)"))
  p:close()
  local text = assert(env.read(transcript)):gsub("\r\n", "\n")
  return text, text, rc
end

-- Every command of the command table (lua/ims/cli/commands.lua), each run both ways: piped
-- (stdout and stderr apart, no terminal) and in a pseudo-terminal. Each case makes what it
-- needs with the SDK, runs a representative invocation and checks the output, the exit code
-- and what changed on the server (through the SDK).
describe("every ims command, in a pseudo-terminal and piped", function()
  local ims_sdk = require "ims"
  local cli = require "ims.cli"
  require "ims.cli.commands" -- fills cli.commands / cli.order

  local A, B, A2
  local made, made2 = {}, {}
  local obs_env, b_env
  local UUIDP = "%x+%-%x+%-%x+%-%x+%-%x+"

  local function sdk(ak, sk, project, endpoint)
    return ims_sdk.new { endpoint = endpoint or S.IMS_ENDPOINT, project_id = project,
      obs_endpoint = S.IMS_OBS_ENDPOINT, auth = { ak = ak, sk = sk } }
  end

  setup(function()
    raw.admin("POST", "/jobs", { duration = 0.3 })
    A = sdk(S.IMS_AK_A, S.IMS_SK_A, S.IMS_PROJECT_A)
    B = sdk(S.IMS_AK_B, S.IMS_SK_B, S.IMS_PROJECT_B)
    A2 = sdk(S.IMS_AK_A, S.IMS_SK_A, S.IMS_PROJECT_A_2, S.IMS_ENDPOINT_2)
    obs_env = { IMS_OBS_ENDPOINT = S.IMS_OBS_ENDPOINT, HUAWEICLOUD_SDK_REGION = S.IMS_REGION }
    b_env = { HUAWEICLOUD_SDK_AK = S.IMS_AK_B, HUAWEICLOUD_SDK_SK = S.IMS_SK_B,
      HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_B }
  end)

  teardown(function()
    for _, id in ipairs(made) do
      A.images:update(id, { protected = false })
      A.images:delete(id, { ignore_missing = true })
    end
    for _, id in ipairs(made2) do A2.images:delete(id, { ignore_missing = true }) end
    A:close(); B:close(); A2:close()
  end)

  local function keep(id)
    made[#made + 1] = id
    return id
  end

  -- A queued image of project A (attrs added to a unique name, raw, bare).
  local function image(mode, attrs)
    local a = { name = unique("every-" .. mode), disk_format = "raw", container_format = "bare" }
    for k, v in pairs(attrs or {}) do a[k] = v end
    local img = assert(A.images:create(a))
    keep(img.id)
    return img
  end

  -- An active image holding `bytes` random bytes, tagged "every"; returns it and its file.
  local function data_image(mode, bytes)
    local file = env.tmpfile("every.raw")
    env.write_random(file, bytes or 64 * 1024)
    local img = assert(A.images:import(file, { name = unique("every-data-" .. mode), disk_format = "raw",
      container_format = "bare", tags = { "every" } }))
    keep(img.id)
    return img, file
  end

  -- An image shared with project B, its member pending.
  local function shared_image(mode)
    local img = image(mode, { visibility = "shared" })
    assert(A.images:create_member(img, S.IMS_PROJECT_B))
    return img
  end

  -- An object of `bytes` random bytes in the bucket; returns its key and the local file.
  local function object(key, bytes)
    local file = env.tmpfile(key:match("[^/]+$"))
    env.write_random(file, bytes or 4096)
    assert(A.obs:put(S.IMS_BUCKET, key, file))
    return key, file
  end

  local function gone(res, err)
    assert.is_nil(res)
    assert.equal(404, err.status)
  end

  local function sorted(t)
    local c = { table.unpack(t) }
    table.sort(c)
    return c
  end

  -- The transfer progress each way: a bar redrawn in place on a terminal, lines piped.
  local function progressed(mode, label, err)
    if mode == "tty" then
      assert.truthy(err:find("\r" .. label .. " [" .. string.rep("#", 30) .. "] 100%", 1, true), err)
    else
      assert.matches(label .. " 100%% %(%d+ of %d+ bytes%)\n", err)
      assert.is_nil(err:find("\r", 1, true))
    end
  end

  local function sha512_of_image(c, id)
    return assert(c.images:download(id, function() end, { digests = { "sha512" } })).sha512
  end

  local CASES = {}

  CASES["images list"] = function(m, run)
    local img = data_image(m)
    local out, err, rc = run("images list --name " .. img.name .. " --long")
    assert.equal(0, rc, err)
    assert.matches("| ID%s+| Name%s+| Status%s+| Size%s+| Disk Format%s+| Visibility%s+| Tags%s+|", out)
    assert.matches("| " .. lit(img.id) .. " | " .. lit(img.name) .. " | active | 65536 | raw%s+| shared%s+| every%s+|",
      out)
    out, err, rc = run("images list --name=" .. img.name .. " --status queued -f value -c id")
    assert.equal(0, rc, err)
    assert.equal("", out) -- the filter reached the server
  end

  CASES["images show"] = function(m, run)
    local img = data_image(m)
    local out, err, rc = run("images show " .. img.name .. " -f json")
    assert.equal(0, rc, err)
    local doc = json.decode(out)
    assert.same({ img.id, img.name, "active", img.os_hash_value, { "every" } },
      { doc.id, doc.name, doc.status, doc.os_hash_value, doc.tags })
    err, rc = select(2, run("images show no-such-" .. img.name))
    assert.equal(1, rc)
    assert.matches("no image named 'no%-such%-", err)
  end

  CASES["images create"] = function(m, run)
    local file = env.tmpfile("create.qcow2")
    env.write_random(file, 256 * 1024)
    local name = unique("every-create-" .. m)
    local out, err, rc = run("images create " .. name .. " --disk-format=qcow2 --container-format bare"
      .. " --min-disk 2 --min-ram=128 --property os_distro=debian --property=k=v --tag T1 --tag=T2"
      .. " --shared --protected --file " .. file)
    assert.equal(0, rc, err)
    local id = out:match("| id%s+| (" .. UUIDP .. ")%s+|")
    assert.is_string(id, out)
    keep(id)
    assert.matches("| name%s+| " .. lit(name) .. "%s+|", out) -- Field | Value, as openstack shows it
    assert.matches("| protected%s+| true%s+|", out)
    progressed(m, "upload", err)
    local img = assert(A.images:get(id))
    assert.same({ name, "qcow2", "bare", 2, 128, "debian", "v", "shared", true, "active", 256 * 1024 },
      { img.name, img.disk_format, img.container_format, img.min_disk, img.min_ram, img.os_distro, img.k,
        img.visibility, img.protected, img.status, img.size })
    assert.same({ "T1", "T2" }, sorted(img.tags))
    assert.equal("sha512", img.os_hash_algo)
    assert.equal(env.sha512_file(file), img.os_hash_value)
    -- no --file: a queued image; openstack's visibility flags; -f/-c before the command
    out, err, rc = run("-f value -c id -c status -c visibility images create " .. name .. "-q --community")
    assert.equal(0, rc, err)
    local qid = out:match("^(" .. UUIDP .. ")\nqueued\ncommunity\n$")
    assert.is_string(qid, out)
    keep(qid)
    assert.equal("community", assert(A.images:get(qid)).visibility)
    -- misuse: exit 2 before any request
    for args, says in pairs {
      ["images create " .. name .. "-x --public --private"] = "give one visibility %(%-%-public and %-%-private%)",
      ["images create " .. name .. "-x --property min_disk=3"] = "use %-%-min%-disk",
      ["images create " .. name .. "-x --protected --unprotected"] = "not both",
      ["images create " .. name .. "-x --visibility=everyone"] = "%-%-visibility must be public, private",
      ["images create " .. name .. "-x --min-disk=big"] = "%-%-min%-disk must be a number",
      ["images create " .. name .. "-x --file /nonexistent"] = "cannot read /nonexistent",
      ["images create"] = "wrong number of arguments",
    } do
      err, rc = select(2, run(args))
      assert.equal(2, rc, args)
      assert.matches(says, err)
    end
    assert.equal(0, #assert(A.images:list { name = name .. "-x" }))
  end

  CASES["images upload"] = function(m, run)
    local file = env.tmpfile("up.raw")
    env.write_random(file, 512 * 1024)
    local name = unique("every-upload-" .. m)
    local out, err, rc = run("images upload " .. file .. " --name " .. name .. " --tag up --private --min-disk=1")
    assert.equal(0, rc, err)
    local id = out:match("(" .. UUIDP .. ")\n$")
    assert.is_string(id, out)
    keep(id)
    if m == "piped" then assert.equal(id .. "\n", out) end -- only the id on stdout
    progressed(m, "upload", err)
    local img = assert(A.images:get(id))
    assert.same({ name, "active", 512 * 1024, "private", 1, { "up" } },
      { img.name, img.status, img.size, img.visibility, img.min_disk, img.tags })
    assert.equal(env.sha512_file(file), img.os_hash_value)
  end

  CASES["images download"] = function(m, run)
    local img, file = data_image(m, 300 * 1024)
    local dest = env.tmpfile("down.raw")
    local out, err, rc = run("images download " .. img.name .. " " .. dest)
    assert.equal(0, rc, err)
    assert.matches(lit(dest) .. " 307200 bytes, verified\n", out)
    progressed(m, "download", err)
    assert.equal(env.sha512_file(file), env.sha512_file(dest))
  end

  CASES["images delete"] = function(m, run)
    local x, y = image(m), image(m)
    local _, err, rc = run("images delete " .. x.id .. " " .. y.name)
    assert.equal(0, rc, err)
    gone(A.images:get(x.id))
    gone(A.images:get(y.id))
    _, err, rc = run("images delete 00000000-0000-0000-0000-000000000000")
    assert.equal(1, rc)
    assert.matches("DELETE [^\n]*: 404", err)
  end

  CASES["images set"] = function(m, run)
    local img = image(m)
    local _, err, rc = run("images set " .. img.name .. " --property os_distro=debian --min-disk=4"
      .. " --min-ram 64 --tag gold --shared --name " .. img.name .. "-renamed")
    assert.equal(0, rc, err)
    local now = assert(A.images:get(img.id))
    assert.same({ img.name .. "-renamed", "debian", 4, 64, "shared", { "gold" } },
      { now.name, now.os_distro, now.min_disk, now.min_ram, now.visibility, now.tags })
  end

  CASES["images unset"] = function(m, run)
    local img = image(m, { os_distro = "debian", tags = { "gold", "keep" } })
    local _, err, rc = run("images unset " .. img.id .. " --property os_distro --tag gold")
    assert.equal(0, rc, err)
    local now = assert(A.images:get(img.id))
    assert.is_nil(now.os_distro)
    assert.same({ "keep" }, now.tags)
  end

  CASES["images tag add"] = function(m, run)
    local img = image(m)
    local _, err, rc = run("images tag add " .. img.name .. " os=linux")
    assert.equal(0, rc, err)
    assert.same({ "os=linux" }, assert(A.images:get(img.id)).tags)
  end

  CASES["images tag remove"] = function(m, run)
    local img = image(m, { tags = { "a", "b" } })
    local _, err, rc = run("images tag remove " .. img.id .. " a")
    assert.equal(0, rc, err)
    assert.same({ "b" }, assert(A.images:get(img.id)).tags)
  end

  CASES["images member list"] = function(m, run)
    local img = shared_image(m)
    local out, err, rc = run("images member list " .. img.name .. " -f value -c member_id -c status")
    assert.equal(0, rc, err)
    assert.equal(S.IMS_PROJECT_B .. " pending\n", out)
    out, err, rc = run("images member list " .. img.id)
    assert.equal(0, rc, err)
    assert.matches("| " .. lit(img.id) .. " | " .. S.IMS_PROJECT_B .. " | pending |", out)
  end

  -- member create, share and add project: the image becomes shared, B a pending member
  local function shares(cmd)
    return function(m, run)
      local img = image(m)
      local out, err, rc = run(cmd .. " " .. img.name .. " " .. S.IMS_PROJECT_B)
      assert.equal(0, rc, err)
      assert.matches(lit(img.id) .. " shared with " .. S.IMS_PROJECT_B .. " %(pending%)\n", out)
      assert.equal("shared", assert(A.images:get(img.id)).visibility)
      assert.equal("pending", assert(B.images:get_member(img.id, S.IMS_PROJECT_B)).status)
    end
  end
  CASES["images member create"] = shares("images member create")
  CASES["images share"] = shares("images share")
  CASES["images add project"] = shares("images add project")

  -- member delete and remove project: B no longer sees the image
  local function unshares(cmd)
    return function(m, run)
      local img = shared_image(m)
      local _, err, rc = run(cmd .. " " .. img.id .. " " .. S.IMS_PROJECT_B)
      assert.equal(0, rc, err)
      assert.equal(0, #assert(A.images:list_members(img.id)))
      gone(B.images:get(img.id))
      _, err, rc = run(cmd .. " " .. img.id .. " " .. S.IMS_PROJECT_B) -- not a member any more
      assert.equal(1, rc)
      assert.matches("404", err)
    end
  end
  CASES["images member delete"] = unshares("images member delete")
  CASES["images remove project"] = unshares("images remove project")

  -- member accept and reject: refused to the owner (with a hint saying who can), done by B
  local function member_status(verb, status)
    return function(m, run)
      local img = shared_image(m)
      local _, err, rc = run("images member " .. verb .. " " .. img.id)
      assert.equal(1, rc, err)
      assert.matches("PUT [^\n]*: 403 ", err)
      assert.matches("\nhint: this client's project %(" .. S.IMS_PROJECT_A .. "%) is not a member of the image", err)
      assert.matches("with the member project's credentials", err)
      assert.equal("pending", assert(A.images:get_member(img.id, S.IMS_PROJECT_B)).status)
      local out
      out, err, rc = run("images member " .. verb .. " " .. img.id, b_env)
      assert.equal(0, rc, err)
      assert.equal(img.id .. " " .. status .. "\n", out)
      assert.equal(status, assert(A.images:get_member(img.id, S.IMS_PROJECT_B)).status)
    end
  end
  CASES["images member accept"] = member_status("accept", "accepted")
  CASES["images member reject"] = member_status("reject", "rejected")

  CASES["images import-file"] = function(m, run)
    local src = env.tmpfile("every-import.raw")
    env.write_random(src, 200 * 1024)
    local name = unique("every-import-" .. m)
    local out, err, rc = run("images import-file " .. src .. " --bucket " .. S.IMS_BUCKET .. " --name " .. name
      .. " --os-version 'Ubuntu 22.04 server 64bit'", obs_env)
    assert.equal(0, rc, err)
    local id = out:match("(" .. UUIDP .. ")\n$")
    assert.is_string(id, out)
    keep(id)
    assert.matches("obs route: raw, 204800 bytes", err)
    progressed(m, "upload", err)
    local img = assert(A.images:get(id))
    assert.same({ name, "active" }, { img.name, img.status })
    assert.equal(env.sha512_file(src), sha512_of_image(A, id))
  end

  CASES["obs put"] = function(m, run)
    local src = env.tmpfile("put.bin")
    env.write_random(src, 100 * 1024)
    local key = unique("every-obs-" .. m) .. "/put.bin"
    local out, err, rc = run("obs put " .. src .. " " .. S.IMS_BUCKET .. " " .. key, obs_env)
    assert.equal(0, rc, err)
    assert.matches(lit(S.IMS_BUCKET .. ":" .. key) .. " 102400 bytes, etag %x+\n", out)
    progressed(m, "upload", err)
    assert.equal(102400, assert(A.obs:head(S.IMS_BUCKET, key)).size)
    local back = env.tmpfile("put.back")
    assert(A.obs:get(S.IMS_BUCKET, key, back))
    assert.equal(env.sha512_file(src), env.sha512_file(back))
  end

  CASES["obs get"] = function(m, run)
    local key, src = object(unique("every-get-" .. m) .. "/get.bin", 150 * 1024)
    local dest = env.tmpfile("get.out")
    local out, err, rc = run("obs get " .. S.IMS_BUCKET .. " " .. key .. " " .. dest, obs_env)
    assert.equal(0, rc, err)
    assert.matches(lit(dest) .. " 153600 bytes\n", out)
    progressed(m, "download", err)
    assert.equal(env.sha512_file(src), env.sha512_file(dest))
    err, rc = select(2, run("obs get " .. S.IMS_BUCKET .. " " .. key .. ".none " .. dest, obs_env))
    assert.equal(1, rc)
    assert.matches("404 NoSuchKey", err)
  end

  CASES["obs list"] = function(m, run)
    local prefix = unique("every-list-" .. m)
    object(prefix .. "/a.bin", 2048)
    object(prefix .. "/b.bin", 4096)
    local out, err, rc = run("obs list " .. S.IMS_BUCKET .. " --prefix=" .. prefix .. "/ -f value -c key -c size",
      obs_env)
    assert.equal(0, rc, err)
    assert.equal(prefix .. "/a.bin 2048\n" .. prefix .. "/b.bin 4096\n", out)
  end

  CASES["obs delete"] = function(m, run)
    local k1 = object(unique("every-del-" .. m) .. "/1.bin")
    local k2 = object(unique("every-del-" .. m) .. "/2.bin")
    local _, err, rc = run("obs delete " .. S.IMS_BUCKET .. " " .. k1 .. " " .. k2, obs_env)
    assert.equal(0, rc, err)
    gone(A.obs:head(S.IMS_BUCKET, k1))
    gone(A.obs:head(S.IMS_BUCKET, k2))
  end

  CASES["cloudimages quota"] = function(_, run)
    local q = assert(A.cloudimages:quota()).resources[1]
    local out, err, rc = run("cloudimages quota -f json")
    assert.equal(0, rc, err)
    local rows = json.decode(out)
    assert.same({ "image", q.used, q.quota }, { rows[1].type, rows[1].used, rows[1].quota })
    out, err, rc = run("cloudimages quota")
    assert.equal(0, rc, err)
    assert.matches("| Type%s+| Used%s+| Quota%s+|\n[^\n]+\n| image | " .. q.used .. "%s+| " .. q.quota .. "%s+|", out)
  end

  CASES["cloudimages os-versions"] = function(_, run)
    local out, err, rc = run("cloudimages os-versions -f csv -c platform -c os_version")
    assert.equal(0, rc, err)
    assert.matches("^Platform,OS Version\n", out)
    assert.matches("\nUbuntu,Ubuntu 22%.04 server 64bit\n", out)
  end

  -- the job calls print JOB STATUS IMAGE with --wait: the image is there, named as asked
  local function job_image(out, name)
    local job, id = out:match("(%S+) SUCCESS (" .. UUIDP .. ")\n$")
    assert.is_string(id, out)
    keep(id)
    assert.equal("SUCCESS", assert(A.jobs:get(job)).status)
    local img = assert(A.images:get(id))
    assert.same({ name, "active" }, { img.name, img.status })
    return img
  end

  CASES["cloudimages create"] = function(m, run)
    local name = unique("every-cc-" .. m)
    local body = json.encode { name = name, image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT, min_disk = 1 }
    local out, err, rc = run("cloudimages create --body '" .. body .. "' --wait --timeout 60")
    assert.equal(0, rc, err)
    job_image(out, name)
    err, rc = select(2, run("cloudimages create --body '{\"name\": 3}'"))
    assert.equal(2, rc)
    assert.matches("ims.cloudimages:create", err)
  end

  CASES["cloudimages quick-import"] = function(m, run)
    local key, src = object("quick/" .. unique("every-" .. m) .. ".zvhd2", 128 * 1024)
    local name = unique("every-qi-" .. m)
    local body = json.encode { name = name, min_disk = 40, os_version = "Ubuntu 22.04 server 64bit",
      image_url = S.IMS_BUCKET .. ":" .. key }
    local out, err, rc = run("cloudimages quick-import --body '" .. body .. "'") -- no --wait: the job id
    assert.equal(0, rc, err)
    local job = out:match("^(%x+)\n$")
    assert.is_string(job, out)
    local jobs = assert(A.jobs:wait_all({ job }, { interval = 0.1, timeout = 60 }))
    assert.equal("SUCCESS", jobs[1].status)
    keep(jobs[1].image_id)
    assert.equal(name, assert(A.images:get(jobs[1].image_id)).name)
    assert.equal(env.sha512_file(src), sha512_of_image(A, jobs[1].image_id))
  end

  CASES["cloudimages data-image"] = function(m, run)
    local name = unique("every-di-" .. m)
    local body = json.encode { name = name, min_disk = 40, image_url = S.IMS_BUCKET .. ":" .. S.IMS_IMPORT_OBJECT }
    local out, err, rc = run("cloudimages data-image --body '" .. body .. "' --wait")
    assert.equal(0, rc, err)
    job_image(out, name)
  end

  CASES["cloudimages whole-image"] = function(m, run)
    local name = unique("every-wi-" .. m)
    local f = env.write(env.tmpfile("whole.json"), json.encode { name = name, instance_id = S.IMS_INSTANCE_STOPPED })
    local out, err, rc = run("cloudimages whole-image --body @" .. f .. " --wait")
    assert.equal(0, rc, err)
    assert.equal("true", job_image(out, name).__whole_image)
  end

  CASES["cloudimages export"] = function(m, run)
    local img, file = data_image(m)
    local key = "exports/" .. unique("every-" .. m) .. ".qcow2"
    local out, err, rc = run("cloudimages export " .. img.name .. " --bucket-url " .. S.IMS_BUCKET .. ":" .. key
      .. " --file-format qcow2 --wait")
    assert.equal(0, rc, err)
    assert.matches("^%S+ SUCCESS", out)
    local back = env.tmpfile("export.back")
    assert(A.obs:get(S.IMS_BUCKET, key, back))
    assert.equal(env.sha512_file(file), env.sha512_file(back))
    err, rc = select(2, run("cloudimages export " .. img.id .. " --bucket-url " .. S.IMS_BUCKET .. ":x.qcow2"))
    assert.equal(2, rc)
    assert.matches("%-%-file%-format or %-%-quick is required", err)
  end

  CASES["cloudimages register"] = function(m, run)
    local queued = image(m)
    local out, err, rc = run("cloudimages register " .. queued.name .. " " .. S.IMS_BUCKET .. ":"
      .. S.IMS_IMPORT_OBJECT .. " --wait")
    assert.equal(0, rc, err)
    assert.matches("^%S+ SUCCESS", out)
    local now = assert(A.images:get(queued.id))
    assert.equal("active", now.status)
    assert.equal(assert(A.obs:head(S.IMS_BUCKET, S.IMS_IMPORT_OBJECT)).size, now.size)
  end

  CASES["cloudimages copy"] = function(m, run)
    local img, file = data_image(m)
    local name = unique("every-copy-" .. m)
    local out, err, rc = run("cloudimages copy " .. img.name .. " --name " .. name .. " --wait")
    assert.equal(0, rc, err)
    local copy = job_image(out, name)
    assert.is_true(copy.id ~= img.id)
    assert.equal(env.sha512_file(file), sha512_of_image(A, copy.id))
  end

  CASES["cloudimages replicate"] = function(m, run)
    local img = data_image(m)
    local out, err, rc = run("cloudimages replicate " .. img.id .. " " .. S.IMS_REGION_2
      .. " --agency " .. S.IMS_AGENCY .. " --timeout 60")
    assert.equal(0, rc, err)
    assert.matches("| Region%s+| Image ID%s+| Error%s+|", out)
    local copy = out:match("| " .. lit(S.IMS_REGION_2) .. "%s+| (" .. UUIDP .. ") |")
    assert.is_string(copy, out)
    made2[#made2 + 1] = copy
    local there = assert(A2.images:get(copy)) -- in the target region's project
    assert.same({ img.name, S.IMS_PROJECT_A_2 }, { there.name, there.owner })
    -- a region that fails: its row says why, exit 1
    out, err, rc = run("-f json cloudimages replicate " .. img.id .. " eu-west-0 --agency " .. S.IMS_AGENCY
      .. " --timeout 60")
    assert.equal(1, rc, err)
    local rows = json.decode(out)
    assert.equal("eu-west-0", rows[1].region)
    assert.is_nil(rows[1].image_id)
    assert.matches("IMG%.0001", rows[1].error)
  end

  CASES["jobs wait"] = function(m, run)
    local function job(name)
      return raw.call { method = "POST", path = "/v1/cloudimages/wholeimages/action",
        json = { name = name, instance_id = S.IMS_INSTANCE_STOPPED } }.json.job_id
    end
    local n1, n2 = unique("every-jw-" .. m), unique("every-jw-" .. m)
    local j1, j2 = job(n1), job(n2)
    local out, err, rc = run("jobs wait " .. j1 .. " " .. j2 .. " --interval 0.1")
    assert.equal(0, rc, err)
    for j, name in pairs { [j1] = n1, [j2] = n2 } do
      local id = out:match(lit(j) .. " SUCCESS (" .. UUIDP .. ")\n")
      assert.is_string(id, out)
      keep(id)
      assert.equal(name, assert(A.images:get(id)).name)
      if m == "tty" then
        assert.matches(lit(j) .. "%s+%[####################%] 100%% SUCCESS", err)
      else
        assert.equal(1, select(2, err:gsub(lit(j) .. " SUCCESS\n", "")), err)
      end
    end
    if m == "tty" then assert.truthy(err:find("\27[K", 1, true), "redrawn in place") end
    local bad = raw.call { method = "POST", path = "/v2/cloudimages/action", json = { name = unique("every-jf"),
      image_url = S.IMS_BUCKET .. ":missing.raw", min_disk = 40 } }.json.job_id
    out, err, rc = run("jobs wait " .. bad .. " --interval 0.1")
    assert.equal(3, rc, err)
    assert.matches(lit(bad) .. " FAIL IMG%.0057", out)
  end

  local RUN = { piped = ims, tty = ims_tty }

  it("has a case for every command in the command table, and none for a command it lacks", function()
    local missing = {}
    for _, name in ipairs(cli.order) do
      if not CASES[name] then missing[#missing + 1] = name end
    end
    assert.same({}, missing)
    for name in pairs(CASES) do assert.is_table(cli.commands[name], "a case for no command: " .. name) end
    assert.is_true(#cli.order >= 34)
  end)

  for _, name in ipairs(cli.order) do
    for _, mode in ipairs { "piped", "tty" } do
      it(name .. " (" .. (mode == "tty" and "pseudo-terminal" or "piped") .. ")", function()
        local case = CASES[name]
        if not case then error("no case for `ims " .. name .. "` in spec/cli_spec.lua") end
        case(mode, RUN[mode])
      end)
    end
  end
end)
