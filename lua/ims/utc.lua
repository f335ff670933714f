-- ims.utc: the UTC timestamps IMS and Keystone send ("2024-11-06T06:19:43.195Z",
-- "2024-11-06T06:19:43.000000Z", fractions kept) and HTTP Date headers, as epoch seconds.
-- Pure arithmetic, so the machine's time zone never gets involved.
local M = {}

-- Epoch seconds of a civil UTC date and time (numbers; proleptic Gregorian days from civil).
local function epoch(y, mo, d, h, mi, sec)
  local yy = mo <= 2 and y - 1 or y
  local era = yy // 400
  local yoe = yy - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return (era * 146097 + doe - 719468) * 86400 + h * 3600 + mi * 60 + sec
end

-- Epoch seconds of an ISO-8601 UTC time, or nil when `s` is not one.
function M.seconds(s)
  local y, mo, d, h, mi, sec, frac = tostring(s):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)")
  if not y then return nil end
  local t = epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
  if #frac > 1 then t = t + tonumber("0" .. frac) end
  return t
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
  Oct = 10, Nov = 11, Dec = 12 }

-- Epoch seconds of an HTTP Date header ("Sun, 06 Nov 1994 08:49:37 GMT"), or nil. The last
-- one read is kept: responses in the same second repeat it (every job poll reads it twice).
local last_date, last_seconds
function M.http_date(s)
  if s == last_date then return last_seconds end
  local d, mon, y, h, mi, sec =
    tostring(s):match("^%a+, (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not (d and MONTHS[mon]) then return nil end
  last_date = s
  last_seconds = epoch(tonumber(y), MONTHS[mon], tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
  return last_seconds
end

return M
