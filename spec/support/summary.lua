-- busted output handler: the plainTerminal output (progress, then every failure and error with
-- its message and traceback), then as the very last line `N passed, N failed, N skipped`
-- (failed = failures + errors). Selected by `output` in .busted.
return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.plainTerminal"(options)
  -- plainTerminal subscribed its own suite-end printer in its constructor; ours runs after it.
  busted.subscribe({ "suite", "end" }, function()
    io.write(string.format("%d passed, %d failed, %d skipped\n", handler.successesCount,
      handler.failuresCount + handler.errorsCount, handler.pendingsCount))
    io.flush()
    return nil, true
  end)
  return handler
end
