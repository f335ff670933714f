-- Paging behind one shape: a page function returning (items) / (nil: done) / (false, err).
-- Glance pages by following the top-level `next` link; `each` and `list` are built on it.
local errors = require "ims.errors"
local url = require "ims.url"
local validate = require "ims.validate"

local M = {}

-- The query of a list/each call, checked against `schema` (raises at the caller of the public
-- function that called this): `max` taken out (and checked >= 0), a page size of at most
-- `page_max` when a few items are asked for, and with `properties` (Glance) each property
-- filter moved into the query. Returns query, max.
function M.query(fname, query, schema, page_max)
  local q = validate.options(fname, query, schema, 4)
  local max = q.max
  if max and max < 0 then error(fname .. ": option 'max' must be >= 0", 3) end
  q.max = nil
  if max and max > 0 and not q.limit then q.limit = math.min(max, page_max) end
  local props = q.properties
  q.properties = nil
  for k, v in pairs(props or {}) do
    if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number"
        and type(v) ~= "boolean") then
      error(fname .. ": option 'properties' must map property names to values", 3)
    end
    if schema[k] then error(fname .. ": '" .. k .. "' is a filter of its own, not a property", 3) end
    q[k] = v
  end
  return q, max
end

-- Glance v2: GET path?query, items under body[key], next page at body.next (relative link).
function M.glance(client, path, query, key)
  local next_url, started
  local seen = {}
  return function()
    if not started then -- the endpoint may come from a token's catalog: not known before
      started = true
      local ok, err = client:ready()
      if not ok then return false, err end
      next_url = client:url(path, query)
    end
    if not next_url then return nil end
    if seen[next_url] then
      return false, errors.new { kind = "decode", method = "GET", url = next_url,
        message = "pagination loop: the server repeated a next link" }
    end
    seen[next_url] = true
    local res, err = client:request { url = next_url, expect = 200 }
    if not res then return false, err end
    local body = res.json
    local items = type(body) == "table" and body[key]
    if type(items) ~= "table" then
      return false, errors.new { kind = "decode", status = res.status, method = "GET",
        url = next_url, message = "response has no '" .. key .. "' list" }
    end
    next_url = #items > 0 and type(body.next) == "string" and url.resolve(client.endpoint, body.next)
      or nil
    return items
  end
end

-- IMS: GET path?query&limit=N[&marker=last id]; items under body[key], no links: a page shorter
-- than the limit is the last one.
function M.marker(client, path, query, key, limit)
  local marker, done = query.marker, false
  return function()
    if done then return nil end
    local q = {}
    for k, v in pairs(query) do q[k] = v end
    q.limit, q.marker = limit, marker
    local res, err = client:request { path = path, query = q, expect = 200 }
    if not res then return false, err end
    local items = type(res.json) == "table" and res.json[key]
    if type(items) ~= "table" then
      return false, errors.new { kind = "decode", status = res.status, method = "GET",
        url = client:url(path, q), message = "response has no '" .. key .. "' list" }
    end
    local last = items[#items]
    if #items < limit or type(last) ~= "table" or last.id == nil or last.id == marker then
      done = true
    else
      marker = last.id
    end
    return items
  end
end

-- Lazy iterator over items of `pages`, wrapped by `wrap`; raises ims.Error on failure
-- (a generic `for` has no other way to report one). Stops after `max` items when given.
function M.each(pages, wrap, max)
  local items, i, count = {}, 0, 0
  return function()
    if max and count >= max then return nil end
    i = i + 1
    while i > #items do
      local page, err = pages()
      if page == false then error(err, 2) end
      if page == nil then return nil end
      items, i = page, 1
    end
    count = count + 1
    return wrap(items[i])
  end
end

-- All items as one array, or nil, err.
function M.list(pages, wrap, max)
  local out = {}
  while true do
    local page, err = pages()
    if page == false then return nil, err end
    if page == nil then return out end
    for _, item in ipairs(page) do
      if max and #out >= max then return out end
      out[#out + 1] = wrap(item)
    end
    if max and #out >= max then return out end
  end
end

return M
