-- ims.json: decode normalisation (integers, nulls), exact pure-Lua encoding, and misuse.
local json = require "ims.json"
local cjson = require "cjson"

describe("ims.json.decode", function()
  it("turns integral numbers into Lua integers, recursively", function()
    local v = json.decode('{"size": 1073741824, "min_disk": 40, "ratio": 0.5,'
      .. ' "nested": {"list": [1, 2.0, 3.25, {"n": 7}]}}')
    assert.are.equal("integer", math.type(v.size))
    assert.are.equal(1073741824, v.size)
    assert.are.equal("integer", math.type(v.min_disk))
    assert.are.equal("float", math.type(v.ratio))
    assert.are.equal("integer", math.type(v.nested.list[1]))
    assert.are.equal("integer", math.type(v.nested.list[2]))
    assert.are.equal(3.25, v.nested.list[3])
    assert.are.equal("integer", math.type(v.nested.list[4].n))
    assert.are.equal("x40", "x" .. v.min_disk)
  end)

  it("normalises top-level scalars", function()
    assert.are.equal("integer", math.type(json.decode("42")))
    assert.are.equal(1.5, json.decode("1.5"))
    assert.are.equal("abc", json.decode('"abc"'))
    assert.are.equal(true, json.decode("true"))
  end)

  it("removes null members of objects so they read as nil", function()
    local v = json.decode('{"name": null, "size": null, "id": "a", "inner": {"x": null, "y": 1}}')
    assert.is_nil(v.name)
    assert.is_nil(v.size)
    assert.are.equal("a", v.id)
    assert.is_nil(v.inner.x)
    assert.are.same({ y = 1 }, v.inner)
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    assert.are.equal(2, n)
  end)

  it("keeps null elements of arrays as json.null so indexes keep their places", function()
    local v = json.decode('[1, null, 3]')
    assert.are.equal(3, #v)
    assert.are.equal(json.null, v[2])
    assert.are.equal(3, v[3])
  end)

  it("decodes a top-level null to json.null", function()
    assert.are.equal(json.null, json.decode("null"))
    assert.are.equal(cjson.null, json.null)
  end)

  it("returns nil, msg instead of raising on bad input", function()
    for _, bad in ipairs { "{bad", "", "[1,2] x", "NaN", "{\"a\":}" } do
      local v, msg = json.decode(bad)
      assert.is_nil(v)
      assert.is_string(msg)
      assert.matches("^json: ", msg)
    end
    local v, msg = json.decode(nil)
    assert.is_nil(v)
    assert.matches("expected a string", msg)
  end)

  it("decodes UTF-8 escapes", function()
    assert.are.equal("é/x", json.decode('"\\u00e9\\/x"'))
  end)

  it("does not change the settings of the shared cjson module", function()
    json.decode("[1]")
    assert.are.equal("float", math.type(cjson.decode("42")))
    assert.has_no.errors(function() cjson.decode("NaN") end)
  end)

  it("decodes a 1000-image listing page with integer sizes and nulls dropped", function()
    local images = {}
    for i = 1, 1000 do
      images[i] = string.format('{"id": "%08d-0000-0000-0000-000000000000", "name": "image-%d",'
        .. ' "status": "active", "visibility": "private", "size": %d, "min_disk": 40,'
        .. ' "min_ram": 0, "checksum": "d41d8cd98f00b204e9800998ecf8427e", "os_hash_algo": "sha512",'
        .. ' "os_hash_value": "%s", "disk_format": "qcow2", "container_format": "bare",'
        .. ' "tags": ["a", "b"], "protected": false, "os_hidden": false, "owner": "p1",'
        .. ' "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",'
        .. ' "__os_type": "Linux", "__platform": "Ubuntu", "__imagetype": "private",'
        .. ' "virtual_size": null, "direct_url": null, "self": "/v2/images/x", "file": "/v2/images/x/file",'
        .. ' "schema": "/v2/schemas/image"}', i, i, 1073741824 + i, string.rep("ab", 64))
    end
    local page = '{"images": [' .. table.concat(images, ",") .. '], "next": "/v2/images?marker=x",'
      .. ' "first": "/v2/images", "schema": "/v2/schemas/images"}'
    -- speed is measured in bench/, not here
    local v = assert(json.decode(page))
    assert.are.equal(1000, #v.images)
    assert.are.equal(1073741824 + 1000, v.images[1000].size)
    assert.are.equal("integer", math.type(v.images[1000].size))
    assert.is_nil(v.images[1].virtual_size)
  end)
end)

describe("ims.json.encode", function()
  it("keeps integers exact beyond cjson's 14 digits", function()
    assert.are.equal('{"size":123456789012345678}', json.encode({ size = 123456789012345678 }))
    assert.are.equal(tostring(math.maxinteger), json.encode(math.maxinteger))
    assert.are.equal(tostring(math.mininteger), json.encode(math.mininteger))
  end)

  it("writes integral floats as integers and other floats exactly", function()
    assert.are.equal("42", json.encode(42.0))
    assert.are.equal("0", json.encode(-0.0))
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal("1.5", json.encode(1.5))
    local third = 1 / 3
    assert.are.equal(third, tonumber(json.encode(third)))
    assert.are.equal(1e300, tonumber(json.encode(1e300)))
  end)

  it("raises on NaN and infinity", function()
    assert.has_error(function() json.encode(0 / 0) end, "json: cannot encode NaN or infinity")
    assert.has_error(function() json.encode({ x = math.huge }) end)
    assert.has_error(function() json.encode({ -math.huge }) end)
  end)

  it("escapes strings per JSON and leaves '/' alone", function()
    assert.are.equal('"a/b"', json.encode("a/b"))
    assert.are.equal('"q\\"b\\\\s"', json.encode('q"b\\s'))
    assert.are.equal('"\\n\\r\\t\\b\\f"', json.encode("\n\r\t\b\f"))
    assert.are.equal('"\\u0000\\u0001\\u001f"', json.encode("\0\1\31"))
    assert.are.equal('"é"', json.encode("é"))
    assert.are.equal("\0\1\31 x\"\\/é", json.decode(json.encode("\0\1\31 x\"\\/é")))
  end)

  it("encodes scalars and json.null", function()
    assert.are.equal("true", json.encode(true))
    assert.are.equal("false", json.encode(false))
    assert.are.equal("null", json.encode(json.null))
    assert.are.equal('{"os_distro":null}', json.encode({ os_distro = json.null }))
  end)

  it("encodes sequences as arrays and json.array tables as arrays even when empty", function()
    assert.are.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
    assert.are.equal("[]", json.encode(json.array({})))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal('{"tags":[]}', json.encode({ tags = json.array({}) }))
    assert.are.equal('["a"]', json.encode(json.array({ "a" })))
    assert.are.equal("[1,null,3]", json.encode(json.array({ [1] = 1, [3] = 3 })))
  end)

  it("json.array sets json.array_mt and returns its argument", function()
    local t = {}
    assert.are.equal(t, json.array(t))
    assert.are.equal(json.array_mt, getmetatable(t))
  end)

  it("encodes an empty plain table as an object", function()
    assert.are.equal("{}", json.encode({}))
    assert.are.equal('{"properties":{}}', json.encode({ properties = {} }))
  end)

  it("treats tables whose keys are not exactly 1..n as objects (string keys required)", function()
    assert.has_error(function() json.encode({ [2] = "a", [3] = "b" }) end,
      "json: cannot encode key of type number")
    assert.has_error(function() json.encode({ [1] = 1, [3] = 3 }) end,
      "json: cannot encode key of type number")
    assert.has_error(function() json.encode({ 1, a = 2 }) end, "json: cannot encode key of type number")
    assert.has_error(function() json.encode({ [true] = 1 }) end, "json: cannot encode key of type boolean")
    assert.has_error(function() json.encode(json.array({ a = 1 })) end)
  end)

  it("emits object keys in sorted order", function()
    assert.are.equal('{"a":1,"b":{"c":3,"d":[true,false]},"z":"x"}',
      json.encode({ z = "x", b = { d = { true, false }, c = 3 }, a = 1 }))
  end)

  it("raises on functions, userdata and threads", function()
    assert.has_error(function() json.encode({ f = print }) end, "json: cannot encode a function")
    assert.has_error(function() json.encode(io.stdout) end, "json: cannot encode a userdata")
    assert.has_error(function() json.encode(coroutine.create(print)) end, "json: cannot encode a thread")
  end)

  it("raises on cycles but accepts shared sub-tables", function()
    local t = { a = {} }
    t.a.back = t
    assert.has_error(function() json.encode(t) end, "json: cannot encode a cyclic table")
    local shared = { 1 }
    assert.are.equal('{"x":[1],"y":[1]}', json.encode({ x = shared, y = shared }))
  end)

  it("raises at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() json.encode({ f = print }) end)
    assert.is_false(ok)
    assert.matches("json_spec.lua:" .. line .. ": json: cannot encode a function", err, 1, true)
  end)

  it("round-trips through decode", function()
    local v = { name = "x", size = 123456789012, tags = json.array({ "a", "b" }), min_ram = 0,
      nested = { list = { 1, 2.5, "s" } } }
    local back = json.decode(json.encode(v))
    assert.are.same({ name = "x", size = 123456789012, tags = { "a", "b" }, min_ram = 0,
      nested = { list = { 1, 2.5, "s" } } }, back)
  end)
end)
