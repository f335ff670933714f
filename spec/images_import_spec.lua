-- Glance's interoperable import through client.images against the real Glance (scripts/glance
-- configures two file stores, copy-image for members and web-download from loopback): stage +
-- glance-direct, web-download from the loopback test server, copy-image into the second store,
-- a failed import reported with its stores, and the info, store, usage, task and
-- (de)activation calls.
local ims = require "ims"
local env = require "support.env"

local function unique(prefix) return string.format("%s-%d-%d", prefix, os.time(), math.random(1e9)) end

local FAST = { interval = 0.1, max_interval = 0.5, timeout = 60 }

describe("Glance interoperable import", function()
  local a, created
  setup(function()
    a = ims.new { endpoint = env.glance_url, project_id = env.project_a, headers = env.identity_headers("a") }
    created = {}
  end)
  teardown(function()
    for _, id in ipairs(created) do a.images:delete(id, { ignore_missing = true }) end
    a:close()
  end)

  local function new_image(name)
    local img = assert(a.images:create { name = unique(name), disk_format = "raw", container_format = "bare" })
    created[#created + 1] = img.id
    return img
  end

  local function image_sha512(id)
    return assert(a.images:download(id, function() end, { digests = { "sha512" } })).sha512
  end

  it("stages data and imports it with glance-direct, waiting through uploading and importing", function()
    local img = new_image("direct")
    local file = env.write_random(env.tmpfile("stage.bin"), 700 * 1024)
    local seen = 0
    assert.is_true(a.images:stage(img, file, { progress = function(done) seen = done end }))
    assert.equal(700 * 1024, seen)
    assert.equal("uploading", assert(a.images:get(img.id)).status)
    assert.is_true(a.images:import_image(img, { method = "glance-direct" }))
    local states = {}
    local done = assert(a.images:wait(img, { interval = 0.05, max_interval = 0.2, timeout = 60,
      progress = function(i) states[#states + 1] = i.status end }))
    assert.equal("active", done.status)
    assert.equal("primary", done.stores)
    assert.equal("active", states[#states])
    assert.equal(env.sha512_file(file), image_sha512(img.id))
    local tasks = assert(a.images:tasks(img))
    assert.equal("api_image_import", tasks[1].type)
    assert.equal("success", tasks[1].status)
  end)

  it("imports from a URL with web-download", function()
    local img = new_image("web")
    local n = 300000
    assert.is_true(a.images:import_image(img, { method = "web-download", uri = env.httpd_url .. "/bytes/" .. n }))
    local done = assert(a.images:wait(img, FAST))
    assert.equal(n, done.size)
    assert.equal(env.sha512_file(env.pattern_file(env.tmpfile("pattern.bin"), n)), image_sha512(img.id))
  end)

  it("copies an active image into the second store with copy-image", function()
    local img = new_image("copy")
    assert(img:upload(env.write_random(env.tmpfile("copy.bin"), 64 * 1024)))
    local ids = {}
    for _, s in ipairs(assert(a.images:stores())) do ids[s.id] = s end
    assert.is_truthy(ids.primary and ids.secondary)
    assert.equal("true", ids.primary.default)
    assert.is_true(a.images:import_image(img, { method = "copy-image", stores = { "secondary" } }))
    local done = assert(a.images:wait(img, FAST))
    local stores = {}
    for s in done.stores:gmatch("[^,]+") do stores[s] = true end
    assert.same({ primary = true, secondary = true }, stores)
  end)

  it("reports a failed import with its store and the task's message, not a wait until the timeout", function()
    local img = new_image("web-fail")
    assert.is_true(a.images:import_image(img, { method = "web-download", uri = env.httpd_url .. "/status/404" }))
    local started = os.time()
    local ok, err = a.images:wait(img, FAST)
    assert.is_nil(ok)
    assert.equal("job_failed", err.kind)
    assert.equal("os_glance_failed_import", err.code)
    assert.matches("the import to primary failed", err.message)
    assert.is_true(os.time() - started < 30)
    assert.equal(img.id, err.image.id)
  end)

  it("lists the import methods, shows usage, deactivates and reactivates", function()
    local methods = {}
    for _, m in ipairs(assert(a.images:import_info())) do methods[m] = true end
    assert.same({ ["glance-direct"] = true, ["web-download"] = true, ["copy-image"] = true }, methods)
    assert.is_table(assert(a.images:usage()))
    local img = new_image("deact")
    assert(img:upload(env.write_random(env.tmpfile("deact.bin"), 4096)))
    assert.is_true(a.images:deactivate(img))
    assert.equal("deactivated", assert(a.images:get(img.id)).status)
    local got, err = a.images:download(img.id, env.tmpfile("deact.out"))
    assert.is_nil(got)
    assert.equal(403, err.status)
    assert.is_true(a.images:reactivate(img))
    assert.equal("active", assert(a.images:get(img.id)).status)
  end)

  it("checks import requests before any I/O", function()
    assert.error_matches(function() a.images:import_image("x", { method = "web-download" }) end,
      "ims.images:import_image: field 'uri' goes with method 'web%-download'")
    assert.error_matches(function() a.images:import_image("x", { method = "glance-direct", uri = "http://h/" }) end,
      "field 'uri' goes with")
    assert.error_matches(function() a.images:import_image("x", { method = "glance-download" }) end, "'method'")
    assert.error_matches(function()
      a.images:import_image("x", { method = "copy-image", stores = { "s" }, all_stores = true })
    end, "give only one of 'stores', 'all_stores'")
    assert.error_matches(function() a.images:wait("x", { timeout = 0 / 0 }) end,
      "ims.images:wait: option 'timeout' must be a finite number")
    assert.error_matches(function() a.images:stage("x", "a\0b") end, "ims.images:stage")
  end)
end)
