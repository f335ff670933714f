-- The reference docs (`make doc`): LDoc builds them with no warning and renders their markdown
-- (README, docs/*.md, the examples' descriptions), and scripts/doccheck passes
-- on the tree, finds the whole public surface, and fails naming what is undocumented when run
-- on a copy of the sources with a doc comment removed, a C doc block removed, a method added
-- without one, or a doc comment naming a function that does not exist.
local env = require "support.env"

local function sh(cmd)
  -- no LD_PRELOAD: under `make asan` it holds libasan, which ldoc's Lua must not get
  local p = io.popen("unset LD_PRELOAD; " .. cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- A fresh copy of what doccheck reads (lua/, src/, config.ld) under the run's scratch directory.
local copies = 0
local function copy()
  copies = copies + 1
  local dir = env.tmp .. "/doccheck-" .. copies
  local out, rc = sh("rm -rf " .. dir .. " && mkdir -p " .. dir .. " && cp -r lua src config.ld " .. dir)
  assert.equal(0, rc, out)
  return dir
end

-- Replaces the one occurrence of `old` (plain text) in a file of the copy.
local function edit(dir, file, old, new)
  local path = dir .. "/" .. file
  local s = read(path)
  local i, j = s:find(old, 1, true)
  assert(i, file .. ": text not found: " .. old)
  assert.is_nil(s:find(old, j + 1, true), file .. ": text found twice: " .. old)
  write(path, s:sub(1, i - 1) .. new .. s:sub(j + 1))
end

-- Removes the `---` doc comment right above the line starting with `anchor`.
local function strip_doc(dir, file, anchor)
  local path = dir .. "/" .. file
  local lines = {}
  for l in read(path):gmatch("([^\n]*)\n") do lines[#lines + 1] = l end
  local at
  for i, l in ipairs(lines) do
    if l:sub(1, #anchor) == anchor then at = i end
  end
  assert(at, file .. ": no line " .. anchor)
  assert.matches("^%-%-", lines[at - 1], 1, "no comment above " .. anchor)
  local first = at - 1
  while lines[first - 1]:match("^%-%-") do first = first - 1 end
  assert.matches("^%-%-%-", lines[first], 1, "no --- doc comment above " .. anchor)
  for _ = first, at - 1 do table.remove(lines, first) end
  write(path, table.concat(lines, "\n") .. "\n")
end

local function doccheck(dir)
  return sh("scripts/doccheck" .. (dir and (" --root " .. dir) or ""))
end

-- LDoc over a copy of the tree in dir (the checkout's doc/ stays as it is).
local function ldoc_copy(dir)
  return sh("rm -rf " .. dir .. " && mkdir -p " .. dir
    .. " && cp -r lua src config.ld README.md docs examples " .. dir
    .. " && cd " .. dir .. " && ldoc --fatalwarnings .")
end

describe("reference docs", function()
  it("build with LDoc and no warning (make doc)", function()
    local dir = env.tmp .. "/ldoc"
    local out, rc = ldoc_copy(dir)
    assert.equal(0, rc, out)
    assert.matches("output written to", out, 1, true)
    for _, page in ipairs { "index.html", "modules/ims.html", "modules/ims.images.html",
      "modules/ims.cloudimages.html", "modules/ims.jobs.html", "modules/ims.client.html",
      "modules/ims.errors.html", "modules/ims.core.html" } do
      local f = io.open(dir .. "/doc/" .. page)
      assert.is_truthy(f, "doc/" .. page .. " missing")
      f:close()
    end
    local core = read(dir .. "/doc/modules/ims.core.html")
    assert.matches("Session:submit", core, 1, true)
    assert.matches("Transfer:result", core, 1, true)
    assert.matches("file_digests", core, 1, true)
  end)

  -- What a browser shows is checked by scripts/doccheck-browser (`make doc`, chromium); this is
  -- the same read from the HTML ldoc writes, with Debian's lua-discount as the markdown.
  it("renders the markdown: README, docs/api.md and docs/core.md as topics, examples described",
    function()
    local dir = env.tmp .. "/ldoc-md"
    local out, rc = ldoc_copy(dir)
    assert.equal(0, rc, out)
    assert.not_matches("falling back to text", out, 1, true)
    assert.not_matches("not found, using", out, 1, true)
    local function text(html) -- what a reader sees outside code blocks and code spans
      return (html:gsub("<pre.-</pre>", ""):gsub("<code>.-</code>", ""):gsub("<[^>]*>", ""))
    end
    local readme = read(dir .. "/doc/topics/README.md.html")
    assert.matches("<h1[^>]*>lua%-ims</h1>", readme)
    assert.matches('<h2 id="two%-commands">Two commands</h2>', readme)
    assert.not_matches("\n## ", readme, 1, true)
    assert.matches("<code>ims.Error</code>", readme, 1, true)
    -- links between the markdown files (their paths in the repository) reach the topic pages
    assert.matches('<a href="api.md.html"><code>docs/api.md</code></a>', readme, 1, true)
    assert.matches('<a href="core.md.html"><code>docs/core.md</code></a>', readme, 1, true)
    local api = read(dir .. "/doc/topics/api.md.html")
    assert.matches("<table>%s*<thead>", api)
    assert.matches("<td>%s*<code>ims.new%(opts%)</code>%s*</td>", api)
    assert.matches('href="core.md.html#signing"', api, 1, true)
    local core = read(dir .. "/doc/topics/core.md.html")
    assert.matches('href="api.md.html#signing-imssignreq"', core, 1, true)
    assert.matches('<h2 id="signing">', core, 1, true)
    assert.matches('<h2 id="signing-imssignreq">', api, 1, true)
    for name, page in pairs { README = readme, api = api, core = core } do
      assert.not_matches("`[^`\n]+`", text(page), 1, name .. ": a literal `code` span")
    end
    -- every example is listed with its description (the first sentence of its doc comment)
    local index = read(dir .. "/doc/index.html")
    local examples = index:match('<div id="content">.*<h2>Examples</h2>(.*)$')
    assert.is_truthy(examples, "no Examples table in index.html")
    local listed = 0
    for name, summary in examples:gmatch('<a href="examples/([^"]+)%.html">[^<]*</a></td>%s*'
        .. '<td class="summary">(.-)</td>') do
      listed = listed + 1
      assert.matches("%a.*%.$", summary, 1, name .. " has no description: " .. summary)
    end
    assert.equal(10, listed)
    assert.matches("Import several disk images from a bucket at once", examples, 1, true)
    assert.not_matches("`[^`\n]+`", text(index), 1, "index.html: a literal `code` span")
  end)

  it("finds every public function of the code documented", function()
    local out, rc = sh("scripts/doccheck --list")
    assert.equal(0, rc, out)
    assert.matches("doccheck: all %d+ names documented", out)
    -- the surface read from the code: module fields, Lua classes and object metatables (methods
    -- made in a loop included), the C module and its Session methods
    for _, name in ipairs { "ims.new", "ims.from_env", "ims.sign", "ims.is_error", "ims.null",
      "ims._VERSION", "ims.Error", "Client:close", "Images:create", "Images:each",
      "Images:download", "Images:accept", "Image:refresh", "Image:download", "Image:reject",
      "Member:accept", "Member:delete", "CloudImages:create", "CloudImages:export",
      "CloudImages:each", "Jobs:get", "Jobs:wrap", "Jobs:wait_all", "Job:wait", "Job:refresh",
      "Job:image", "Error:__tostring", "ims.core.session", "ims.core.version",
      "ims.core.digest", "ims.core.file_digests", "ims.core.sleep", "ims.core.now",
      "ims.core.time", "ims.core.isatty", "ims.core.sign", "Session:request", "Session:submit",
      "Session:wait", "Transfer:result", "Transfer:cancel", "Client:map",
      "Session:close" } do
      assert.matches("\n" .. name:gsub("%p", "%%%0") .. " +public ", "\n" .. out, 1,
        name .. " is not listed as public")
    end
    -- internal methods are documented with @local, not left out silently
    assert.matches("\nClient:request +internal ", out)
    assert.matches("\nClient:ready +internal ", out)
  end)

  it("fails naming a method whose doc comment was removed", function()
    local dir = copy()
    strip_doc(dir, "lua/ims/images.lua", "Images.update_tag = verb.make(") -- a row
    local out, rc = doccheck(dir)
    assert.equal(1, rc, out)
    assert.matches("undocumented: Images:update_tag (lua/ims/images.lua:", out, 1, true)
    assert.matches("1 undocumented", out, 1, true)
  end)

  it("fails naming a C function whose doc block was removed", function()
    local dir = copy()
    local core = read(dir .. "/src/core.c")
    local i = assert(core:find("/***\nWhether a file descriptor is a terminal", 1, true))
    local j = assert(core:find("*/\n", i, true))
    write(dir .. "/src/core.c", core:sub(1, i - 1) .. core:sub(j + 3))
    local out, rc = doccheck(dir)
    assert.equal(1, rc, out)
    assert.matches("undocumented: ims.core.isatty (src/core.c:", out, 1, true)
  end)

  it("fails naming methods added without a doc comment, in a loop too", function()
    local dir = copy()
    edit(dir, "lua/ims/jobs.lua", "\nM.Jobs = Jobs\n",
      "\nfunction Jobs:cancel(job) return job end\n\nM.Jobs = Jobs\n")
    edit(dir, "lua/ims/images/objects.lua", '"accept", "reject" } do', '"accept", "reject", "copy" } do')
    local out, rc = doccheck(dir)
    assert.equal(1, rc, out)
    assert.matches("undocumented: Jobs:cancel (lua/ims/jobs.lua:", out, 1, true)
    assert.matches("undocumented: Image:copy (lua/ims/images/objects.lua:", out, 1, true)
  end)

  it("fails naming a doc comment for a function the code does not have", function()
    local dir = copy()
    edit(dir, "lua/ims/images/objects.lua", "-- @function Image:reject\n", "-- @function Image:rejekt\n")
    local out, rc = doccheck(dir)
    assert.equal(1, rc, out)
    assert.matches("documented but not in the code: Image:rejekt", out, 1, true)
    assert.matches("undocumented: Image:reject (", out, 1, true)
  end)
end)
