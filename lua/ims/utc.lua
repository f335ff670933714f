-- ims.utc: the UTC timestamps IMS and Keystone send ("2024-11-06T06:19:43.195Z",
-- "2024-11-06T06:19:43.000000Z") as epoch seconds, fractions kept. Pure arithmetic, so the
-- machine's time zone never gets involved.
local M = {}

-- Epoch seconds of an ISO-8601 UTC time, or nil when `s` is not one.
function M.seconds(s)
  local y, mo, d, h, mi, sec, frac = tostring(s):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)")
  if not y then return nil end
  y, mo = tonumber(y), tonumber(mo)
  -- days from civil (proleptic Gregorian)
  local yy = mo <= 2 and y - 1 or y
  local era = yy // 400
  local yoe = yy - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + tonumber(d) - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  local t = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  if #frac > 1 then t = t + tonumber("0" .. frac) end
  return t
end

return M
