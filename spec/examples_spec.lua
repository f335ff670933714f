-- The examples run as a user would run them, against the test Glance.
local ims = require "ims"
local env = require "support.env"

local function run(script, args, vars)
  local cpath = os.getenv("IMS_TEST_CPATH") or "build/?.so"
  local cmd = { "LUA_PATH_5_4='lua/?.lua;lua/?/init.lua;;'", "LUA_CPATH_5_4='" .. cpath .. ";;'" }
  for k, v in pairs(vars) do cmd[#cmd + 1] = k .. "='" .. v .. "'" end
  cmd[#cmd + 1] = "lua5.4 " .. script .. " " .. table.concat(args, " ") .. " 2>&1; echo rc=$?"
  local p = io.popen(table.concat(cmd, " "))
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

describe("examples", function()
  it("glance_workflow.lua runs the whole workflow", function()
    local file = env.tmpfile("workflow.raw")
    env.write_random(file, 3 * 1024 * 1024 + 1)
    local out, rc = run("examples/glance_workflow.lua", { file }, {
      IMS_ENDPOINT = env.glance_url,
      IMS_TOKEN = "user-a:" .. env.project_a,
      HUAWEICLOUD_SDK_PROJECT_ID = env.project_a,
      IMS_CONSUMER_TOKEN = "user-b:" .. env.project_b,
      IMS_CONSUMER_PROJECT_ID = env.project_b,
    })
    assert.equal(0, rc, out)
    local id = out:match("created (%x+%-[%x%-]+)")
    assert.is_string(id, out)
    assert.matches("uploaded 3145729 bytes, sha512", out)
    assert.matches("upload%s+%[#+%] 100%%", out)
    assert.matches("shared with " .. env.project_b .. ": accepted", out)
    assert.is_truthy(out:find(id, 1, true))
    assert.matches("downloaded 3145729 bytes, sha512 verified", out)
    assert.matches("deleted " .. id:gsub("%-", "%%-"), out)
    local c <close> = ims.new { endpoint = env.glance_url, headers = env.identity_headers("a") }
    local gone, err = c.images:get(id)
    assert.is_nil(gone)
    assert.equal(404, err.status)
  end)

  it("golden_image.lua runs the IMS pipeline against the stack", function()
    -- the stack's DIR/env variables (IMS_ENDPOINT, IMS_AK_A, ...) are inherited from scripts/test
    local out, rc = run("examples/golden_image.lua", {}, {})
    assert.equal(0, rc, out)
    local golden = out:match("image (%x+%-[%x%-]+) active")
    assert.is_string(golden, out)
    assert.matches("import%s+SUCCESS", out)
    assert.matches("verified", out)
    assert.matches("consumer accepted", out)
    assert.matches("whole image%s+SUCCESS", out)
    assert.matches("export%s+SUCCESS", out)
    local object = out:match("exported to [^:]+:(%S+)")
    local f = assert(io.open(env.stack.IMS_BUCKET_DIR .. "/" .. object, "rb"))
    f:close()
    assert.matches("done%s*rc=0", out)
    local c <close> = ims.new { endpoint = env.glance_url, headers = env.identity_headers("a") }
    assert.equal(404, select(2, c.images:get(golden)).status)
  end)

  it("ims.from_env configures a client from the environment (AK/SK, token, IAM password)", function()
    local S = env.stack
    local script = "-e 'local ims = require \"ims\"; local c = ims.from_env(); "
      .. "local l = assert(c.cloudimages:list { max = 1 }); print(\"ok\", c.endpoint, c.project_id, #l)'"
    local base = { IMS_ENDPOINT = S.IMS_ENDPOINT, HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_A,
      IMS_AK_A = "", IMS_SK_A = "" }
    local function with(extra)
      local v = {}
      for k, x in pairs(base) do v[k] = x end
      for k, x in pairs(extra) do v[k] = x end
      return v
    end
    local out, rc = run("", { script }, with { HUAWEICLOUD_SDK_AK = S.IMS_AK_A, HUAWEICLOUD_SDK_SK = S.IMS_SK_A })
    assert.equal(0, rc, out)
    assert.matches("ok\t" .. S.IMS_ENDPOINT:gsub("%p", "%%%0") .. "\t" .. S.IMS_PROJECT_A, out)
    out, rc = run("", { script }, with { OS_AUTH_URL = S.IAM_ENDPOINT, OS_USERNAME = S.IMS_USER_A,
      OS_PASSWORD = S.IMS_PASSWORD_A, OS_USER_DOMAIN_NAME = S.IMS_DOMAIN, OS_PROJECT_ID = S.IMS_PROJECT_A })
    assert.equal(0, rc, out)
    assert.matches("^ok", out)
  end)

  -- The pipeline examples below run against the local stack (its DIR/env is inherited), as
  -- project A through ims.from_env() where they take one client; jobs are kept short.
  local raw = require "support.raw"
  local S = env.stack

  -- ims.from_env() variables for project A, plus `extra`.
  local function as_a(extra)
    local v = { HUAWEICLOUD_SDK_PROJECT_ID = S.IMS_PROJECT_A, HUAWEICLOUD_SDK_AK = S.IMS_AK_A,
      HUAWEICLOUD_SDK_SK = S.IMS_SK_A }
    for k, x in pairs(extra or {}) do v[k] = x end
    return v
  end

  -- busted keeps one `finally` per test: this one runs every function given to the returned
  -- `defer`, last first.
  local function deferrer()
    local fns = {}
    finally(function() for i = #fns, 1, -1 do fns[i]() end end)
    return function(fn) fns[#fns + 1] = fn end
  end

  -- A client of project "A" or "B", closed when the test ends.
  local function client_of(defer, who)
    local c = ims.new { endpoint = S.IMS_ENDPOINT, project_id = S["IMS_PROJECT_" .. who],
      auth = { ak = S["IMS_AK_" .. who], sk = S["IMS_SK_" .. who] } }
    defer(function() c:close() end)
    return c
  end

  -- Short emulator jobs for this test; the previous duration comes back afterwards.
  local function fast_jobs(defer)
    local before = raw.admin("GET", "/jobs").duration
    raw.admin("POST", "/jobs", { duration = 0.3 })
    defer(function() raw.admin("POST", "/jobs", { duration = before }) end)
  end

  local function sha256_file(path)
    local p = assert(io.popen("sha256sum -b -- '" .. path .. "'"))
    local hex = p:read("a"):match("^(%x+)")
    p:close()
    return assert(hex, "sha256sum failed for " .. path)
  end

  local function suffix() return string.format("%08x", math.random(0, 0x7fffffff)) end
  local function lit(s) return (s:gsub("%p", "%%%0")) end

  -- An image of project A holding `nbytes` random bytes (the file is returned too).
  local function image_with_data(c, attrs, nbytes)
    local file = env.write_random(env.tmpfile("img.raw"), nbytes)
    attrs.disk_format, attrs.container_format = "raw", "bare"
    local img = assert(c.images:create(attrs))
    assert(img:upload(file))
    return img, file
  end

  it("share_many.lua shares with every listed project, accepts as each, and re-runs cleanly", function()
    local defer = deferrer()
    local a, b = client_of(defer, "A"), client_of(defer, "B")
    local img = assert(a.images:create { name = "share-many-" .. suffix(), visibility = "private" })
    defer(function() a.images:delete(img, { ignore_missing = true }) end)

    local out, rc = run("examples/share_many.lua", { img.id }, { IMS_SHARE_WITH = "B" })
    assert.equal(0, rc, out)
    assert.matches("visibility set to shared", out)
    assert.matches("B%s+" .. S.IMS_PROJECT_B .. "%s+added%s+accepted", out)
    assert.matches("1 accepted, 0 failed", out)
    assert.equal("shared", assert(a.images:get(img)).visibility)
    assert.equal("accepted", assert(a.images:get_member(img, S.IMS_PROJECT_B)).status)
    assert.equal(img.id, assert(b.images:get(img.id)).id)
    local listed = assert(b.images:list { member_status = "accepted", visibility = "shared" })
    local seen = false
    for _, x in ipairs(listed) do seen = seen or x.id == img.id end
    assert.is_true(seen, "B does not list the image as accepted")

    -- again, with a second project whose credentials are wrong: B is fine (409 tolerated), C fails
    out, rc = run("examples/share_many.lua", { img.id }, { IMS_SHARE_WITH = "B, C",
      IMS_PROJECT_C = string.rep("c", 32), IMS_AK_C = "NOSUCHAKNOSUCHAK0000", IMS_SK_C = "x" })
    assert.equal(1, rc, out)
    assert.not_matches("visibility set", out)
    assert.matches("B%s+" .. S.IMS_PROJECT_B .. "%s+already a member%s+accepted", out)
    assert.matches("C%s+" .. string.rep("c", 32) .. "%s+added%s+FAILED%s+ims: PUT [^\n]*401", out)
    assert.matches("1 accepted, 1 failed", out)
    local members = assert(a.images:list_members(img))
    assert.equal(2, #members)
  end)

  it("share_batch.lua shares images with a project in one job and accepts them in one job", function()
    local defer = deferrer()
    fast_jobs(defer)
    local a, b = client_of(defer, "A"), client_of(defer, "B")
    local i1 = image_with_data(a, { name = "share-batch-1-" .. suffix() }, 1024)
    local i2 = image_with_data(a, { name = "share-batch-2-" .. suffix() }, 1024)
    defer(function() a.images:delete(i1, { ignore_missing = true }); a.images:delete(i2, { ignore_missing = true }) end)
    local out, rc = run("examples/share_batch.lua", { i1.id, i2.id }, { IMS_SHARE_WITH = "B" })
    assert.equal(0, rc, out)
    for _, id in ipairs { i1.id, i2.id } do
      assert.matches("share%s+" .. lit(id) .. " %-> " .. S.IMS_PROJECT_B .. "  success", out)
      assert.matches("accept%s+" .. lit(id) .. " %-> " .. S.IMS_PROJECT_B .. "  success", out)
      assert.equal("accepted", assert(a.images:get_member(id, S.IMS_PROJECT_B)).status)
      assert.equal(id, assert(b.images:get(id)).id)
    end
    assert.matches("0 pair%(s%) failed", out)
    -- an image of another project: the share job is refused, and the run says so
    local theirs = image_with_data(b, { name = "share-batch-b-" .. suffix() }, 1024)
    defer(function() b.images:delete(theirs, { ignore_missing = true }) end)
    out, rc = run("examples/share_batch.lua", { theirs.id }, { IMS_SHARE_WITH = "B" })
    assert.equal(1, rc, out)
    assert.matches("share%s+job not started: ims: POST [^\n]*IMG%.0027", out)
  end)

  it("export_matching.lua exports every matching image with one wait_all", function()
    local defer = deferrer()
    fast_jobs(defer)
    local a = client_of(defer, "A")
    local id = suffix()
    local tag, prefix, dir = "export=" .. id, "exp-" .. id .. "-", "spec-exports/" .. id
    local made = {}
    defer(function() for _, x in ipairs(made) do a.images:delete(x, { ignore_missing = true }) end end)
    local files = {}
    for i = 1, 3 do
      local img, file = image_with_data(a, { name = prefix .. i, tags = { tag } }, 65536 * i + i)
      made[#made + 1], files[img.id] = img, file
    end
    -- tagged but named otherwise, and named alike but untagged: both left alone
    made[#made + 1] = image_with_data(a, { name = "other-" .. id, tags = { tag } }, 1000)
    made[#made + 1] = image_with_data(a, { name = prefix .. "untagged" }, 1000)
    raw.admin("DELETE", "/stats")

    local out, rc = run("examples/export_matching.lua", { tag }, as_a {
      IMS_EXPORT_PREFIX = prefix, IMS_EXPORT_DIR = dir })
    assert.equal(0, rc, out)
    assert.matches("3 image%(s%) match tag=" .. lit(tag), out)
    assert.matches("waiting for 3 export job%(s%)", out)
    assert.matches("3 exported, 0 failed", out)
    local stats = raw.admin("GET", "/stats")
    assert.equal(3, stats["POST /v1/cloudimages/{image_id}/file"], out)
    for image_id, file in pairs(files) do
      local object = out:match(lit(image_id) .. "%s+%S+%s+SUCCESS%s+" .. lit(S.IMS_BUCKET) .. ":(%S+)")
      assert.is_string(object, out)
      assert.equal(dir, object:match("^(.*)/"))
      assert.equal(sha256_file(file), sha256_file(S.IMS_BUCKET_DIR .. "/" .. object))
    end
    local p = assert(io.popen("ls '" .. S.IMS_BUCKET_DIR .. "/" .. dir .. "' | wc -l"))
    assert.equal(3, tonumber(p:read("a")))
    p:close()

    -- again into the same place: the objects exist, every export is refused and reported
    out, rc = run("examples/export_matching.lua", { tag }, as_a {
      IMS_EXPORT_PREFIX = prefix, IMS_EXPORT_DIR = dir })
    assert.equal(1, rc, out)
    local _, refused = out:gsub("NOT STARTED%s+ims: POST [^\n]*IMG%.0070", "")
    assert.equal(3, refused, out)
    assert.matches("0 exported, 3 failed", out)
  end)

  it("newest_with_tag.lua prints the newest tagged image, exits 1 when there is none", function()
    local defer = deferrer()
    local a = client_of(defer, "A")
    local tag = "release=" .. suffix()
    local made = {}
    defer(function() for _, x in ipairs(made) do a.images:delete(x, { ignore_missing = true }) end end)
    for i = 1, 2 do made[i] = image_with_data(a, { name = "rel-" .. i, tags = { tag } }, 1024) end
    made[3] = assert(a.images:create { name = "rel-3", tags = { tag, "other" } }) -- no data yet
    assert(a.images:create { name = "rel-untagged" }):delete()

    local out, rc = run("examples/newest_with_tag.lua", { tag }, as_a())
    assert.equal(0, rc, out)
    assert.matches("newest image tagged '" .. lit(tag) .. "': rel%-3 %(queued, no data", out)
    assert.matches("\n" .. lit(made[3].id) .. "\nrc=0", out)

    out, rc = run("examples/newest_with_tag.lua", { tag }, as_a { IMS_STATUS = "active" })
    assert.equal(0, rc, out)
    assert.matches("rel%-2 %(active, 1024 bytes", out)
    assert.matches("\n" .. lit(made[2].id) .. "\nrc=0", out)

    out, rc = run("examples/newest_with_tag.lua", { "release=none-" .. suffix() }, as_a())
    assert.equal(1, rc, out)
    assert.matches("^no image tagged 'release=none%-%x+'\nrc=1", out)

    out, rc = run("examples/newest_with_tag.lua", { tag }, as_a { HUAWEICLOUD_SDK_AK = "NOSUCHAK" })
    assert.equal(2, rc, out)
    assert.matches("401 APIGW%.0301", out)
  end)

  it("bulk_import.lua imports several bucket objects with one wait and a summary", function()
    local defer = deferrer()
    fast_jobs(defer)
    local a = client_of(defer, "A")
    local id = suffix()
    local dir = "bulk-" .. id
    local objects = { dir .. "/web.raw", dir .. "/db.qcow2", dir .. "/cache.raw" }
    local sizes = { 300001, 200002, 65536 }
    local up = ims.new { endpoint = S.IMS_ENDPOINT, obs_endpoint = S.IMS_OBS_ENDPOINT,
      auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
    defer(function() up:close() end)
    for i, o in ipairs(objects) do -- bytes reach the bucket through its OBS API only
      local local_file = env.tmpfile("bulk.bin")
      env.write_random(local_file, sizes[i])
      assert(up.obs:put(S.IMS_BUCKET, o, local_file))
    end
    local ids = {}
    defer(function() for _, x in ipairs(ids) do a.images:delete(x, { ignore_missing = true }) end end)

    raw.admin("POST", "/jobs", { duration = 2 }) -- long enough to be seen RUNNING
    local out, rc = run("examples/bulk_import.lua", objects, as_a {
      IMS_NAME_PREFIX = id .. "-", IMS_IMPORT_TAG = "batch." .. id })
    assert.equal(0, rc, out)
    assert.matches("3 imported, 0 failed", out)
    for i, o in ipairs(objects) do
      -- one line per state change (none for percentages), then its row in the table
      local line = "%d%d:%d%d:%d%d  " .. lit(o) .. "%s+"
      assert.matches(line .. "submitted %-> RUNNING\n", out)
      assert.matches(line .. "RUNNING%s+%-> SUCCESS\n", out)
      assert.equal(2, select(2, ("\n" .. out):gsub("\n" .. line, "")), out)
      local image_id = out:match("\n" .. lit(o) .. "%s+SUCCESS%s+(%x+%-[%x%-]+)%s+active%s+" .. sizes[i])
      assert.is_string(image_id, out)
      ids[#ids + 1] = image_id
      local img = assert(a.images:get(image_id))
      assert.equal("active", img.status)
      assert.equal(sizes[i], img.size)
      assert.equal(id .. "-" .. o:match("/(%w+)%."), img.name)
      assert.same({ "batch=" .. id }, img.tags)
      local got = assert(img:download(function() end))
      assert.equal(env.sha512_file(S.IMS_BUCKET_DIR .. "/" .. o), got.sha512)
    end
    assert.matches("object%s+job%s+image%s+status%s+bytes", out)

    -- with a journal, a rerun waits for the jobs the first run started instead of new ones
    raw.admin("POST", "/jobs", { duration = 0.3 })
    local journal = env.tmpfile("bulk-" .. id .. ".journal")
    local first
    first, rc = run("examples/bulk_import.lua", { objects[3] }, as_a {
      IMS_NAME_PREFIX = id .. "-j-", IMS_JOURNAL = journal })
    assert.equal(0, rc, first)
    local again
    again, rc = run("examples/bulk_import.lua", { objects[3] }, as_a {
      IMS_NAME_PREFIX = id .. "-j-", IMS_JOURNAL = journal })
    assert.equal(0, rc, again)
    assert.matches(lit(objects[3]) .. "%s+resumed: job ", again)
    local made = assert(a.images:list { name = id .. "-j-cache" })
    assert.equal(1, #made)
    ids[#ids + 1] = made[1].id
    assert.equal(first:match("SUCCESS%s+(%x+%-[%x%-]+)"), again:match("SUCCESS%s+(%x+%-[%x%-]+)"))

    -- a missing object: its job fails, the table says why, the exit status is 1
    out, rc = run("examples/bulk_import.lua", { dir .. "/missing.raw" }, as_a())
    assert.equal(1, rc, out)
    assert.matches(lit(dir) .. "/missing%.raw%s+FAIL%s+IMG%.0057 [^\n]*does not exist", out)
    assert.matches("0 imported, 1 failed", out)
  end)
end)
