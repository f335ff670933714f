-- ims.cli.commands: every `ims` command, one cli.command{} each. Verbs and option names follow
-- python-openstackclient's `openstack image ...` where it has one (show, set --property k=v,
-- unset, add project, --min-disk, --tag), so its users feel at home; commands taking an image
-- accept its name too (resolved, refused when ambiguous).
local ims = require "ims"
local cli = require "ims.cli"
local json = require "ims.json"

local command, check, fail, emit, EXIT = cli.command, cli.check, cli.fail, cli.emit, cli.EXIT

local function client()
  local ok, c = pcall(ims.from_env)
  if not ok then cli.die(EXIT.usage, (tostring(c):gsub("^[^:]+:%d+: ", ""))) end
  return c
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

-- An image id from an id or a name (one image of that name, else exit 1 naming the problem).
local function resolve(c, ref)
  if ref:match(UUID) then return ref end
  local found = check(c.images:list { name = ref, max = 2 })
  if #found == 0 then cli.die(EXIT.failed, "no image named '" .. ref .. "'") end
  if #found > 1 then
    cli.die(EXIT.failed, "more than one image is named '" .. ref .. "' (" .. found[1].id .. ", "
      .. found[2].id .. ", ...): give its id")
  end
  return found[1].id
end

-- An image as a record for output: plain fields, `tags` always a list.
local function record(img)
  local r = {}
  for k, v in pairs(img) do if type(k) == "string" and type(v) ~= "function" then r[k] = v end end
  r.tags = json.array(type(img.tags) == "table" and { table.unpack(img.tags) } or {})
  return r
end

local IMAGE_COLUMNS = { { "id", "ID" }, { "name", "Name" }, { "status", "Status" }, { "size", "Size" } }
local IMAGE_ALL = { "id", "name", "status", "size", "disk_format", "container_format", "visibility",
  "owner", "min_disk", "min_ram", "tags", "checksum", "os_hash_algo", "os_hash_value", "created_at",
  "updated_at", "protected" }

---------------------------------------------------------------------------------------------
-- images (Glance v2)

command { name = "images list", summary = "list images (all pages)",
  opts = { name = "value", status = "value", tag = "list", visibility = "value", owner = "value",
    limit = "value", max = "value", long = "flag" },
  usage = [[
usage: ims images list [--name N] [--status S] [--tag T]... [--visibility V] [--owner P]
                       [--limit N] [--max N] [--long] [-f FORMAT] [-c COLUMN]...
Lists images (Glance v2, all pages; --limit is the page size, --max stops early). A table of
ID, Name, Status, Size (--long: and Disk Format, Visibility, Tags); -c picks columns by field
name (id, name, status, size, disk_format, visibility, owner, min_disk, tags, ...).
examples:
  ims images list --tag os=linux --long
  ims images list --name golden -f value -c id]],
  run = function(_, o, cmd)
    local c <close> = client()
    local list = check(c.images:list { name = o.name, status = o.status, tag = o.tag,
      visibility = o.visibility, owner = o.owner, limit = cli.integer(cmd, "limit", o.limit),
      max = cli.integer(cmd, "max", o.max) })
    local rows = {}
    for i, img in ipairs(list) do rows[i] = record(img) end
    local cols = IMAGE_COLUMNS
    if o.long then
      cols = { IMAGE_COLUMNS[1], IMAGE_COLUMNS[2], IMAGE_COLUMNS[3], IMAGE_COLUMNS[4],
        { "disk_format", "Disk Format" }, { "visibility", "Visibility" }, { "tags", "Tags" } }
    end
    cli.list(rows, cols, IMAGE_ALL)
  end }

command { name = "images show", summary = "one image's fields", npos = { 1, 1 },
  usage = [[
usage: ims images show IMAGE [-f FORMAT] [-c FIELD]...
Shows an image (by id or name) as Field | Value.
examples:
  ims images show golden
  ims images show golden -f json -c id -c os_hash_value]],
  run = function(pos)
    local c <close> = client()
    cli.show(record(check(c.images:get(resolve(c, pos[1])))))
  end }

-- --property K=V (repeatable) into t; a core attribute has its own option (--min-disk, ...).
local OWN_OPTION = { name = "--name", id = "--id", disk_format = "--disk-format",
  container_format = "--container-format", visibility = "--public/--private/--shared/--community",
  protected = "--protected", tags = "--tag", min_disk = "--min-disk", min_ram = "--min-ram" }
local function properties_into(cmd, o, t)
  for _, kv in ipairs(o.property or {}) do
    local k, v = kv:match("^([^=]+)=(.*)$")
    if not k then cli.usage(cmd, "--property takes KEY=VALUE (got " .. kv .. ")") end
    if OWN_OPTION[k] or k == "os_hidden" then
      cli.usage(cmd, "--property " .. k .. ": a Glance attribute, not a property"
        .. (OWN_OPTION[k] and ("; use " .. OWN_OPTION[k]) or ""))
    end
    t[k] = v
  end
  return t
end

-- The visibility from --visibility V or openstack's --public/--private/--shared/--community
-- (at most one of them).
local VISIBILITIES = { "public", "private", "shared", "community" }
local IS_VISIBILITY = {}
for _, w in ipairs(VISIBILITIES) do IS_VISIBILITY[w] = true end
local function visibility_of(cmd, o)
  local v, given = o.visibility, o.visibility and ("--visibility " .. o.visibility)
  for _, w in ipairs(VISIBILITIES) do
    if o[w] then
      if v and v ~= w then cli.usage(cmd, "give one visibility (" .. given .. " and --" .. w .. ")") end
      v, given = w, "--" .. w
    end
  end
  if v and not IS_VISIBILITY[v] then
    cli.usage(cmd, "--visibility must be public, private, shared or community")
  end
  if o.protected and o.unprotected then cli.usage(cmd, "--protected or --unprotected, not both") end
  return v
end

-- Create attributes from the options images create and images upload share.
local function create_attrs(cmd, o, name)
  return properties_into(cmd, o, { name = name, id = o.id, disk_format = o.disk_format or "raw",
    container_format = o.container_format or "bare", visibility = visibility_of(cmd, o), tags = o.tag,
    min_disk = cli.integer(cmd, "min-disk", o.min_disk), min_ram = cli.integer(cmd, "min-ram", o.min_ram) })
end

local function readable(path)
  local f = io.open(path, "rb")
  if not f then cli.die(EXIT.usage, "cannot read " .. path) end
  f:close()
end

command { name = "images create", summary = "create an image (openstack image create)", npos = { 1, 1 },
  opts = { id = "value", disk_format = "value", container_format = "value", min_disk = "value",
    min_ram = "value", property = "list", tag = "list", visibility = "value", public = "flag",
    private = "flag", shared = "flag", community = "flag", protected = "flag", unprotected = "flag",
    file = "value" },
  usage = [[
usage: ims images create NAME [--disk-format raw] [--container-format bare] [--min-disk GB]
                         [--min-ram MB] [--property K=V]... [--tag T]... [--id UUID]
                         [--public | --private | --shared | --community] [--visibility V]
                         [--protected | --unprotected] [--file PATH] [-f FORMAT] [-c FIELD]...
Creates an image, as `openstack image create` (options as --opt value or --opt=value; the
formats default to raw and bare); with --file, uploads PATH into it, verified against the digest
Glance records (a failed upload deletes the image again; --protected is set after the upload).
Shows the image as Field | Value.
examples:
  ims images create golden --disk-format qcow2 --min-disk 10 --property os_distro=debian --file web.qcow2
  ims images create empty --private --tag os=linux -f value -c id]],
  run = function(pos, o, cmd)
    local attrs = create_attrs(cmd, o, pos[1])
    if o.file then readable(o.file) end
    local c <close> = client()
    local img, err
    if o.file then
      -- protected after the upload, so that a failed upload can still delete the image it made
      img, err = c.images:import(o.file, attrs, { progress = cli.progress("upload") })
      if img and o.protected then img, err = c.images:update(img, { protected = true }) end
    else
      attrs.protected = o.protected and true or nil
      img, err = c.images:create(attrs)
    end
    cli.show(record(check(img, err)))
  end }

command { name = "images upload", summary = "create an image and upload a file into it",
  npos = { 1, 1 },
  opts = { name = "value", disk_format = "value", container_format = "value", visibility = "value",
    tag = "list", reuse = "flag", min_disk = "value", min_ram = "value", property = "list",
    public = "flag", private = "flag", shared = "flag", community = "flag" },
  usage = [[
usage: ims images upload FILE --name N [--disk-format raw] [--container-format bare]
                         [--visibility private|shared|community|public] [--tag T]...
                         [--public | --private | --shared | --community]
                         [--min-disk GB] [--min-ram MB] [--property K=V]... [--reuse] [-f json]
Creates an image and uploads FILE into it, verified against the digest Glance records; if the
upload fails the image is deleted again. --reuse: when an active image of the project with this
name already holds FILE's bytes, print its id instead of uploading again. Prints the image id.
(On Huawei Cloud, Glance uploads stop at 2 GB: use `ims images import-file` for real disks.)]],
  run = function(pos, o, cmd)
    if not o.name then cli.usage(cmd, "--name is required") end
    readable(pos[1])
    local attrs = create_attrs(cmd, o, o.name)
    local c <close> = client()
    -- import: a failed upload deletes the image it made, so no half-made image is left behind
    local img, err, how = c.images:import(pos[1], attrs,
      { progress = cli.progress("upload"), reuse = o.reuse })
    if not img then fail(err) end
    emit({ id = img.id, status = img.status, size = img.size, os_hash_value = img.os_hash_value,
      reused = how == "reused" }, { img.id })
  end }

command { name = "images download", summary = "an image's data to a file, verified", npos = { 2, 2 },
  opts = { resume = "flag", no_verify = "flag" },
  usage = [[
usage: ims images download IMAGE FILE [--resume] [--no-verify] [-f json]
Downloads an image's data to FILE, verified unless --no-verify; --resume continues a partial
FILE with a Range request.]],
  run = function(pos, o)
    local c <close> = client()
    local got = check(c.images:download(resolve(c, pos[1]), pos[2], { resume = o.resume,
      verify = not o.no_verify, progress = cli.progress("download") }))
    got.file = pos[2]
    emit(got, { string.format("%s %d bytes%s", pos[2], got.bytes, o.no_verify and "" or ", verified") })
  end }

command { name = "images delete", summary = "delete images", npos = { 1 },
  usage = [[
usage: ims images delete IMAGE...
Deletes each image (by id or name). Exit 1 when any could not be deleted.]],
  run = function(pos)
    local c <close> = client()
    local failed
    for _, ref in ipairs(pos) do
      local ok, err = c.images:delete(resolve(c, ref))
      if not ok then
        io.stderr:write(tostring(err), "\n")
        failed = err
      end
    end
    if failed then os.exit(EXIT[failed.kind] or EXIT.failed) end
  end }

local function changes_from(cmd, o, unset)
  local ch = {}
  if unset then
    for _, k in ipairs(o.property or {}) do ch[k] = ims.null end
    return ch
  end
  ch.name, ch.visibility = o.name, visibility_of(cmd, o)
  ch.min_disk, ch.min_ram = cli.integer(cmd, "min-disk", o.min_disk), cli.integer(cmd, "min-ram", o.min_ram)
  if o.protected then ch.protected = true end
  if o.unprotected then ch.protected = false end
  return properties_into(cmd, o, ch)
end

command { name = "images set", summary = "change an image's fields, properties and tags", npos = { 1, 1 },
  opts = { name = "value", visibility = "value", min_disk = "value", min_ram = "value",
    property = "list", tag = "list", protected = "flag", unprotected = "flag", public = "flag",
    private = "flag", shared = "flag", community = "flag" },
  usage = [[
usage: ims images set IMAGE [--name N] [--visibility V] [--min-disk GB] [--min-ram MB]
                      [--property K=V]... [--tag T]... [--protected | --unprotected]
                      [--public | --private | --shared | --community]
Changes an image (one PATCH; --tag adds tags).
examples:
  ims images set golden --property os_distro=debian --min-disk 10
  ims images set golden --tag tier=gold --protected]],
  run = function(pos, o, cmd)
    local c <close> = client()
    local id = resolve(c, pos[1])
    local ch = changes_from(cmd, o)
    if next(ch) then check(c.images:update(id, ch)) end
    for _, t in ipairs(o.tag or {}) do check(c.images:update_tag(id, t)) end
  end }

command { name = "images unset", summary = "remove properties and tags", npos = { 1, 1 },
  opts = { property = "list", tag = "list" },
  usage = [[
usage: ims images unset IMAGE [--property K]... [--tag T]...
Removes properties and tags from an image.]],
  run = function(pos, o, cmd)
    local c <close> = client()
    local id = resolve(c, pos[1])
    local ch = changes_from(cmd, o, true)
    if next(ch) then check(c.images:update(id, ch)) end
    for _, t in ipairs(o.tag or {}) do check(c.images:delete_tag(id, t)) end
  end }

command { name = "images tag add", summary = "add a tag", npos = { 2, 2 },
  usage = "usage: ims images tag add IMAGE TAG\nAdds TAG to the image.",
  run = function(pos)
    local c <close> = client()
    check(c.images:update_tag(resolve(c, pos[1]), pos[2]))
  end }

command { name = "images tag remove", summary = "remove a tag", npos = { 2, 2 },
  usage = "usage: ims images tag remove IMAGE TAG\nRemoves TAG from the image.",
  run = function(pos)
    local c <close> = client()
    check(c.images:delete_tag(resolve(c, pos[1]), pos[2]))
  end }

local MEMBER_COLUMNS = { { "image_id", "Image ID" }, { "member_id", "Member ID" }, { "status", "Status" } }

local function member_record(m)
  return { image_id = m.image_id, member_id = m.member_id, status = m.status,
    created_at = m.created_at, updated_at = m.updated_at }
end

command { name = "images member list", summary = "the projects an image is shared with", npos = { 1, 1 },
  usage = "usage: ims images member list IMAGE [-f FORMAT]\nLists the image's members.",
  run = function(pos)
    local c <close> = client()
    local rows = {}
    for i, m in ipairs(check(c.images:list_members(resolve(c, pos[1])))) do rows[i] = member_record(m) end
    cli.list(rows, MEMBER_COLUMNS, { "image_id", "member_id", "status", "created_at", "updated_at" })
  end }

local function add_member(pos)
  local c <close> = client()
  local img = check(c.images:get(resolve(c, pos[1])))
  if img.visibility ~= "shared" then check(c.images:update(img, { visibility = "shared" })) end
  local m = check(c.images:create_member(img, pos[2]))
  emit(member_record(m), { string.format("%s shared with %s (%s)", m.image_id, m.member_id, m.status) })
end

command { name = "images member create", summary = "share an image with a project", npos = { 2, 2 },
  usage = [[
usage: ims images member create IMAGE PROJECT [-f json]
Makes the image shared and adds PROJECT as a member (the member then accepts it).
Also: ims images share IMAGE PROJECT, ims images add project IMAGE PROJECT.]],
  run = add_member }
command { name = "images share", summary = "share an image with a project (member create)", npos = { 2, 2 },
  usage = [[
usage: ims images share IMAGE PROJECT [-f json]
Makes the image shared and adds PROJECT as a member (the member then accepts it).]],
  run = add_member }
command { name = "images add project", summary = "share an image with a project (openstack's name)",
  npos = { 2, 2 }, usage = "usage: ims images add project IMAGE PROJECT\nAs `ims images member create`.",
  run = add_member }

local function remove_member(pos)
  local c <close> = client()
  check(c.images:delete_member(resolve(c, pos[1]), pos[2]))
end
command { name = "images member delete", summary = "stop sharing with a project", npos = { 2, 2 },
  usage = "usage: ims images member delete IMAGE PROJECT\nRemoves PROJECT from the image's members.",
  run = remove_member }
command { name = "images remove project", summary = "stop sharing with a project (openstack's name)",
  npos = { 2, 2 }, usage = "usage: ims images remove project IMAGE PROJECT\nAs `ims images member delete`.",
  run = remove_member }

for _, vs in ipairs { { "accept", "accepted" }, { "reject", "rejected" } } do
  local verb, status = vs[1], vs[2]
  command { name = "images member " .. verb, summary = verb .. " an image shared with this project",
    npos = { 1, 1 }, usage = "usage: ims images member " .. verb .. " IMAGE_ID\n"
      .. "As the member project: marks the shared image " .. status .. ". Only the project the image\n"
      .. "is shared with can (its credentials in the environment); the owner gets 403 (exit 1).",
    run = function(pos)
      local c <close> = client()
      local m, err = c.images[verb](c.images, pos[1])
      if not m and err.status == 403 then
        err.hint = (err.hint and err.hint .. "; " or "") .. "run `ims images member " .. verb
          .. "` with the member project's credentials (HUAWEICLOUD_SDK_AK, _SK, _PROJECT_ID)"
      end
      m = check(m, err)
      emit(member_record(m), { string.format("%s %s", pos[1], m.status or status) })
    end }
end

---------------------------------------------------------------------------------------------
-- from a disk file to an image, and OBS

command { name = "images import-file", summary = "a local disk file to an IMS image through OBS",
  npos = { 1, 1 },
  opts = { bucket = "value", name = "value", os_version = "value", min_disk = "value", key = "value",
    route = "value", bitmap = "value", journal = "value", keep_object = "flag", concurrency = "value",
    part_size = "value", timeout = "value", plan = "flag" },
  usage = [[
usage: ims images import-file FILE --bucket B --name N [--os-version V] [--min-disk GB]
                              [--key K] [--route auto|obs|quick|glance] [--bitmap F]
                              [--journal J] [--keep-object] [--concurrency N] [--part-size BYTES]
                              [--timeout S] [--plan] [-f json]
From a local disk file to an IMS image: checks the plan (format and virtual size from the file,
quota, os_version, the bucket's region and storage class, the name), uploads FILE to the OBS
bucket (parallel parts, resumable), imports it (quick import for ZVHD2 or RAW with --bitmap),
waits, and deletes the object (unless --keep-object). --journal: a rerun after a crash resumes
the upload and re-attaches to the started job. --plan: print the plan and stop. Needs
IMS_OBS_ENDPOINT (or a region). Prints the image id.
examples:
  ims images import-file web.qcow2 --bucket my-images --name web --os-version "Ubuntu 22.04 server 64bit"
  ims images import-file big.zvhd2 --bucket my-images --name big --plan
  ims images import-file web.qcow2 --bucket my-images --name web --journal web.journal]],
  run = function(pos, o, cmd)
    if not o.name then cli.usage(cmd, "--name is required") end
    if not o.bucket and o.route ~= "glance" then cli.usage(cmd, "--bucket is required") end
    local routes = { auto = true, obs = true, quick = true, glance = true }
    if o.route and not routes[o.route] then cli.usage(cmd, "--route must be auto, obs, quick or glance") end
    local c <close> = client()
    local body = { name = o.name, os_version = o.os_version,
      min_disk = cli.integer(cmd, "min-disk", o.min_disk) }
    local opts = { bucket = o.bucket, key = o.key, route = o.route, bitmap = o.bitmap,
      keep_object = o.keep_object or nil, concurrency = cli.integer(cmd, "concurrency", o.concurrency),
      part_size = cli.integer(cmd, "part-size", o.part_size),
      timeout = cli.number(cmd, "timeout", o.timeout) }
    local plan, perr = c.cloudimages:plan_import(pos[1], body, opts)
    if not plan and perr.problems and cli.out.format ~= "json" then
      for _, p in ipairs(perr.problems) do io.stderr:write("problem: ", p.message, "\n") end
    end
    if not plan then fail(perr) end
    local summary = string.format("%s route: %s, %d bytes (virtual %s), min_disk %d GB -> %s",
      plan.route, plan.format, plan.size, tostring(plan.virtual_size or "?"), plan.min_disk,
      plan.route == "glance" and "Glance" or (plan.bucket .. ":" .. plan.key))
    if o.plan then
      emit({ route = plan.route, format = plan.format, size = plan.size, virtual_size = plan.virtual_size,
        min_disk = plan.min_disk, bucket = plan.bucket, key = plan.key }, { summary })
      return
    end
    if cli.out.format ~= "json" then io.stderr:write(summary, "\n") end
    local journal
    if o.journal then journal = check(c:journal(o.journal)) end
    local bytes, job_bar = cli.progress("upload"), cli.progress("job   ")
    opts.journal = journal
    opts.progress = (bytes or job_bar) and function(ev)
      if ev.phase == "upload" then bytes(ev.done, ev.total)
      elseif ev.percent then job_bar(math.floor(ev.percent), 100) end
    end
    local image, job = c.cloudimages:import_file(pos[1], body, opts)
    if journal then journal:close() end
    if not image then fail(job) end
    emit({ id = image.id, name = image.name, status = image.status, min_disk = image.min_disk,
      job_id = job and job.job_id }, { image.id })
  end }

command { name = "obs put", summary = "upload a file to a bucket", npos = { 2, 3 },
  opts = { concurrency = "value", part_size = "value", checkpoint = "value" },
  usage = [[
usage: ims obs put FILE BUCKET [KEY] [--concurrency N] [--part-size BYTES] [--checkpoint F]
Uploads FILE to BUCKET as KEY (default: FILE's name): one PUT up to 64 MiB, else parallel parts;
--checkpoint F makes a rerun after a crash send only the missing parts.]],
  run = function(pos, o, cmd)
    local c <close> = client()
    local key = pos[3] or pos[1]:match("([^/]+)$")
    local r = check(c.obs:put(pos[2], key, pos[1], { progress = cli.progress("upload"),
      concurrency = cli.integer(cmd, "concurrency", o.concurrency),
      part_size = cli.integer(cmd, "part-size", o.part_size), checkpoint = o.checkpoint }))
    emit(r, { string.format("%s:%s %d bytes, etag %s%s", r.bucket, r.key, r.size, r.etag,
      r.parts and (", " .. r.parts .. " parts") or "") })
  end }

command { name = "obs get", summary = "download an object", npos = { 3, 3 }, opts = { resume = "flag" },
  usage = [[
usage: ims obs get BUCKET KEY FILE [--resume]
Downloads an object to FILE (written as FILE.part, renamed when complete and verified).]],
  run = function(pos, o)
    local c <close> = client()
    local r = check(c.obs:get(pos[1], pos[2], pos[3], { resume = o.resume,
      progress = cli.progress("download") }))
    r.file = pos[3]
    emit(r, { string.format("%s %d bytes", pos[3], r.bytes) })
  end }

command { name = "obs list", summary = "a bucket's objects", npos = { 1, 1 },
  opts = { prefix = "value", max = "value" },
  usage = [[
usage: ims obs list BUCKET [--prefix P] [--max N] [-f FORMAT]
Lists a bucket's objects: Key, Size, Last Modified.]],
  run = function(pos, o, cmd)
    local c <close> = client()
    local list = check(c.obs:list(pos[1], { prefix = o.prefix, max = cli.integer(cmd, "max", o.max) }))
    cli.list(list, { { "key", "Key" }, { "size", "Size" }, { "last_modified", "Last Modified" } },
      { "key", "size", "etag", "last_modified", "storage_class" })
  end }

command { name = "obs delete", summary = "delete objects", npos = { 2 },
  usage = "usage: ims obs delete BUCKET KEY...\nDeletes the objects.",
  run = function(pos)
    local c <close> = client()
    for i = 2, #pos do check(c.obs:delete(pos[1], pos[i])) end
  end }

---------------------------------------------------------------------------------------------
-- IMS native and jobs

command { name = "cloudimages quota", summary = "the private image quota",
  usage = "usage: ims cloudimages quota [-f FORMAT]\nThe project's image quota: Type, Used, Quota.",
  run = function()
    local c <close> = client()
    cli.list(check(c.cloudimages:quota()).resources, { { "type", "Type" }, { "used", "Used" },
      { "quota", "Quota" } }, { "type", "used", "quota", "min", "max" })
  end }

command { name = "cloudimages os-versions", summary = "the OS versions IMS knows", opts = { tag = "value" },
  usage = [[
usage: ims cloudimages os-versions [--tag bms|uefi|arm|x86] [-f FORMAT]
The os_version values IMS accepts (Platform, OS Version, Bits, Type).]],
  run = function(_, o)
    local c <close> = client()
    local rows = {}
    for _, p in ipairs(check(c.cloudimages:os_versions { tag = o.tag })) do
      for _, v in ipairs(p.version_list) do
        rows[#rows + 1] = { platform = p.platform, os_version = v.os_version, os_bit = v.os_bit,
          os_type = v.os_type }
      end
    end
    cli.list(rows, { { "platform", "Platform" }, { "os_version", "OS Version" }, { "os_bit", "Bits" },
      { "os_type", "Type" } })
  end }

-- The job calls: a JSON body (--body '{...}' or --body @file.json), the job id printed, or the
-- image once done with --wait.
local function body_of(cmd, o)
  if not o.body then cli.usage(cmd, "--body is required (JSON, or @FILE)") end
  local text = o.body
  if text:sub(1, 1) == "@" then
    local f = io.open(text:sub(2), "rb")
    if not f then cli.die(EXIT.usage, "cannot read " .. text:sub(2)) end
    text = f:read("a")
    f:close()
  end
  local ok, b = pcall(json.decode, text)
  if not ok or type(b) ~= "table" then cli.usage(cmd, "--body is not a JSON object") end
  return b
end

local function finish_job(job, o, cmd)
  if not o.wait then
    emit({ job_id = job.job_id }, { job.job_id })
    return
  end
  local done, err = job:wait { timeout = cli.number(cmd, "timeout", o.timeout) }
  if not done then fail(err) end
  emit({ job_id = job.job_id, status = job.status, image_id = job.image_id },
    { string.format("%s %s %s", job.job_id, job.status, job.image_id or "") })
end

local JOB_CALLS = {
  { "cloudimages create", "create", "an image from a server, an OBS file or a volume (JSON body)" },
  { "cloudimages quick-import", "quick_import", "quick import of a ZVHD2 / RAW file (JSON body)" },
  { "cloudimages data-image", "create_data_image", "a data-disk image from an OBS file (JSON body)" },
  { "cloudimages whole-image", "create_whole_image", "a whole image of a server or backup (JSON body)" },
}
for _, jc in ipairs(JOB_CALLS) do
  local name, method, what = jc[1], jc[2], jc[3]
  command { name = name, summary = what, opts = { body = "value", wait = "flag", timeout = "value" },
    usage = "usage: ims " .. name .. " --body JSON|@FILE [--wait [--timeout S]] [-f json]\n"
      .. "Starts the job (`cloudimages:" .. method .. "`, the body as docs/api.md gives it) and prints "
      .. "its id;\n--wait waits for it and prints 'JOB STATUS IMAGE'.",
    run = function(_, o, cmd)
      local c <close> = client()
      local b = body_of(cmd, o)
      local ok, job, err = pcall(c.cloudimages[method], c.cloudimages, b)
      if not ok then cli.die(EXIT.usage, (tostring(job):gsub("^[^:]+:%d+: ", ""))) end
      if not job then fail(err) end
      finish_job(job, o, cmd)
    end }
end

command { name = "cloudimages export", summary = "export an image to OBS", npos = { 1, 1 },
  opts = { bucket_url = "value", file_format = "value", quick = "flag", wait = "flag", timeout = "value" },
  usage = [==[
usage: ims cloudimages export IMAGE --bucket-url BUCKET:OBJECT (--file-format qcow2|vhd|zvhd|vmdk | --quick)
                              [--wait [--timeout S]]
Exports the image to an OBS object; prints the job id (or, with --wait, 'JOB STATUS').]==],
  run = function(pos, o, cmd)
    if not o.bucket_url then cli.usage(cmd, "--bucket-url is required") end
    if not o.file_format and not o.quick then cli.usage(cmd, "--file-format or --quick is required") end
    local c <close> = client()
    local job = check(c.cloudimages:export(resolve(c, pos[1]), { bucket_url = o.bucket_url,
      file_format = o.file_format, is_quick_export = o.quick or nil }))
    finish_job(job, o, cmd)
  end }

command { name = "cloudimages register", summary = "give a queued image its bytes from OBS", npos = { 2, 2 },
  opts = { wait = "flag", timeout = "value" },
  usage = [==[
usage: ims cloudimages register IMAGE BUCKET:OBJECT [--wait [--timeout S]]
Registers an OBS object as the data of a queued image (PUT /v1/cloudimages/{id}/upload); prints
the job id (or, with --wait, 'JOB STATUS IMAGE').]==],
  run = function(pos, o, cmd)
    local c <close> = client()
    local ok, job, err = pcall(c.cloudimages.register, c.cloudimages, resolve(c, pos[1]), pos[2])
    if not ok then cli.die(EXIT.usage, (tostring(job):gsub("^[^:]+:%d+: ", ""))) end
    if not job then fail(err) end
    finish_job(job, o, cmd)
  end }

command { name = "cloudimages copy", summary = "copy an image in its region", npos = { 1, 1 },
  opts = { name = "value", description = "value", wait = "flag", timeout = "value" },
  usage = "usage: ims cloudimages copy IMAGE --name N [--description D] [--wait [--timeout S]]\n"
    .. "Copies the image within its region; prints the job id (or, with --wait, the new image).",
  run = function(pos, o, cmd)
    if not o.name then cli.usage(cmd, "--name is required") end
    local c <close> = client()
    local job = check(c.cloudimages:copy(resolve(c, pos[1]), { name = o.name, description = o.description }))
    finish_job(job, o, cmd)
  end }

command { name = "cloudimages replicate", summary = "copy an image to many regions", npos = { 2 },
  opts = { agency = "value", timeout = "value" },
  usage = [[
usage: ims cloudimages replicate IMAGE REGION... --agency A [--timeout S] [-f FORMAT]
Cross-region copies to every REGION at once, waited on together; one row per region: Region,
Image ID, Error. Exit 1 when any failed.]],
  run = function(pos, o, cmd)
    if not o.agency then cli.usage(cmd, "--agency is required") end
    local c <close> = client()
    local targets = { table.unpack(pos, 2) }
    local results = check(c.cloudimages:replicate(resolve(c, pos[1]), targets,
      { agency_name = o.agency, timeout = cli.number(cmd, "timeout", o.timeout) }))
    local rows, bad = {}, false
    for i, r in ipairs(results) do
      rows[i] = { region = r.region, image_id = r.image_id, error = r.err and tostring(r.err) or nil }
      bad = bad or r.err ~= nil
    end
    cli.list(rows, { { "region", "Region" }, { "image_id", "Image ID" }, { "error", "Error" } })
    if bad then os.exit(EXIT.failed) end
  end }

command { name = "jobs wait", summary = "wait for IMS jobs", npos = { 1 },
  opts = { timeout = "value", interval = "value" },
  usage = [[
usage: ims jobs wait ID... [--timeout SECONDS] [--interval SECONDS] [-f json]
Waits for IMS jobs (all at once) until each succeeds or fails. While waiting, on a terminal one
bar per job (process_percent and status; a summary line above 20 jobs), piped one line per state
change (FAIL with its fail_reason) on stderr; then one line per job: ID STATUS IMAGE-or-ERROR.
examples:
  ims jobs wait "$JOB" --timeout 1800
  ims -f json jobs wait "$JOB1" "$JOB2"]],
  run = function(ids, o, cmd)
    local c <close> = client()
    local interval = cli.number(cmd, "interval", o.interval) or 2
    local bars, bars_done
    if cli.out.format ~= "json" then bars, bars_done = cli.job_bars(ids) end
    local jobs, err = c.jobs:wait_all(ids, { timeout = cli.number(cmd, "timeout", o.timeout),
      interval = interval, max_interval = math.max(interval, 10), progress = bars })
    if bars_done then bars_done() end
    if not jobs then fail(err) end
    local lines, docs = {}, {}
    local unread = false -- a job whose status could not be read (e.g. no such job): a request failure
    for i, j in ipairs(jobs) do
      local e = err and err.errors and err.errors[i]
      unread = unread or (e ~= nil and j.status ~= "FAIL")
      lines[i] = string.format("%s %s %s", tostring(j.job_id), e and "ERROR" or tostring(j.status),
        e and tostring(e) or (j.image_id or j.error_code or ""))
      docs[i] = { job_id = j.job_id, status = j.status, image_id = j.image_id,
        error_code = j.error_code, fail_reason = j.fail_reason, error = e and tostring(e) or nil }
    end
    emit(json.array(docs), lines)
    if err then
      if unread and err.kind == "job_failed" then err.kind = "http" end -- exit 1, not "job failed"
      cli.exit_with(err) -- the jobs went to stdout already
    end
  end }

return true
