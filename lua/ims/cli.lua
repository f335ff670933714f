-- ims.cli: the `ims` command (bin/ims only finds the modules and calls main). One command
-- table (ims.cli.commands) drives the parsing, `--help`, `ims help`, the bash completion and
-- the dispatch; this file holds the parsing, the output formats (`-f table|json|yaml|value|csv`,
-- `-c COLUMN`, as openstackclient has them), progress bars and the exit codes.
--
-- Exit codes: 0 success; 1 a request failed (server or network); 2 bad usage; 3 a job failed;
-- 4 a wait timed out; 5 a checksum mismatch.
local core = require "ims.native"
local json = require "ims.json"

local M = {}

M.EXIT = { ok = 0, failed = 1, usage = 2, job_failed = 3, timeout = 4, checksum = 5 }
local EXIT = M.EXIT

M.VERSION = "0.1.0"

local FORMATS = { table = true, json = true, yaml = true, value = true, csv = true }

-- The state of one run: the output format and columns, set by the global options.
local out = { format = nil, columns = nil }
M.out = out

function M.die(code, msg)
  io.stderr:write("ims: ", msg, "\n")
  os.exit(code)
end

function M.usage(cmd, msg)
  if msg then io.stderr:write("ims: ", msg, "\n") end
  io.stderr:write(cmd and cmd.usage or M.main_usage(), "\n")
  os.exit(EXIT.usage)
end

-- A runtime failure: its one-line story, what to do about it when the SDK knows, and the exit
-- code of its kind.
function M.exit_with(err)
  io.stderr:write(tostring(err), "\n")
  if err.hint then io.stderr:write("hint: ", err.hint, "\n") end
  os.exit(EXIT[err.kind] or EXIT.failed)
end

function M.fail(err)
  if out.format == "json" then
    print(json.encode { error = { kind = err.kind, status = err.status, code = err.code,
      message = err.message, request_id = err.request_id, hint = err.hint } })
  end
  M.exit_with(err)
end

function M.check(v, err)
  if v == nil then M.fail(err) end
  return v
end

function M.number(cmd, name, v)
  if v == nil then return nil end
  local n = tonumber(v)
  if not n then M.usage(cmd, "--" .. name .. " must be a number") end
  return n
end

function M.integer(cmd, name, v)
  local n = M.number(cmd, name, v)
  if n ~= nil and not math.tointeger(n) then M.usage(cmd, "--" .. name .. " must be an integer") end
  return n and math.tointeger(n)
end

---------------------------------------------------------------------------------------------
-- parsing: positionals and --options (spec: name -> "flag" | "value" | "list"); --name=value
-- and --name value alike; -f/-c/--json anywhere

function M.parse(cmd, args)
  local spec, npos = cmd.opts or {}, cmd.npos or { 0, 0 }
  local pos, opts = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--help" or a == "-h" then
      print(cmd.usage)
      os.exit(EXIT.ok)
    elseif a == "--json" then
      out.format = "json"
    elseif a == "-f" or a == "--format" or a == "-c" or a == "--column" then
      i = i + 1
      local v = args[i]
      if v == nil then M.usage(cmd, a .. " needs a value") end
      if a == "-f" or a == "--format" then
        if not FORMATS[v] then M.usage(cmd, "-f must be table, json, yaml, value or csv") end
        out.format = v
      else
        out.columns = out.columns or {}
        out.columns[#out.columns + 1] = v
      end
    elseif a:sub(1, 2) == "--" then
      local word, inline = a:match("^%-%-([^=]+)=(.*)$") -- --name=web, as well as --name web
      local name = (word or a:sub(3)):gsub("-", "_")
      local kind = spec[name]
      if not kind then M.usage(cmd, "unknown option " .. (word and ("--" .. word) or a)) end
      if kind == "flag" then
        if inline then M.usage(cmd, "--" .. word .. " takes no value") end
        opts[name] = true
      else
        local value = inline
        if not value then
          i = i + 1
          value = args[i]
          if value == nil then M.usage(cmd, a .. " needs a value") end
        end
        if kind == "list" then
          opts[name] = opts[name] or {}
          table.insert(opts[name], value)
        else
          opts[name] = value
        end
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  if #pos < npos[1] or (npos[2] and #pos > npos[2]) then M.usage(cmd, "wrong number of arguments") end
  return pos, opts
end

---------------------------------------------------------------------------------------------
-- output

local function text(v)
  if v == nil or v == json.null then return "" end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = text(x) end
    if #parts > 0 or next(v) == nil then return table.concat(parts, ", ") end
    return json.encode(v)
  end
  return tostring(v)
end

local function yaml_scalar(v)
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  if v == nil or v == json.null then return "null" end
  local s = tostring(v)
  if s == "" or s:find("[:#%[%]{},&*!|>'\"%%@`\n]") or s:find("^%s") or s:find("%s$")
      or s:match("^[%d.+-]") or s == "true" or s == "false" or s == "null" then
    return json.encode(s) -- a JSON string is a YAML double-quoted scalar
  end
  return s
end

local function yaml(v, indent, lines)
  indent = indent or ""
  if type(v) ~= "table" or v == json.null then
    lines[#lines + 1] = indent .. yaml_scalar(v)
    return
  end
  if #v > 0 or (next(v) == nil and getmetatable(v) == json.array_mt) then
    if #v == 0 then lines[#lines + 1] = indent .. "[]" end
    for _, x in ipairs(v) do
      if type(x) == "table" and next(x) ~= nil then
        local sub = {}
        yaml(x, "", sub)
        lines[#lines + 1] = indent .. "- " .. sub[1]
        for k = 2, #sub do lines[#lines + 1] = indent .. "  " .. sub[k] end
      else
        lines[#lines + 1] = indent .. "- " .. (type(x) == "table" and "[]" or yaml_scalar(x))
      end
    end
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  if #keys == 0 then lines[#lines + 1] = indent .. "{}" end
  for _, k in ipairs(keys) do
    local x = v[k]
    if type(x) == "table" and x ~= json.null and next(x) ~= nil then
      lines[#lines + 1] = indent .. yaml_scalar(k) .. ":"
      yaml(x, indent .. "  ", lines)
    else
      local s = type(x) == "table" and (getmetatable(x) == json.array_mt and "[]" or "{}") or yaml_scalar(x)
      lines[#lines + 1] = indent .. yaml_scalar(k) .. ": " .. s
    end
  end
end

local function csv_field(s)
  if s:find('[",\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function boxed(headers, rows)
  local widths = {}
  for i, h in ipairs(headers) do widths[i] = utf8.len(h) or #h end
  for _, r in ipairs(rows) do
    for i, cell in ipairs(r) do widths[i] = math.max(widths[i], utf8.len(cell) or #cell) end
  end
  local rule = {}
  for i, w in ipairs(widths) do rule[i] = string.rep("-", w + 2) end
  local sep = "+" .. table.concat(rule, "+") .. "+"
  local function line(cells)
    local parts = {}
    for i, c in ipairs(cells) do
      parts[i] = " " .. c .. string.rep(" ", widths[i] - (utf8.len(c) or #c)) .. " "
    end
    return "|" .. table.concat(parts, "|") .. "|"
  end
  local lines = { sep, line(headers), sep }
  for _, r in ipairs(rows) do lines[#lines + 1] = line(r) end
  lines[#lines + 1] = sep
  return table.concat(lines, "\n")
end

-- The columns to show: -c's (each must be one of `all`), else the defaults.
local function pick_columns(all, defaults)
  if not out.columns then return defaults end
  local known = {}
  for _, c in ipairs(all) do known[c] = true end
  for _, c in ipairs(out.columns) do
    if not known[c] then
      M.die(EXIT.usage, "no column '" .. c .. "' (columns: " .. table.concat(all, ", ") .. ")")
    end
  end
  return out.columns
end

-- A list of records: `columns` {{key, header}, ...} for the table (the defaults), `all` the
-- keys -c may name (default: the columns').
function M.list(records, columns, all)
  local keys, headers = {}, {}
  for i, c in ipairs(columns) do keys[i], headers[c[1]] = c[1], c[2] end
  local shown = pick_columns(all or keys, keys)
  local fmt = out.format or "table"
  if fmt == "json" then
    local docs = {}
    for i, r in ipairs(records) do
      local d = {}
      for _, k in ipairs(out.columns and shown or (all or keys)) do d[k] = r[k] end
      docs[i] = d
    end
    print(json.encode(json.array(docs)))
  elseif fmt == "yaml" then
    local docs = {}
    for i, r in ipairs(records) do
      local d = {}
      for _, k in ipairs(shown) do d[k] = r[k] end
      docs[i] = d
    end
    local lines = {}
    yaml(json.array(docs), "", lines)
    print(table.concat(lines, "\n"))
  elseif fmt == "value" then
    for _, r in ipairs(records) do
      local cells = {}
      for i, k in ipairs(shown) do cells[i] = text(r[k]) end
      print(table.concat(cells, " "))
    end
  elseif fmt == "csv" then
    local hs = {}
    for i, k in ipairs(shown) do hs[i] = csv_field(headers[k] or k) end
    print(table.concat(hs, ","))
    for _, r in ipairs(records) do
      local cells = {}
      for i, k in ipairs(shown) do cells[i] = csv_field(text(r[k])) end
      print(table.concat(cells, ","))
    end
  else
    local hs, rows = {}, {}
    for i, k in ipairs(shown) do hs[i] = headers[k] or k end
    for n, r in ipairs(records) do
      local cells = {}
      for i, k in ipairs(shown) do cells[i] = text(r[k]):gsub("%c", "?") end
      rows[n] = cells
    end
    print(boxed(hs, rows))
  end
end

-- One record: Field | Value, every field in `keys` order (default: all, sorted).
function M.show(record, keys)
  if not keys then
    keys = {}
    for k in pairs(record) do if type(k) == "string" and k:sub(1, 1) ~= "_" then keys[#keys + 1] = k end end
    table.sort(keys)
  end
  local shown = pick_columns(keys, keys)
  local fmt = out.format or "table"
  if fmt == "json" then
    local d = {}
    for _, k in ipairs(shown) do d[k] = record[k] end
    print(json.encode(d))
  elseif fmt == "yaml" then
    local d, lines = {}, {}
    for _, k in ipairs(shown) do d[k] = record[k] end
    yaml(d, "", lines)
    print(table.concat(lines, "\n"))
  elseif fmt == "value" then
    for _, k in ipairs(shown) do print(text(record[k])) end
  elseif fmt == "csv" then
    local hs, cells = {}, {}
    for i, k in ipairs(shown) do hs[i], cells[i] = csv_field(k), csv_field(text(record[k])) end
    print(table.concat(hs, ","))
    print(table.concat(cells, ","))
  else
    local rows = {}
    for i, k in ipairs(shown) do rows[i] = { k, (text(record[k]):gsub("%c", "?")) } end
    print(boxed({ "Field", "Value" }, rows))
  end
end

-- Plain lines by default, `doc` as JSON with -f json (and yaml); for commands whose result is a
-- sentence (an id, "x shared with y").
function M.emit(doc, lines)
  if out.format == "json" then
    print(json.encode(doc))
  elseif out.format == "yaml" then
    local l = {}
    yaml(doc, "", l)
    print(table.concat(l, "\n"))
  else
    for _, line in ipairs(lines) do print(line) end
  end
end

-- Progress: a bar with total, rate and ETA on a terminal, a line per 10 % otherwise, nothing
-- with -f json.
function M.progress(label)
  if out.format == "json" then return nil end
  local tty, last, t0 = core.isatty(2), -1, core.now()
  return function(done, total)
    local pct = total > 0 and done * 100 // total or 100
    if tty then
      if pct == last and done < total then return end
      local secs = core.now() - t0
      local rate = secs > 0 and done / secs or 0
      local eta = rate > 0 and (total - done) / rate or 0
      io.stderr:write(string.format("\r%s [%-30s] %3d%% %8.1f / %.1f MiB %7.1f MiB/s ETA %3ds", label,
        string.rep("#", pct * 30 // 100), pct, done / 1048576, total / 1048576, rate / 1048576,
        math.floor(eta + 0.5)))
      if done >= total then io.stderr:write("\n") end
    elseif pct // 10 ~= last // 10 or (done >= total and last ~= 100) then
      io.stderr:write(string.format("%s %d%% (%d of %d bytes)\n", label, pct, done, total))
    else
      return
    end
    last = pct
  end
end

-- The progress function of a job wait: on a terminal one bar per job, redrawn in place (a
-- summary line when there are more than 20), piped one line per state change.
function M.job_bars(ids)
  local tty, state, order_, drawn = core.isatty(2), {}, {}, false
  for i, id in ipairs(ids) do order_[i] = tostring(id) end
  local function line(id)
    local s = state[id] or {}
    local pct = s.pct or (s.status == "SUCCESS" and 100) or 0
    return string.format("%-34s [%-20s] %3d%% %s", id, string.rep("#", pct * 20 // 100), pct,
      (s.status or "INIT") .. (s.reason and (" " .. s.reason) or ""))
  end
  local function draw()
    if #order_ > 20 then
      local done, failed = 0, 0
      for _, id in ipairs(order_) do
        local st = state[id] and state[id].status
        if st == "SUCCESS" then done = done + 1 elseif st == "FAIL" then failed = failed + 1 end
      end
      io.stderr:write(string.format("\r%d jobs: %d succeeded, %d failed, %d running ", #order_, done,
        failed, #order_ - done - failed))
      return
    end
    if drawn then io.stderr:write(string.format("\27[%dA", #order_)) end
    for _, id in ipairs(order_) do io.stderr:write("\r\27[K", line(id), "\n") end
    drawn = true
  end
  local function finish()
    if tty and #order_ > 20 then io.stderr:write("\n") end
  end
  return function(j)
    local id = tostring(j.job_id)
    local pct = type(j.entities) == "table" and math.tointeger(tonumber(j.entities.process_percent))
    local old = state[id]
    state[id] = { status = j.status, pct = pct, reason = j.status == "FAIL" and j.fail_reason or nil }
    if tty then return draw() end
    if not old or old.status ~= j.status then -- each state once, whatever percentages come between
      io.stderr:write(string.format("%s %s%s\n", id, tostring(j.status),
        j.status == "FAIL" and j.fail_reason and (" " .. j.fail_reason) or ""))
    end
  end, finish
end

---------------------------------------------------------------------------------------------
-- the command table, help and dispatch

local commands, order = {}, {}
M.commands, M.order = commands, order

-- def: name ("images list"), usage (its help text, first line "usage: ims NAME ..."),
-- summary (one line for `ims help`), opts, npos, run(pos, opts, cmd).
function M.command(def)
  assert(not commands[def.name], def.name)
  def.opts = def.opts or {}
  commands[def.name] = def
  order[#order + 1] = def.name
end

function M.main_usage()
  local lines = { "usage: ims [-f table|json|yaml|value|csv] [-c COLUMN]... <command> ...", "",
    "commands:" }
  for _, name in ipairs(order) do
    lines[#lines + 1] = string.format("  %-24s %s", name, commands[name].summary or "")
  end
  lines[#lines + 1] = [[

options:
  -f, --format F   output: table (default), json, yaml, value, csv; --json is -f json
  -c, --column C   only this column (repeatable)
  --help           this text; `ims help COMMAND` or `ims COMMAND --help` for one command
  --version        the version of ims and of its C core
Configuration comes from the environment: IMS_ENDPOINT (or HUAWEICLOUD_SDK_REGION) with
HUAWEICLOUD_SDK_AK, _SK and _PROJECT_ID (AK/SK); or OS_AUTH_URL, OS_USERNAME, OS_PASSWORD,
OS_USER_DOMAIN_NAME, OS_PROJECT_ID (IAM/Keystone password); or IMS_TOKEN. IMS_OBS_ENDPOINT
for OBS. The local stack's DIR/env sets all of them for project A.
exit codes: 0 ok, 1 request failed, 2 usage, 3 job failed, 4 timeout, 5 checksum mismatch]]
  return table.concat(lines, "\n")
end

-- The commands under a group ("images") or nil.
local function group_usage(word)
  local lines = {}
  for _, name in ipairs(order) do
    if name:match("^(%S+)") == word then
      lines[#lines + 1] = string.format("  %-24s %s", name, commands[name].summary or "")
    end
  end
  if #lines == 0 then return nil end
  return "usage: ims " .. word .. " <command> ...\n\ncommands:\n" .. table.concat(lines, "\n")
end

-- bash completion from the same table: `eval "$(ims completion bash)"`.
function M.completion()
  local words, opts = {}, {}
  for _, name in ipairs(order) do
    words[#words + 1] = name
    local o = {}
    for k in pairs(commands[name].opts) do o[#o + 1] = "--" .. k:gsub("_", "-") end
    table.sort(o)
    opts[#opts + 1] = string.format("    %q) opts=%q ;;", name, table.concat(o, " ") .. " --help -f -c")
  end
  return ([==[
# bash completion for ims (generated by `ims completion bash`)
_ims() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmds=$'%s'
  local w1=${COMP_WORDS[1]} w2=${COMP_WORDS[2]} w3=${COMP_WORDS[3]} opts=''
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$(printf '%%s\n' $cmds | cut -d' ' -f1 | sort -u) help completion" -- "$cur"))
    return
  fi
  case "$w1 $w2 $w3" in
%s
  esac
  case "$w1 $w2" in
%s
  esac
  if [ "$COMP_CWORD" -eq 2 ]; then
    local subs
    subs=$(printf '%%s\n' "$cmds" | awk -v g="$w1" '$1 == g {print $2}' | sort -u)
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _ims ims
]==]):format(table.concat(words, "\\n"), table.concat(opts, "\n"), table.concat(opts, "\n"))
end

function M.main(argv)
  require "ims.cli.commands" -- fills the table
  argv = { table.unpack(argv) }
  while argv[1] and argv[1]:sub(1, 1) == "-" do
    local a = table.remove(argv, 1)
    if a == "--json" then out.format = "json"
    elseif a == "-f" or a == "--format" then
      local v = table.remove(argv, 1)
      if not FORMATS[v or ""] then M.usage(nil, "-f must be table, json, yaml, value or csv") end
      out.format = v
    elseif a == "-c" or a == "--column" then
      out.columns = out.columns or {}
      out.columns[#out.columns + 1] = table.remove(argv, 1) or M.usage(nil, "-c needs a value")
    elseif a == "--help" or a == "-h" then print(M.main_usage()) os.exit(EXIT.ok)
    elseif a == "--version" then
      print("ims " .. M.VERSION .. " (" .. core.version() .. ")")
      os.exit(EXIT.ok)
    else M.usage(nil, "unknown option " .. a) end
  end
  if argv[1] == "help" then
    local rest = table.concat(argv, " ", 2)
    if rest == "" then print(M.main_usage()) os.exit(EXIT.ok) end
    local c = commands[rest]
    local g = not c and group_usage(rest)
    if not c and not g then M.usage(nil, "unknown command: " .. rest) end
    print(c and c.usage or g)
    os.exit(EXIT.ok)
  end
  if argv[1] == "completion" then
    if argv[2] ~= "bash" then M.usage(nil, "usage: ims completion bash") end
    io.write(M.completion())
    os.exit(EXIT.ok)
  end
  -- the longest command name the words spell: "images tag add" before "images tag"
  for n = math.min(3, #argv), 1, -1 do
    local name = table.concat(argv, " ", 1, n)
    local c = commands[name]
    if c then
      local pos, opts = M.parse(c, { table.unpack(argv, n + 1) })
      c.run(pos, opts, c)
      return
    end
  end
  local g = argv[1] and group_usage(argv[1])
  if g and (argv[2] == nil or argv[2] == "--help" or argv[2] == "-h") then
    print(g)
    os.exit(argv[2] and EXIT.ok or EXIT.usage)
  end
  M.usage(nil, argv[1] and ("unknown command: " .. table.concat(argv, " ", 1, math.min(#argv, 2))) or nil)
end

return M
