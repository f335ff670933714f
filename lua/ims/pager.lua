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

-- A listing cannot page forever, whatever the server's links and markers say: at most this
-- many pages, each answer's items checked, and a page of nothing but items already seen is a
-- loop (a server that ignores the marker, or changes its link without moving on).
M.MAX_PAGES = 10000

local function page_error(res, u, message, code)
  return errors.new { kind = "decode", code = code, status = res and res.status, method = "GET",
    url = u, message = message }
end

-- The items of one answer, checked (a list of objects with an id); nil, err otherwise. `seen`
-- collects ids across pages: a non-empty page holding only seen ones is a loop.
local function page_items(res, key, u, seen)
  local items = type(res.json) == "table" and res.json[key]
  if type(items) ~= "table" then return nil, page_error(res, u, "response has no '" .. key .. "' list") end
  local new = 0
  for i, item in ipairs(items) do
    local id = type(item) == "table" and validate.wire_id(item.id)
    if not id then
      return nil, page_error(res, u, "item " .. i .. " of '" .. key .. "' is not an object with an id")
    end
    if not seen[id] then
      seen[id] = true
      new = new + 1
    end
  end
  if #items > 0 and new == 0 then
    return nil, page_error(res, u, "pagination loop: the page holds only items already listed", "PAGE_LOOP")
  end
  return items
end

-- Counts pages against MAX_PAGES; an error when there are too many.
local function counted(state, u)
  state.pages = state.pages + 1
  if state.pages > M.MAX_PAGES then
    return page_error(nil, u, "more than " .. M.MAX_PAGES .. " pages: the listing does not end",
      "TOO_MANY_PAGES")
  end
end

-- Glance v2: GET path?query, items under body[key], next page at body.next (a link on the
-- endpoint's origin: the request path refuses any other). `deadline`: one for every page
-- (list), or nil (each: every page has the client's timeout).
function M.glance(client, path, query, key, deadline)
  local next_url, started
  local links, seen, state = {}, {}, { pages = 0 }
  return function()
    if not started then -- the endpoint may come from a token's catalog: not known before
      started = true
      local ok, err = client:ready()
      if not ok then return false, err end
      next_url = client:url(path, query)
    end
    if not next_url then return nil end
    if links[next_url] then
      return false, page_error(nil, next_url, "pagination loop: the server repeated a next link", "PAGE_LOOP")
    end
    links[next_url] = true
    local cerr = counted(state, next_url)
    if cerr then return false, cerr end
    local res, err = client:request { url = next_url, expect = 200, deadline = deadline }
    if not res then return false, err end
    local items, ierr = page_items(res, key, next_url, seen)
    if not items then return false, ierr end
    local nxt = res.json.next
    next_url = #items > 0 and type(nxt) == "string" and url.resolve(client.endpoint, nxt) or nil
    return items
  end
end

-- IMS: GET path?query&limit=N[&marker=last id]; items under body[key], no links: a page shorter
-- than the limit is the last one.
function M.marker(client, path, query, key, limit, deadline)
  local marker, done = query.marker, false
  local seen, state = {}, { pages = 0 }
  return function()
    if done then return nil end
    local q = {}
    for k, v in pairs(query) do q[k] = v end
    q.limit, q.marker = limit, marker
    local u = client:url(path, q)
    local cerr = counted(state, u)
    if cerr then return false, cerr end
    local res, err = client:request { path = path, query = q, expect = 200, deadline = deadline }
    if not res then return false, err end
    local items, ierr = page_items(res, key, u, seen)
    if not items then return false, ierr end
    if #items < limit then
      done = true
    else
      marker = items[#items].id
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
