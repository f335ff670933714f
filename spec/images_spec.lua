-- client.images against the real OpenStack Glance started by scripts/test.
local ims = require "ims"
local core = require "ims.core"
local env = require "support.env"

local function client_for(who, extra)
  local opts = {
    endpoint = env.glance_url,
    project_id = who == "a" and env.project_a or env.project_b,
    headers = env.identity_headers(who),
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return ims.new(opts)
end

local function unique(prefix)
  return string.format("%s-%d-%d", prefix, os.time(), math.random(1, 1e9))
end

describe("client.images against Glance", function()
  local a, b
  local created = {}

  setup(function()
    a = client_for("a")
    b = client_for("b")
  end)

  teardown(function()
    for _, id in ipairs(created) do a.images:delete(id, { ignore_missing = true }) end
    a:close()
    b:close()
  end)

  local function new_image(attrs)
    attrs = attrs or {}
    attrs.name = attrs.name or unique("spec")
    attrs.disk_format = attrs.disk_format or "raw"
    attrs.container_format = attrs.container_format or "bare"
    local img = assert(a.images:create(attrs))
    created[#created + 1] = img.id
    return img
  end

  it("creates, gets, updates and deletes an image", function()
    local img = new_image { tags = { "t1", "os=linux" }, min_disk = 2, os_distro = "debian" }
    assert.equal("queued", img.status)
    assert.equal(2, img.min_disk)
    assert.equal("integer", math.type(img.min_disk))
    assert.equal(env.project_a, img.owner)
    assert.is_nil(img.size) -- JSON null becomes nil
    local got = assert(a.images:get(img.id))
    assert.equal(img.id, got.id)
    assert.same({ "os=linux", "t1" }, (function() table.sort(got.tags); return got.tags end)())

    local up = assert(a.images:update(img, { name = "renamed", min_ram = 512, hw_disk_bus = "scsi",
      os_distro = ims.null }))
    assert.equal("renamed", up.name)
    assert.equal(512, up.min_ram)
    assert.equal("scsi", up.hw_disk_bus)
    assert.is_nil(up.os_distro)
    local ops = assert(a.images:update(img.id, { { op = "replace", path = "/name", value = "ops" } }))
    assert.equal("ops", ops.name)
    assert(got:refresh())
    assert.equal("ops", got.name)
    assert(got:update { name = "method" })
    assert.equal("method", got.name)

    assert.is_true(a.images:delete(img))
    local gone, err = a.images:get(img.id)
    assert.is_nil(gone)
    assert.equal(404, err.status)
    assert.is_false(a.images:delete(img.id, { ignore_missing = true }))
    local again, derr = a.images:delete(img.id)
    assert.is_nil(again)
    assert.equal(404, derr.status)
  end)

  it("sends an empty tag list as a JSON array", function()
    local img = new_image { tags = { "x" } }
    local up = assert(a.images:update(img, { tags = {} }))
    assert.same({}, up.tags)
  end)

  it("adds and removes tags, including key=value tags", function()
    local img = new_image()
    assert.is_true(a.images:update_tag(img, "golden"))
    assert.is_true(img:update_tag("os=linux"))
    assert.is_true(a.images:update_tag(img, "with space"))
    local got = assert(a.images:get(img.id))
    table.sort(got.tags)
    assert.same({ "golden", "os=linux", "with space" }, got.tags)
    assert.is_true(a.images:delete_tag(img, "os=linux"))
    local missing, err = a.images:delete_tag(img, "os=linux")
    assert.is_nil(missing)
    assert.equal(404, err.status)
    got = assert(a.images:get(img.id))
    table.sort(got.tags)
    assert.same({ "golden", "with space" }, got.tags)
  end)

  it("pages through listings with next links and filters them", function()
    local tag = unique("page")
    local ids = {}
    for i = 1, 7 do
      local img = new_image { name = tag .. "-" .. i, tags = { tag, "k=" .. (i % 2 == 0 and "even" or "odd") } }
      ids[img.id] = true
    end
    local requests = 0
    local counted = client_for("a", { log = function(ev) if ev.method == "GET" then requests = requests + 1 end end })
    local all = assert(counted.images:list { tag = tag, limit = 2, sort = "name:asc" })
    assert.equal(7, #all)
    assert.is_true(requests >= 4) -- 2+2+2+1: at least four pages
    for i, img in ipairs(all) do
      assert.equal(tag .. "-" .. i, img.name)
      assert.is_true(ids[img.id])
    end
    local even = assert(a.images:list { tag = { tag, "k=even" } })
    assert.equal(3, #even)
    local named = assert(a.images:list { name = tag .. "-5" })
    assert.equal(1, #named)
    assert.equal(tag .. "-5", named[1].name)
    local queued = assert(a.images:list { tag = tag, status = "queued" })
    assert.equal(7, #queued)
    local active = assert(a.images:list { tag = tag, status = "active" })
    assert.equal(0, #active)
    local desc = assert(a.images:list { tag = tag, sort_key = "name", sort_dir = "desc", max = 3 })
    assert.same({ tag .. "-7", tag .. "-6", tag .. "-5" }, { desc[1].name, desc[2].name, desc[3].name })
    assert.equal(3, #desc)
    local seen = {}
    for img in a.images:each { tag = tag, limit = 3 } do seen[#seen + 1] = img.name end
    assert.equal(7, #seen)
    local by_prop = assert(a.images:list { tag = tag, properties = { os_distro = "none" } })
    assert.equal(0, #by_prop)
    counted:close()
  end)

  it("raises an ims.Error from each() when a page fails", function()
    local ok, err = pcall(function()
      for _ in a.images:each { marker = "00000000-0000-0000-0000-000000000000" } do end
    end)
    assert.is_false(ok)
    assert.is_true(ims.is_error(err))
    assert.equal(400, err.status)
  end)

  describe("image data", function()
    local size = 64 * 1024 * 1024
    local src, img

    setup(function()
      src = env.tmpfile("src64.bin")
      env.write_random(src, size)
    end)

    it("uploads 64 MiB, verified, with progress that grows to the total", function()
      img = new_image()
      local calls = {}
      local up = assert(img:upload(src, { progress = function(done, total)
        calls[#calls + 1] = { done, total }
      end, digests = { "md5" } }))
      assert.equal(img, up) -- the method refreshes the object itself
      assert.equal("active", img.status)
      assert.equal(size, img.size)
      assert.equal("integer", math.type(img.size))
      assert.equal(env.sha512_file(src), img.os_hash_value)
      assert.equal(env.md5_file(src), img.checksum)
      assert.is_true(#calls >= 1)
      for i = 2, #calls do assert.is_true(calls[i][1] >= calls[i - 1][1]) end
      assert.same({ size, size }, calls[#calls])
    end)

    it("downloads the same bytes, verified against os_hash_value, with extra digests", function()
      local dest = env.tmpfile("dl64.bin")
      local calls = {}
      local got = assert(a.images:download(img.id, dest, { digests = { "md5" },
        progress = function(done, total) calls[#calls + 1] = { done, total } end }))
      assert.equal(size, got.bytes)
      assert.equal(img.os_hash_value, got.sha512)
      assert.equal(img.checksum, got.md5)
      assert.equal(env.sha512_file(src), env.sha512_file(dest))
      for i = 2, #calls do assert.is_true(calls[i][1] >= calls[i - 1][1]) end
      assert.same({ size, size }, calls[#calls])
    end)

    it("streams a download into a sink function", function()
      local total = 0
      local got = assert(img:download(function(chunk) total = total + #chunk end))
      assert.equal(size, total)
      assert.equal(img.os_hash_value, got.sha512)
    end)

    it("resumes a truncated download file with Range", function()
      local dest = env.tmpfile("partial.bin")
      local f = assert(io.open(src, "rb"))
      local head = f:read(10 * 1024 * 1024 + 5)
      f:close()
      local out = assert(io.open(dest, "wb"))
      out:write(head)
      out:close()
      local calls = {}
      local got = assert(a.images:download(img, dest, { resume = true, digests = { "md5" },
        progress = function(done, total) calls[#calls + 1] = { done, total } end }))
      assert.equal(size, got.bytes)
      assert.equal(img.os_hash_value, got.sha512) -- the digest covers the whole file
      assert.equal(img.checksum, got.md5)
      assert.equal(env.sha512_file(src), env.sha512_file(dest))
      assert.is_true(calls[1][1] >= #head)
      assert.same({ size, size }, calls[#calls])
      -- resuming a complete file is a verified no-op
      local again = assert(a.images:download(img, dest, { resume = true }))
      assert.equal(size, again.bytes)
      assert.equal(img.os_hash_value, again.sha512)
    end)

    it("uploads from a reader function", function()
      local r = new_image()
      local f = assert(io.open(src, "rb"))
      local up = assert(a.images:upload(r, { reader = function() return f:read(1 << 20) end,
        size = size }))
      f:close()
      assert.equal(img.os_hash_value, up.os_hash_value)
      local chunked = new_image()
      local parts = { "abc", "def" }
      local up2 = assert(a.images:upload(chunked, { reader = function() return table.remove(parts, 1) end }))
      assert.equal(6, up2.size)
      assert.equal(core.digest("sha512", "abcdef"), up2.os_hash_value)
    end)

    it("reports a checksum mismatch as kind 'checksum'", function()
      local tampered = {}
      for k, v in pairs(img) do tampered[k] = v end
      tampered.os_hash_value = string.rep("0", 128)
      local got, err = a.images:download(tampered, env.tmpfile("bad.bin"))
      assert.is_nil(got)
      assert.equal("checksum", err.kind)
      assert.equal("sha512", err.code)
      assert.matches("mismatch", tostring(err))
      local unverified = assert(a.images:download(tampered, env.tmpfile("ok.bin"), { verify = false }))
      assert.equal(size, unverified.bytes)
    end)

    it("surfaces 409 for a second upload and 204 for a queued image's data", function()
      local again, err = a.images:upload(img, { reader = function() return nil end, size = 0 })
      assert.is_nil(again)
      assert.equal("http", err.kind)
      assert.equal(409, err.status)
      assert.matches("transition", err.message)
      assert.matches("^req%-", err.request_id)
      local q = new_image()
      local none, nerr = a.images:download(q, env.tmpfile("none.bin"), { verify = false })
      assert.is_nil(none)
      assert.equal(204, nerr.status)
    end)
  end)

  it("surfaces 404, 400 and 415 as ims.Error with status, message and request id", function()
    local img, err = a.images:get("00000000-0000-0000-0000-000000000000")
    assert.is_nil(img)
    assert.is_true(ims.is_error(err))
    assert.equal("http", err.kind)
    assert.equal(404, err.status)
    assert.equal("GET", err.method)
    assert.matches("/v2/images/00000000%-0000%-0000%-0000%-000000000000$", err.url)
    assert.matches("^req%-", err.request_id)
    assert.is_nil(err.message:find("<br", 1, true))
    assert.matches("^ims: GET http://127%.0%.0%.1:%d+/v2/images/0+%-.*: 404 .*%(request req%-", tostring(err))

    local bad, berr = a.images:list { limit = 2, marker = "nope" }
    assert.is_nil(bad)
    assert.equal(400, berr.status)
    assert.matches("nope", berr.message)

    local q = new_image()
    local res, uerr = a:request { method = "PUT", path = "/v2/images/" .. q.id .. "/file",
      body = "x", content_type = "text/plain", expect = 204 }
    assert.is_nil(res)
    assert.equal(415, uerr.status)
    assert.matches("^req%-", uerr.request_id)
  end)

  it("shares an image between two projects", function()
    local img = new_image { visibility = "shared" }
    assert(img:upload({ reader = (function()
      local parts = { string.rep("shared-bytes", 1000) }
      return function() return table.remove(parts, 1) end
    end)() }))

    local hidden, herr = b.images:get(img.id)
    assert.is_nil(hidden)
    assert.equal(404, herr.status)

    local m = assert(a.images:create_member(img, env.project_b))
    assert.equal("pending", m.status)
    assert.equal(env.project_b, m.member_id)
    local dup, derr = a.images:create_member(img, env.project_b)
    assert.is_nil(dup)
    assert.equal(409, derr.status)

    local members = assert(a.images:list_members(img))
    assert.equal(1, #members)
    assert.equal(env.project_b, members[1].member_id)

    -- the consumer sees it as pending, not in its default list
    local pending = assert(b.images:list { member_status = "pending", visibility = "shared" })
    local found = false
    for _, x in ipairs(pending) do found = found or x.id == img.id end
    assert.is_true(found)
    local mine = assert(b.images:get_member(img.id, env.project_b))
    assert.equal("pending", mine.status)

    -- only the consumer can accept
    local nope, nerr = a.images:update_member(img, env.project_b, "accepted")
    assert.is_nil(nope)
    assert.equal(403, nerr.status)
    local accepted = assert(b.images:accept(img.id))
    assert.equal("accepted", accepted.status)
    local listed = assert(b.images:list { visibility = "shared" })
    found = false
    for _, x in ipairs(listed) do found = found or x.id == img.id end
    assert.is_true(found)

    local bytes = {}
    assert(b.images:download(img.id, function(chunk) bytes[#bytes + 1] = chunk end))
    assert.equal(string.rep("shared-bytes", 1000), table.concat(bytes))

    assert.equal("rejected", assert(mine:reject()).status)
    assert.equal("accepted", assert(mine:accept()).status)
    assert.is_true(a.images:delete_member(img, env.project_b))
    local lost, lerr = b.images:get(img.id)
    assert.is_nil(lost)
    assert.equal(404, lerr.status)
    local none, merr = a.images:get_member(img, env.project_b)
    assert.is_nil(none)
    assert.equal(404, merr.status)
  end)

  it("says that only the member project accepts or rejects, when the owner tries", function()
    local img = new_image { visibility = "shared" }
    local m = assert(img:create_member(env.project_b)) -- the owner's member object
    -- (printed by id and name, not as table: 0x...)
    assert.equal("ims.Image " .. img.id .. " (" .. img.name .. ", queued)", tostring(img))
    assert.equal("ims.Member " .. env.project_b .. " of " .. img.id .. " (pending)", tostring(m))
    for _, call in ipairs {
      { "member:accept", function() return m:accept() end, env.project_b },
      { "member:reject", function() return m:reject() end, env.project_b },
      { "update_member", function() return a.images:update_member(img, env.project_b, "accepted") end,
        env.project_b },
      { "images:accept", function() return a.images:accept(img) end, env.project_a },
      { "image:reject", function() return img:reject() end, env.project_a },
    } do
      local r, err = call[2]()
      assert.is_nil(r, call[1])
      assert.is_true(ims.is_error(err), call[1])
      assert.equal(403, err.status, call[1])
      assert.equal("http", err.kind, call[1])
      assert.matches("Not allowed to update members", err.message, 1, true) -- Glance's words stay
      -- the hint says which side can call it: the member project, not the owner
      assert.matches("can accept or reject", err.hint, 1, true, call[1])
      assert.matches("(" .. call[3] .. ")", err.hint, 1, true, call[1])
      assert.matches("owner", err.hint, 1, true, call[1])
    end
    assert.equal("pending", assert(b.images:get_member(img.id, env.project_b)).status) -- unchanged
    assert.equal("accepted", assert(b.images:accept(img.id)).status) -- the member side can
  end)

  describe("import (create + upload in one call)", function()
    local file
    setup(function()
      file = env.tmpfile("import.bin")
      env.write_random(file, 3 * 1024 * 1024 + 7)
    end)

    local function named(name) return assert(a.images:list { name = name }) end

    it("creates, uploads and verifies; with reuse a rerun finds the same image", function()
      local name = unique("import")
      local img, err, how = a.images:import(file, { name = name, disk_format = "raw",
        container_format = "bare" }, { reuse = true })
      assert(img, tostring(err))
      created[#created + 1] = img.id
      assert.equal("created", how)
      assert.equal("active", img.status)
      assert.equal(env.sha512_file(file), img.os_hash_value)
      local again, _, how2 = a.images:import(file, { name = name, disk_format = "raw",
        container_format = "bare" }, { reuse = true })
      assert.equal(img.id, again.id)
      assert.equal("reused", how2)
      assert.equal(1, #named(name))
      -- other bytes under the same name are another image
      local other = env.tmpfile("import-other.bin")
      env.write_random(other, 1000)
      local third, _, how3 = assert(a.images:import(other, { name = name, disk_format = "raw",
        container_format = "bare" }, { reuse = true }))
      created[#created + 1] = third.id
      assert.equal("created", how3)
      assert.are_not.equal(img.id, third.id)
      assert.equal(2, #named(name))
    end)

    it("deletes the image it created when the upload fails, or keeps it if asked", function()
      local name = unique("import-fail")
      local attrs = { name = name, disk_format = "raw", container_format = "bare" }
      -- a reader that breaks its declared size: the upload fails after the image exists
      local function short() local sent = false
        return { reader = function() if not sent then sent = true; return "abc" end end, size = 10 } end
      local img, err = a.images:import(short(), attrs)
      assert.is_nil(img)
      assert.equal("deleted", err.cleanup)
      assert.is_string(err.image_id)
      assert.equal(0, #named(name))
      img, err = a.images:import(short(), attrs, { cleanup = false })
      assert.is_nil(img)
      assert.equal("kept", err.cleanup)
      created[#created + 1] = err.image_id
      assert.equal("queued", assert(a.images:get(err.image_id)).status)
      -- a reader that raises: cleaned up, then the error goes on
      local ok, raised = pcall(a.images.import, a.images, { reader = function() error("disk gone") end },
        { name = name .. "-raise", disk_format = "raw", container_format = "bare" })
      assert.is_false(ok)
      assert.matches("disk gone", raised)
      assert.equal(0, #named(name .. "-raise"))
    end)

    it("refuses misuse before creating anything", function()
      local name = unique("import-misuse")
      assert.has_error(function() a.images:import(file, { name = name, min_disk = "x" }) end,
        "ims.images:import: argument 'min_disk' must be an integer (got string)")
      assert.has_error(function() a.images:import(file, { name = name }, { clean = true }) end,
        "ims.images:import: unknown option 'clean'")
      assert.has_error(function() a.images:import({ reader = function() end }, { name = name }, { reuse = true }) end,
        "ims.images:import: option 'reuse' needs a file source (a reader cannot be hashed first)")
      assert.has_error(function() a.images:import(file, { name = name }, { digests = { "crc" } }) end)
      assert.equal(0, #named(name))
    end)
  end)

  it("raises when the client is closed", function()
    local c = client_for("a")
    c:close()
    c:close()
    assert.has_error(function() c.images:get("x") end, "ims.images:get: the client is closed")
    do
      local d <close> = client_for("a")
      assert(d.images:list { max = 1 })
    end
  end)
end)
