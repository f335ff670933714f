-- ims.validate: option/argument/id checks, their messages, and where the error is reported.
local validate = require "ims.validate"

local SCHEMA = {
  name = "string", limit = "integer", timeout = "number", verify = "boolean", headers = "table",
  log = "function", extra = "any", digests = "strings", tag = "string|strings",
  source = "string|table", sort_dir = { "asc", "desc" },
  token = { type = "string", required = true },
}

-- A stand-in for a public SDK function (validate.* are called from inside one).
local function public(opts)
  local out = validate.options("ims.test:call", opts, SCHEMA)
  return out
end

local function raise_msg(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))   -- drop "file:line: "
end

describe("ims.validate.options", function()
  it("returns a shallow copy of a valid table", function()
    local log = function() end
    local opts = { token = "t", name = "n", verify = false, headers = { a = "b" }, log = log,
      extra = 1, digests = { "md5", "sha512" }, tag = "x", source = { path = "/p" }, sort_dir = "asc" }
    local out = public(opts)
    assert.are_not.equal(opts, out)
    assert.are.same(opts, out)
    assert.are.equal(opts.headers, out.headers)
    out.name = "changed"
    assert.are.equal("n", opts.name)
  end)

  it("converts integral floats to integers", function()
    local out = public({ token = "t", limit = 25.0, timeout = 2.0 })
    assert.are.equal("integer", math.type(out.limit))
    assert.are.equal(25, out.limit)
    assert.are.equal("integer", math.type(out.timeout))
    assert.are.equal(0.5, public({ token = "t", timeout = 0.5 }).timeout)
  end)

  it("treats nil as an empty table", function()
    assert.are.same({}, validate.options("f", nil, { a = "string" }))
  end)

  it("raises when opts is not a table", function()
    assert.are.equal("f: options must be a table (got string)",
      raise_msg(validate.options, "f", "x", {}))
    assert.are.equal("f: options must be a table (got number)",
      raise_msg(validate.options, "f", 3, {}))
  end)

  it("raises on unknown keys, naming the key", function()
    assert.are.equal("ims.test:call: unknown option 'min_dsik'",
      raise_msg(public, { token = "t", min_dsik = 1 }))
  end)

  it("raises on non-string keys", function()
    assert.are.equal("ims.test:call: option keys must be strings",
      raise_msg(public, { token = "t", "positional" }))
  end)

  it("raises on missing required fields", function()
    assert.are.equal("ims.test:call: missing required field 'token'", raise_msg(public, {}))
    assert.are.equal("ims.test:call: missing required field 'token'", raise_msg(public, nil))
  end)

  it("describes type mismatches", function()
    local cases = {
      { { name = 5 }, "option 'name' must be a string (got 5)" },
      { { limit = 1.5 }, "option 'limit' must be an integer (got 1.5)" },
      { { limit = "10" }, "option 'limit' must be an integer (got string)" },
      { { timeout = "1" }, "option 'timeout' must be a number (got string)" },
      { { verify = "yes" }, "option 'verify' must be a boolean (got string)" },
      { { headers = "a" }, "option 'headers' must be a table (got string)" },
      { { log = {} }, "option 'log' must be a function (got table)" },
      { { sort_dir = "up" }, "option 'sort_dir' must be one of 'asc', 'desc' (got 'up')" },
      { { sort_dir = 1 }, "option 'sort_dir' must be one of 'asc', 'desc' (got 1)" },
      { { digests = "md5" }, "option 'digests' must be a list of strings (got string)" },
      { { digests = { "md5", 5 } }, "option 'digests' must be a list of strings (got 5 at index 2)" },
      { { digests = { a = "x" } }, "option 'digests' must be a list of strings (got a table with key 'a')" },
      { { tag = 1 }, "option 'tag' must be a string or a list of strings (got 1)" },
      { { tag = { true } }, "option 'tag' must be a string or a list of strings (got true at index 1)" },
      { { source = false }, "option 'source' must be a string or a table (got false)" },
      { { token = 1 }, "option 'token' must be a string (got 1)" },
    }
    for _, c in ipairs(cases) do
      local opts = c[1]
      opts.token = opts.token or "t"
      assert.are.equal("ims.test:call: " .. c[2], raise_msg(public, opts))
    end
  end)

  it("accepts any non-nil value for 'any', empty lists for 'strings'", function()
    assert.are.same({ token = "t", extra = false, digests = {} },
      public({ token = "t", extra = false, digests = {} }))
  end)

  it("reports the error at the line that called the public function", function()
    local info = debug.getinfo(1, "Sl")
    local ok, err = pcall(function() public({ token = "t", bogus = 1 }) end)  -- this line
    assert.is_false(ok)
    assert.are.equal(info.short_src .. ":" .. (info.currentline + 1)
      .. ": ims.test:call: unknown option 'bogus'", err)
  end)

  it("honours an explicit level for helpers that add a frame", function()
    local function helper(opts) local out = validate.options("f", opts, {}, 4); return out end
    local function pub(opts) local out = helper(opts); return out end
    local info = debug.getinfo(1, "Sl")
    local ok, err = pcall(function() pub({ x = 1 }) end)
    assert.is_false(ok)
    assert.are.equal(info.short_src .. ":" .. (info.currentline + 1) .. ": f: unknown option 'x'", err)
  end)
end)

describe("ims.validate.arg", function()
  local function pub(v, spec)
    local out = validate.arg("ims.test:arg", "tag", v, spec or "string")
    return out
  end

  it("returns the (normalised) value", function()
    assert.are.equal("x", pub("x"))
    local n = pub(3.0, "integer")
    assert.are.equal("integer", math.type(n))
    assert.are.equal(3, n)
    assert.are.equal("asc", pub("asc", { "asc", "desc" }))
  end)

  it("raises with the argument named", function()
    assert.are.equal("ims.test:arg: argument 'tag' must be a string (got nil)", raise_msg(pub, nil))
    assert.are.equal("ims.test:arg: argument 'tag' must be a string (got table)", raise_msg(pub, {}))
    assert.are.equal("ims.test:arg: argument 'tag' must be one of 'accepted', 'rejected' (got 'ok')",
      raise_msg(pub, "ok", { "accepted", "rejected" }))
  end)

  it("lets nil through only for {required = false}", function()
    assert.is_nil(pub(nil, { type = "string", required = false }))
    assert.are.equal("ims.test:arg: argument 'tag' must be a string (got nil)",
      raise_msg(pub, nil, { type = "string", required = true }))
  end)

  it("reports the error at the line that called the public function", function()
    local info = debug.getinfo(1, "Sl")
    local ok, err = pcall(function() pub(42) end)
    assert.is_false(ok)
    assert.are.equal(info.short_src .. ":" .. (info.currentline + 1)
      .. ": ims.test:arg: argument 'tag' must be a string (got 42)", err)
  end)
end)

describe("ims.validate.id", function()
  local function get(image) local id = validate.id("ims.images:get", "image", image); return id end
  local function member(m)
    local id = validate.id("ims.images:get_member", "member", m, { "member_id", "id" })
    return id
  end

  it("accepts an id string or a table with 'id'", function()
    assert.are.equal("abc", get("abc"))
    assert.are.equal("abc", get({ id = "abc", name = "x" }))
    assert.are.equal("abc", get(setmetatable({ id = "abc" }, { __index = {} })))
  end)

  it("tries the given fields in order", function()
    assert.are.equal("p2", member({ member_id = "p2", image_id = "i" }))
    assert.are.equal("p3", member({ id = "p3" }))
  end)

  it("raises for anything else", function()
    local pre = "ims.images:get: argument 'image' must be an id string or a table with 'id' (got "
    assert.are.equal(pre .. "nil)", raise_msg(get, nil))
    assert.are.equal(pre .. "empty string)", raise_msg(get, ""))
    assert.are.equal(pre .. "7)", raise_msg(get, 7))
    assert.are.equal(pre .. "table without 'id')", raise_msg(get, { name = "x" }))
    assert.are.equal(pre .. "table without 'id')", raise_msg(get, { id = "" }))
    assert.are.equal("ims.images:get_member: argument 'member' must be an id string or a table with "
      .. "'member_id' or 'id' (got table without 'member_id' or 'id')", raise_msg(member, {}))
  end)

  it("reports the error at the line that called the public function", function()
    local info = debug.getinfo(1, "Sl")
    local ok, err = pcall(function() get(nil) end)
    assert.is_false(ok)
    assert.matches("^" .. info.short_src:gsub("%p", "%%%0") .. ":" .. (info.currentline + 1) .. ": ", err)
  end)

  it("accepts a level in place of fields", function()
    local function helper(v) local id = validate.id("f", "job", v, 4); return id end
    local function pub(v) local id = helper(v); return id end
    local info = debug.getinfo(1, "Sl")
    local ok, err = pcall(function() pub(nil) end)
    assert.is_false(ok)
    assert.are.equal(info.short_src .. ":" .. (info.currentline + 1)
      .. ": f: argument 'job' must be an id string or a table with 'id' (got nil)", err)
  end)
end)
