-- ims.diskfile: what a local disk image file is, from its magic bytes, as IMS will see it:
-- the format and the virtual size (the disk the image needs, which `min_disk` must cover).
-- Reads at most three small pieces of the file; a header it cannot make sense of is "raw"
-- (as IMS does), a size field out of reason is reported, never trusted.
local core = require "ims.native"

local M = {}

local GIB = 1024 * 1024 * 1024

local function read_at(f, offset, n)
  if not f:seek("set", offset) then return nil end
  return f:read(n)
end

local function u64be(s, i) return (string.unpack(">I8", s, i)) end
local function u64le(s, i) return (string.unpack("<I8", s, i)) end

-- A virtual size read from a header: positive and below 64 TiB, else unknown.
local function plausible(n)
  if math.type(n) == "integer" and n > 0 and n < (64 << 40) then return n end
  return nil
end

-- A VMDK descriptor's extents: "RW 41943040 SPARSE ..." lines, in sectors.
local function descriptor_size(text)
  local total = 0
  for access, sectors in text:gmatch("\n%s*(%u+)%s+(%d+)%s") do
    if access == "RW" or access == "RDONLY" or access == "NOACCESS" then
      total = total + (math.tointeger(tonumber(sectors)) or 0)
    end
  end
  return total > 0 and total * 512 or nil
end

-- `{format =, size =, virtual_size =?}` of the file at `path`, or nil, message. `format` is
-- one of `qcow2`, `vmdk`, `vhd`, `vhdx`, `iso`, `zvhd2`, `zvhd` (Huawei's, known by the
-- extension: their layouts are not public), `raw`.
function M.inspect(path)
  local info, msg = core.file_info(path)
  if not info then return nil, msg end
  if info.type ~= "file" then return nil, path .. " is not a regular file" end
  local size = info.size
  local lower = path:lower()
  if lower:match("%.zvhd2$") then return { format = "zvhd2", size = size } end
  if lower:match("%.zvhd$") then return { format = "zvhd", size = size } end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local head = f:read(512) or ""
  local r = { format = "raw", size = size, virtual_size = size }
  if head:sub(1, 4) == "QFI\xfb" and #head >= 32 then
    r.format, r.virtual_size = "qcow2", plausible(u64be(head, 25))
  elseif head:sub(1, 4) == "KDMV" and #head >= 20 then
    local sectors = u64le(head, 13)
    r.format, r.virtual_size = "vmdk", plausible(sectors < (1 << 50) and sectors * 512 or -1)
  elseif head:sub(1, 21) == "# Disk DescriptorFile" then
    r.format, r.virtual_size = "vmdk", plausible(descriptor_size(head .. (f:read(16384) or "")))
  elseif head:sub(1, 8) == "vhdxfile" then
    r.format, r.virtual_size = "vhdx", nil -- in the metadata region: not read here
  else
    local footer = size >= 512 and read_at(f, size - 512, 512) or ""
    if head:sub(1, 8) == "conectix" or footer:sub(1, 8) == "conectix" then
      local ft = footer:sub(1, 8) == "conectix" and footer or head
      r.format, r.virtual_size = "vhd", #ft >= 56 and plausible(u64be(ft, 49)) or nil
    elseif size >= 0x8006 and read_at(f, 0x8001, 5) == "CD001" then
      r.format = "iso"
    end
  end
  f:close()
  return r
end

-- The smallest `min_disk` (GB) a virtual size needs (at least 1).
function M.min_disk(virtual_size)
  return math.max(1, (virtual_size + GIB - 1) // GIB)
end

return M
