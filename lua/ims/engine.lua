-- ims.engine: the Lua face of the C engine (one curl multi handle per client). Outside any
-- task a request blocks, as it always did; inside a task (client:map, a wait on many jobs)
-- it is submitted to the multi handle and the task yields until it ends, so many calls are
-- in flight from one Lua thread. Sleeps (backoff, rate limits, poll schedules) work the same
-- way. Tasks are coroutines this module runs; a coroutine of the caller's own is not one, so
-- calls made from it block.
local core = require "ims.native"

local M = {}

local Engine = {}
Engine.__index = Engine

local SUSPEND = setmetatable({}, { __name = "ims.engine.suspend" }) -- what a task yields

-- engine.linger: seconds Session:wait goes on once a transfer has ended, to bring back those
-- ending meanwhile in the same turn (nil: none). A job wait sets it: its polls need no haste,
-- and each wake-up of the process costs far more than handling one more answer in it.
function M.new(session)
  return setmetatable({ session = session, tasks = {}, ready = {}, timers = {},
    waiting = {} }, Engine)
end

-- The task running now, or nil (a plain caller: calls block).
function Engine:current()
  return self.tasks[coroutine.running()]
end

-- Suspends the current task until something makes it ready.
local function suspend(task)
  task.blocked = true
  coroutine.yield(SUSPEND)
end

local function make_ready(self, task)
  if task.blocked and not task.dead then
    task.blocked = false
    self.ready[#self.ready + 1] = task
  end
end

---------------------------------------------------------------------------------------------
-- what a task does

-- One request (a core.session request table): res | nil, err.
function Engine:request(req)
  local task = self:current()
  if not task then return self.session:request(req) end
  local t, err = self.session:submit(req)
  if not t then return nil, err end
  self.waiting[t] = task
  task.transfer = t
  suspend(task)
  task.transfer = nil
  return t:result()
end

-- Sleeps `seconds` (a task lets the others run meanwhile).
function Engine:sleep(seconds)
  if not (seconds > 0) then return end -- luacheck: ignore 581 (NaN too)
  local task = self:current()
  if not task then return core.sleep(seconds) end
  local timer = { at = core.now() + seconds, task = task }
  self.timers[timer] = true
  task.timer = timer
  suspend(task)
  task.timer = nil
end

-- A timer a task can sleep on and another can move earlier (job polls pulled forward).
-- Engine:sleep_until(timer) returns when core.now() >= timer.at.
function Engine:sleep_until(timer)
  local task = self:current()
  if not task then
    while core.now() < timer.at do core.sleep(math.min(timer.at - core.now(), 1)) end
    return
  end
  if core.now() >= timer.at then -- due already: still let the others run once
    task.blocked = true
    make_ready(self, task)
    coroutine.yield(SUSPEND)
    return
  end
  while core.now() < timer.at do
    timer.task = task
    self.timers[timer] = true
    task.timer = timer
    suspend(task)
    task.timer = nil
  end
end

-- Moves a timer to `at` (earlier or later); a task sleeping on it wakes then.
function Engine.move(_, timer, at) timer.at = at end

---------------------------------------------------------------------------------------------
-- tasks

-- Starts fn(...) as a task (run by the next step); returns the task. A task spawned by a task
-- is its child: stopping the parent stops it.
function Engine:spawn(fn, ...)
  local args = table.pack(...)
  local co = coroutine.create(function() return fn(table.unpack(args, 1, args.n)) end)
  local parent = self:current()
  local task = { co = co, done = false, parent = parent, children = {}, blocked = true }
  if parent then parent.children[task] = true end
  self.tasks[co] = task
  make_ready(self, task)
  return task
end

-- Stops a task and its children: its transfer is cancelled, its timer dropped, its
-- coroutine closed (to-be-closed variables in it are closed).
function Engine:stop(task)
  if task.done or task.dead then return end
  task.dead = true
  for child in pairs(task.children) do self:stop(child) end
  if task.transfer then
    self.waiting[task.transfer] = nil
    task.transfer:cancel()
  end
  if task.timer then self.timers[task.timer] = nil end
  self.tasks[task.co] = nil
  if coroutine.status(task.co) == "suspended" then coroutine.close(task.co) end
end

local function finish_task(self, task, ok, ...)
  task.done = true
  self.tasks[task.co] = nil
  if task.parent then task.parent.children[task] = nil end
  if ok then
    task.results = table.pack(...)
  else
    task.error = (...)
    task.traceback = debug.traceback(task.co)
  end
  local joiner = task.joiner
  if joiner then make_ready(self, joiner) end
end

-- What a resume returned (the task's results are packed only when it ended: resumes are many).
local function resumed(self, task, ok, ...)
  if coroutine.status(task.co) == "dead" then return finish_task(self, task, ok, ...) end
  if (...) ~= SUSPEND then -- the task's own code yielded: not ours to pass on
    self:stop(task)
    task.error = "ims: a coroutine.yield inside a task (client:map's function) is not "
      .. "supported: only SDK calls may suspend it"
    task.done = true
    if task.joiner then make_ready(self, task.joiner) end
  end
end

local function resume(self, task)
  return resumed(self, task, coroutine.resume(task.co))
end

-- One turn: run what is ready; else wait for a transfer to end or a timer to fire (at most
-- `max_wait` seconds). Returns false when there is nothing left to wait for.
function Engine:step(max_wait)
  if #self.ready > 0 then
    local batch = self.ready
    self.ready, self.spare = self.spare or {}, nil -- two lists in turn, not one a step
    for k = 1, #batch do
      local task = batch[k]
      batch[k] = nil
      if not task.dead then resume(self, task) end
    end
    self.spare = batch
    return true
  end
  local now = core.now()
  local first
  for timer in pairs(self.timers) do
    if timer.at <= now then
      self.timers[timer] = nil
      make_ready(self, timer.task)
    elseif not first or timer.at < first then
      first = timer.at
    end
  end
  if #self.ready > 0 then return true end
  local busy = next(self.waiting) ~= nil
  if not busy and not first then return false end
  local wait = first and math.max(0, first - now) or nil
  if max_wait and (not wait or wait > max_wait) then wait = max_wait end
  if busy then
    for _, t in ipairs(self.session:wait(wait, self.linger)) do
      local task = self.waiting[t]
      self.waiting[t] = nil
      if task then make_ready(self, task) end
    end
  elseif wait and wait > 0 then
    core.sleep(wait)
  end
  return true
end

-- Waits until every task in `list` is done. From a task, it suspends (its caller's loop runs
-- them); otherwise it runs the loop itself. Returns nothing; the tasks hold their results.
function Engine:join(list)
  local me = self:current()
  local function all_done()
    for _, t in ipairs(list) do if not t.done then return false end end
    return true
  end
  while not all_done() do
    if me then
      for _, t in ipairs(list) do if not t.done then t.joiner = me end end
      suspend(me)
    elseif not self:step() then
      error("ims.engine: tasks wait for nothing (a task is blocked with no request or timer)")
    end
  end
end

-- The first task of `list` that raised, if any.
local function failed(list)
  for _, t in ipairs(list) do if t.error ~= nil then return t end end
end
M.failed = failed

---------------------------------------------------------------------------------------------
-- client:map

-- Runs fn(item, i) for every item with up to `concurrency` at once (each in its own task);
-- returns values, errs (nil when every fn returned a value). A raise in fn stops the rest
-- (their requests are cancelled) and is raised again here.
function Engine:map(items, fn, concurrency, progress)
  local n = #items
  local values, errs = {}, nil
  local nexti, done, stopped = 1, 0, false
  local function worker()
    while nexti <= n and not stopped do
      local i = nexti
      nexti = nexti + 1
      local v, e = fn(items[i], i)
      values[i] = v
      if v == nil then
        errs = errs or {}
        errs[i] = e
      end
      done = done + 1
      if progress then progress(done, n) end
    end
  end
  local workers = {}
  for w = 1, math.min(concurrency, n) do workers[w] = self:spawn(worker) end
  local me = self:current()
  -- a raise in one worker stops the others at once, not when they are done
  while true do
    local bad = failed(workers)
    if bad then
      stopped = true
      for _, t in ipairs(workers) do self:stop(t) end
      error(bad.error, 0)
    end
    local all = true
    for _, t in ipairs(workers) do if not t.done then all = false end end
    if all then break end
    if me then
      for _, t in ipairs(workers) do if not t.done then t.joiner = me end end
      suspend(me)
    elseif not self:step() then
      error("ims.engine: tasks wait for nothing")
    end
  end
  return values, errs
end

return M
