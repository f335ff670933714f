-- Misuse raises at once, before any I/O, naming the function and the field. The endpoint
-- below listens nowhere: a call that got past validation would fail at runtime instead.
local ims = require "ims"

local ENDPOINT = "http://127.0.0.1:9"

-- Asserts fn raises an error whose message contains every fragment (plain text).
local function raises(fn, ...)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_string(err)
  for _, frag in ipairs { ... } do
    assert.is_truthy(err:find(frag, 1, true), "'" .. frag .. "' not in: " .. err)
  end
  return err
end

describe("misuse", function()
  it("points at the caller's line", function()
    local c <close> = ims.new { endpoint = ENDPOINT }
    for _, fn in ipairs {
      function() c.images:list { limt = 1 } end,
      function() c.images:each { limt = 1 } end,
      function() c.images:accept("id") end,
      function() c.images:download("id", "f", { digests = { "crc" } }) end,
      function() c.jobs:wait_all({ 5 }) end,
    } do
      local _, err = pcall(fn)
      assert.matches("^[^:]*validation_spec%.lua:%d+: ims%.", err)
    end
    c:close()
    local _, err = pcall(function() c.images:get("x") end)
    assert.matches("^[^:]*validation_spec%.lua:%d+: ims%.images:get: the client is closed", err)
  end)

  local c
  before_each(function() c = ims.new { endpoint = ENDPOINT, project_id = "p" } end)
  after_each(function() c:close() end)

  it("ims.new rejects bad options", function()
    raises(function() ims.new { endpoint = ENDPOINT, endpiont = 1 } end, "ims.new", "'endpiont'")
    raises(function() ims.new { endpoint = 5 } end, "ims.new", "'endpoint'")
    raises(function() ims.new {} end, "ims.new", "'endpoint'")
    raises(function() ims.new { endpoint = "ftp://x" } end, "ims.new", "'endpoint'")
    raises(function() ims.new { endpoint = ENDPOINT, timeout = "1" } end, "ims.new", "'timeout'")
    raises(function() ims.new { endpoint = ENDPOINT, auth = {} } end, "ims.new", "'auth'")
    raises(function() ims.new { endpoint = ENDPOINT, auth = { token = 1 } } end, "'token'")
    raises(function() ims.new { endpoint = ENDPOINT, retry = { attempts = 0 } } end, "retry")
    raises(function() ims.new { endpoint = ENDPOINT, retry = { tries = 2 } } end, "'tries'")
    raises(function() ims.new "x" end, "ims.new")
    raises(function() ims.from_env { bogus = true } end, "ims.from_env", "'bogus'")
  end)

  it("error positions point at the caller", function()
    local err = raises(function() c.images:get(nil) end, "ims.images:get")
    assert.matches("validation_spec%.lua:%d+:", err)
  end)

  it("images:create", function()
    raises(function() c.images:create() end, "ims.images:create", "'attrs'")
    raises(function() c.images:create { name = 1 } end, "ims.images:create", "'name'")
    raises(function() c.images:create { visibility = "everyone" } end, "ims.images:create", "'visibility'")
    raises(function() c.images:create { tags = "x" } end, "ims.images:create", "'tags'")
    raises(function() c.images:create { min_disk = 1.5 } end, "ims.images:create", "'min_disk'")
    raises(function() c.images:create { hw_cpu = 2 } end, "ims.images:create", "'hw_cpu'")
    raises(function() c.images:create { min_dsik = 40 } end, "ims.images:create: unknown option 'min_dsik'")
    raises(function() c.images.create({}, {}) end, "ims.images:create")
  end)

  it("images:get, delete, list, each", function()
    raises(function() c.images:get() end, "ims.images:get", "'image'")
    raises(function() c.images:get { name = "no id" } end, "ims.images:get", "'image'")
    raises(function() c.images:delete("id", { ignore = true }) end, "ims.images:delete", "'ignore'")
    raises(function() c.images:delete("id", { ignore_missing = "yes" }) end, "ims.images:delete", "'ignore_missing'")
    raises(function() c.images:list { limt = 5 } end, "ims.images:list", "'limt'")
    raises(function() c.images:list { limit = "5" } end, "ims.images:list", "'limit'")
    raises(function() c.images:list { sort_dir = "up" } end, "ims.images:list", "'sort_dir'")
    raises(function() c.images:list { properties = { name = "x" } } end, "ims.images:list", "'name'")
    raises(function() c.images:list "x" end, "ims.images:list")
    raises(function() c.images:each { tag = 5 } end, "ims.images:each", "'tag'")
  end)

  it("images:update", function()
    raises(function() c.images:update("id") end, "ims.images:update", "'changes'")
    raises(function() c.images:update("id", {}) end, "ims.images:update", "no changes")
    raises(function() c.images:update("id", { min_ram = "big" }) end, "ims.images:update", "'min_ram'")
    raises(function() c.images:update("id", { foo = 5 }) end, "ims.images:update: unknown option 'foo'")
    raises(function() c.images:update("id", { { op = "move", path = "/x" } }) end, "ims.images:update", "'op'")
    raises(function() c.images:update("id", { { op = "add" } }) end, "ims.images:update", "'path'")
    raises(function() c.images:update("id", { { op = "add", path = "/a", valeu = 1 } }) end, "'valeu'")
  end)

  it("images:upload and download", function()
    raises(function() c.images:upload("id") end, "ims.images:upload", "'source'")
    raises(function() c.images:upload("id", { path = "a", reader = print }) end, "ims.images:upload", "source")
    raises(function() c.images:upload("id", { file = "a" }) end, "ims.images:upload", "'file'")
    raises(function() c.images:upload("id", "f", { verfiy = false }) end, "ims.images:upload", "'verfiy'")
    raises(function() c.images:upload("id", "f", { digests = { "crc32" } }) end, "ims.images:upload", "crc32")
    raises(function() c.images:upload("id", "f", { progress = true }) end, "ims.images:upload", "'progress'")
    raises(function() c.images:download("id") end, "ims.images:download", "'dest'")
    raises(function() c.images:download("id", "f", { resme = true }) end, "ims.images:download", "'resme'")
    -- digest names are checked before the metadata request, not after
    raises(function() c.images:download("id", "f", { digests = { "crc" } }) end, "ims.images:download", "'crc'")
    raises(function() c.images:download("id", print, { resume = true }) end, "ims.images:download", "'resume'")
    raises(function() c.images:download("id", "f", { digests = "md5" }) end, "ims.images:download", "'digests'")
  end)

  it("tags", function()
    raises(function() c.images:update_tag("id") end, "ims.images:update_tag", "'tag'")
    raises(function() c.images:update_tag("id", "") end, "ims.images:update_tag", "'tag'")
    raises(function() c.images:update_tag("id", string.rep("x", 256)) end, "ims.images:update_tag", "'tag'")
    raises(function() c.images:delete_tag(nil, "t") end, "ims.images:delete_tag", "'image'")
    raises(function() c.images:delete_tag("id", {}) end, "ims.images:delete_tag", "'tag'")
  end)

  it("members", function()
    raises(function() c.images:create_member("id") end, "ims.images:create_member", "'project_id'")
    raises(function() c.images:create_member("id", "") end, "ims.images:create_member", "'project_id'")
    raises(function() c.images:list_members() end, "ims.images:list_members", "'image'")
    raises(function() c.images:get_member("id") end, "ims.images:get_member", "'member'")
    raises(function() c.images:update_member("id", "m", "yes") end, "ims.images:update_member", "'status'")
    raises(function() c.images:update_member("id", nil, "accepted") end, "ims.images:update_member", "'member'")
    raises(function() c.images:delete_member("id", 5) end, "ims.images:delete_member", "'member'")
    raises(function() c.images:accept() end, "ims.images:accept", "'image'")
    raises(function() c.images:reject(5) end, "ims.images:reject", "'image'")
    local noproj = ims.new { endpoint = ENDPOINT }
    raises(function() noproj.images:accept("id") end, "ims.images:accept", "project_id")
    noproj:close()
  end)

  it("objects' methods called with '.', ids no URL can name, values JSON cannot carry", function()
    local img = c.images:_wrap { id = "abc" }
    raises(function() img.delete({}) end, "ims.image:delete: call it with ':'", "image:delete(...)")
    raises(function() img.refresh("abc") end, "ims.image:refresh: call it with ':'")
    local job = c.jobs:wrap("j1")
    raises(function() job.wait() end, "ims.job:wait: call it with ':'")
    raises(function() job.image(img) end, "ims.job:image: call it with ':'")
    raises(function() c.map({}, print) end, "ims.client:map: call it with ':'")
    raises(function() c.close(img) end, "ims.client:close: call it with ':'")
    local j <close> = assert(c:journal(os.tmpname()))
    raises(function() j.close() end, "ims.journal:close: call it with ':'")
    raises(function() j.job("k", print) end, "ims.journal:job: call it with ':'")
    raises(function() j:job("k", function() end) end, "ims.journal:job: 'start' returned nothing")
    -- "." and ".." would address another resource once in the path
    raises(function() c.images:get("..") end, "ims.images:get", "'image'", "'..'")
    raises(function() c.images:delete_tag("abc", ".") end, "ims.images:delete_tag", "'tag'", "'.'")
    raises(function() c.images:create_member("abc", "..") end, "ims.images:create_member", "'project_id'")
    raises(function() c.jobs:get { job_id = "." } end, "ims.jobs:get", "'job'")
    raises(function() c.images:update("abc", { { op = "add", path = "/x", value = print } }) end,
      "ims.images:update: changes[1].value cannot be sent as JSON")
    raises(function() c.cloudimages:update("abc", { __description = { 0 / 0 } }) end,
      "ims.cloudimages:update: '__description' cannot be sent as JSON", "NaN")
    raises(function() ims.sign "GET" end, "ims.sign: argument 'req' must be a table (got string)")
    -- a job object is made for an image's id without turning the image into a job
    local as_job = c.jobs:wrap(img)
    assert.are_not.equal(img, as_job)
    assert.equal("abc", as_job.job_id)
    assert.is_function(img.delete)
  end)

  it("a closed client raises on every call", function()
    c:close()
    raises(function() c.images:get("x") end, "ims.images:get", "closed")
    raises(function() c.images:list() end, "ims.images:list", "closed")
    raises(function() c.images:upload("x", "f") end, "ims.images:upload", "closed")
    raises(function() c.images:download("x", "f") end, "ims.images:download", "closed")
  end)

  it("runtime failures come back as nil, ims.Error rather than raising", function()
    local quick = ims.new { endpoint = ENDPOINT, retry = false }
    local img, err = quick.images:get("abc")
    quick:close()
    assert.is_nil(img)
    assert.is_true(ims.is_error(err))
    assert.equal("transport", err.kind)
    assert.equal("COULDNT_CONNECT", err.code)
    assert.matches("^ims: GET http://127%.0%.0%.1:9/v2/images/abc: COULDNT_CONNECT", tostring(err))
  end)
end)
