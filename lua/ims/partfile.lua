-- ims.partfile: how a download reaches its file, for every download (images:download,
-- obs:get): the bytes go to `dest .. ".part"`, renamed to `dest` only once complete and
-- verified, so a failed or wrong download never leaves a file at `dest` that looks complete,
-- nor clobbers one there. With `resume`, a `.part` file (or, when there is none, `dest`
-- itself) of an earlier run is continued; a continued file that fails its check was not a
-- prefix of the data, and the download starts over once.
local errors = require "ims.errors"

local M = {}

function M.size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- fetch(t) runs one download into t.part (continued when t.resume): result | nil, err.
-- Returns fetch's result once dest holds the bytes, or nil, err.
function M.download(dest, resume, t, fetch)
  t.part = dest .. ".part"
  if resume and not M.size(t.part) and M.size(dest) then
    os.rename(dest, t.part) -- the file given is the one to continue
  end
  t.resume = resume and M.size(t.part) ~= nil
  local result, err = fetch(t)
  if not result and t.resume and err.kind == "checksum" then
    os.remove(t.part)
    t.resume = false
    result, err = fetch(t)
  end
  if not result then
    if not resume then os.remove(t.part) end -- with resume, the next run continues it
    return nil, err
  end
  local ok, msg = os.rename(t.part, dest)
  if not ok then
    return nil, errors.new { kind = "file", code = "FILE", message = "cannot rename " .. t.part
      .. " to " .. dest .. ": " .. tostring(msg) }
  end
  return result
end

return M
