-- docs/api.md against the code: every call its tables name exists, with that name, on the
-- object its section (or the row itself, `recv:name(`) says; and the ones that state a required
-- field really raise without it. A name renamed in code but not in the docs (or the reverse)
-- fails here.
local ims = require "ims"
local env = require "support.env"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- {receiver, name, line} for every `name(` / `recv:name(` / `recv.name(` in a table's first cell.
local function documented()
  local out, receiver = {}, nil
  local n = 0
  for line in read("docs/api.md"):gmatch("([^\n]*)\n") do
    n = n + 1
    local head = line:match("^##+ (.*)$")
    if head then receiver = head:match("`client[.:](%w+)") or head:match("`(%w+):") end
    local cell = line:match("^| (`[^|]*)|")
    if cell and not cell:find("^`%-%-") then
      for tok in cell:gmatch("`([^`]+)`") do
        local recv, sep, name = tok:match("^([%w_]+)([:.])([%w_]+)%(")
        if not recv then name = tok:match("^([%w_]+)%(") end
        if name then out[#out + 1] = { recv or receiver, name, n, sep } end
      end
    end
  end
  return out
end

describe("docs/api.md", function()
  local c, objects
  setup(function()
    c = ims.new { endpoint = "http://127.0.0.1:9", project_id = "p", obs_endpoint = "http://127.0.0.1:9",
      auth = { ak = "ak", sk = "sk" } }
    objects = { images = c.images, cloudimages = c.cloudimages, jobs = c.jobs, obs = c.obs, client = c,
      job = c.jobs:wrap("j"), image = c.images:_wrap { id = "11111111-1111-1111-1111-111111111111" },
      journal = assert(c:journal(env.tmpfile("doc.journal"))), ims = ims }
  end)
  teardown(function() objects.journal:close(); c:close() end)

  it("names only calls that exist, on the objects it says", function()
    local rows, missing = documented(), {}
    assert.is_true(#rows > 75, #rows .. " rows found")
    local checked = 0
    for _, r in ipairs(rows) do
      local obj = objects[r[1]]
      if obj then checked = checked + 1 end
      if obj and type(obj[r[2]]) ~= "function" then
        missing[#missing + 1] = string.format("docs/api.md:%d: %s%s%s", r[3], r[1], r[4] or ":", r[2])
      end
    end
    assert.same({}, missing)
    assert.is_true(checked > 70, checked .. " of " .. #rows .. " rows had a known receiver")
  end)

  it("states required fields that the calls really require", function()
    -- the export row: file_format unless is_quick_export
    assert.matches("`export%(image, {bucket_url =, file_format = %(unless is_quick_export%) \"qcow2\"",
      read("docs/api.md"))
    assert.has_error(function() c.cloudimages:export("i", { bucket_url = "b:o" }) end,
      "ims.cloudimages:export: missing required field 'file_format' (or is_quick_export = true)")
    assert.has_no.errors(function()
      c.cloudimages:export("i", { bucket_url = "b:o", is_quick_export = true }) -- runtime failure, no raise
    end)
  end)
end)
