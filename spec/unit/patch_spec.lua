-- ims.patch: the operation lists of images:update and cloudimages:update.
local json = require "ims.json"
local patch = require "ims.patch"

describe("ims.patch.ops", function()
  local GLANCE = { known = { name = "string", min_ram = "integer", tags = "strings" }, arrays = { tags = true } }

  it("replaces what the image has, adds what it lacks, removes on ims.null, sorted by key", function()
    local image = { id = "i", os_distro = "debian" }
    assert.same({
      { op = "replace", path = "/min_ram", value = 512 },
      { op = "replace", path = "/name", value = "n" },
      { op = "remove", path = "/os_distro" },
      { op = "add", path = "/os_version", value = "12" },
    }, patch.ops("f", image, { name = "n", min_ram = 512, os_distro = json.null, os_version = "12" }, GLANCE))
  end)

  it("escapes keys as JSON pointers, sends arrays as arrays, and adds IMS's removal value", function()
    local ops = patch.ops("f", "id", { ["a/b~c"] = "x", tags = {} }, GLANCE)
    assert.same({ op = "add", path = "/a~1b~0c", value = "x" }, ops[1])
    assert.equal("[]", json.encode(ops[2].value))
    assert.same({ { op = "remove", path = "/__description", value = "" } },
      patch.ops("f", "id", { __description = json.null }, { known = { name = true }, remove_value = "" }))
  end)

  it("passes explicit operations through, checked", function()
    local ops = { { op = "replace", path = "/name", value = "x" }, { op = "remove", path = "/k" } }
    assert.same(ops, patch.ops("f", "id", ops, GLANCE))
    assert.has_error(function() patch.ops("f", "id", { { op = "add", path = "k" } }, GLANCE) end,
      "f: changes[1].path must start with '/'")
    assert.has_error(function() patch.ops("f", "id", { "x" }, GLANCE) end, "f: changes[1] must be a table")
    assert.has_error(function() patch.ops("f", "id", {}, GLANCE) end, "f: no changes given")
    assert.has_error(function() patch.ops("f", "id", { min_ram = "lots" }, GLANCE) end)
  end)
end)
