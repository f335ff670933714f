-- client:journal: jobs and images started once per key across reruns, against the stack.
local ims = require "ims"
local env = require "support.env"
local raw = require "support.raw"

local S = env.stack

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

local function client()
  return ims.new { endpoint = S.IMS_ENDPOINT, project_id = S.IMS_PROJECT_A,
    auth = { ak = S.IMS_AK_A, sk = S.IMS_SK_A } }
end

describe("client:journal", function()
  local c
  setup(function()
    raw.admin("POST", "/jobs", { duration = 0.3 })
    c = client()
  end)
  teardown(function() c:close() end)

  it("starts a job once per key: a rerun gets the recorded job without starting another", function()
    local path = env.tmpfile(unique("jobs") .. ".journal")
    local starts = 0
    local function start()
      starts = starts + 1
      return c.cloudimages:create_whole_image { name = unique("journal"), instance_id = S.IMS_INSTANCE_STOPPED }
    end
    local j1 = assert(c:journal(path))
    local job, err, how = j1:job("backup web", start)
    assert(job, tostring(err))
    assert.equal("started", how)
    j1:close()
    -- the rerun: a new client and journal on the same file
    local c2 <close> = client()
    local j2 <close> = assert(c2:journal(path))
    local again, _, how2 = j2:job("backup web", start)
    assert.equal("recorded", how2)
    assert.equal(1, starts)
    assert.equal(job.job_id, again.job_id)
    local done = assert(again:wait { interval = 0.2, max_interval = 0.5, timeout = 60 })
    assert.equal("SUCCESS", done.status)
    assert.is_string(done.image_id)
  end)

  it("makes an image once per key, and again when the recorded one is gone", function()
    local path = env.tmpfile(unique("images") .. ".journal")
    local file = env.tmpfile("journal.raw")
    env.write_random(file, 1024 * 1024 + 3)
    local made = 0
    local function import()
      made = made + 1
      return c.images:import(file, { name = unique("journal-img"), disk_format = "raw", container_format = "bare" })
    end
    local j <close> = assert(c:journal(path))
    local img, _, how = j:image("golden", import)
    assert.equal("created", how)
    local same, _, how2 = j:image("golden", import)
    assert.equal("recorded", how2)
    assert.equal(img.id, same.id)
    assert.equal("active", same.status)
    assert.equal(1, made)
    assert(c.images:delete(img))
    local fresh, _, how3 = j:image("golden", import)
    assert.equal("created", how3)
    assert.are_not.equal(img.id, fresh.id)
    assert.equal(2, made)
    assert(c.images:delete(fresh))
  end)

  it("records nothing when the call fails, and skips a torn last line", function()
    local path = env.tmpfile(unique("fail") .. ".journal")
    local j <close> = assert(c:journal(path))
    local job, err = j:job("bad", function()
      return c.cloudimages:create_whole_image { name = unique("bad"), instance_id = "00000000-0000-0000-0000-000000000000" }
    end)
    assert.is_nil(job)
    assert.equal("http", err.kind)
    assert.equal(nil, env.read(path):find("bad", 1, true))
    j:close()
    env.write(path, env.read(path) .. "good\tjob\t8f3c") -- a crash mid-write: a cut-off job id
    local j2 <close> = assert(c:journal(path))
    local ok, _, how = assert(j2:job("good", function()
      return c.cloudimages:create_whole_image { name = unique("good"), instance_id = S.IMS_INSTANCE_STOPPED }
    end))
    assert.equal("started", how) -- not "recorded" as job 8f3c
    assert(ok:wait { interval = 0.2, timeout = 60 })
    j2:close()
    -- the record written after the torn line is on a line of its own: a rerun finds it
    local j3 <close> = assert(c:journal(path))
    local again, _, how3 = j3:job("good", function() error("must not start again") end)
    assert.equal("recorded", how3)
    assert.equal(ok.job_id, again.job_id)
    local dir_journal, derr = c:journal(env.tmp) -- a directory: nil, err, not a raise
    assert.is_nil(dir_journal)
    assert.equal("file", derr.kind)
  end)

  it("refuses misuse and reports an unwritable file", function()
    local j <close> = assert(c:journal(env.tmpfile(unique("misuse") .. ".journal")))
    local fn = function() return { job_id = "x" } end
    assert.has_error(function() j:job("a\tb", fn) end,
      "ims.journal:job: argument 'key' must be a non-empty string without tabs or line breaks")
    assert.has_error(function() j:job("k", "no") end, "ims.journal:job: argument 'start' must be a function")
    assert(j:job("k", fn))
    assert.has_error(function() j:image("k", fn) end, "ims.journal:image: key 'k' is recorded for a job")
    assert.has_error(function() j:job("other", function() return "not a job" end) end,
      "ims.journal:job: 'start' must return a job (a table with job_id)")
    assert.has_error(function() c:journal(42) end,
      "ims.client:journal: argument 'path' must be a file path (a string without NUL) (got 42)")
    j:close()
    j:close()
    assert.has_error(function() j:job("new", fn) end, "ims.journal:job: the journal is closed")
    local none, err = c:journal("/nonexistent/dir/x.journal")
    assert.is_nil(none)
    assert.equal("file", err.kind)
  end)
end)
