--- The user commands: each turns editor state (cursor, diagnostics, range) into one
--- `workspace/executeCommand` request to kimi-lsp. The server does the rest and reports through
--- `$/progress`; results arrive as `workspace/applyEdit`.
local progress = require("kimi_lsp.progress")

local M = {}

local client_name = "kimi_lsp"

local function notify(message, level)
  vim.notify("Kimi: " .. message, level or vim.log.levels.INFO)
end

--- The kimi-lsp client attached to `bufnr`, or nil (with a message saying why).
--- @param bufnr integer
--- @return vim.lsp.Client?
function M.client_for(bufnr)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = client_name })[1]
  if not client and vim.api.nvim_buf_get_name(bufnr) == "" then
    notify("this buffer is not a file: save the buffer first, inside a project (:write {file})", vim.log.levels.ERROR)
  elseif not client then
    notify(
      "kimi-lsp is not attached to this buffer (is it inside a project root? see :checkhealth kimi_lsp)",
      vim.log.levels.ERROR
    )
  end
  return client
end

--- Whether kimi-lsp will attach to `bufnr` (a file inside a project root, the server enabled): a command
--- given before it has attached waits for it instead of saying it is not attached.
local function expects_client(bufnr)
  local kimi = require("kimi_lsp")
  if vim.api.nvim_buf_get_name(bufnr) == "" or not vim.lsp.is_enabled(kimi.name) then
    return false
  end
  local filetypes = kimi.options.filetypes
  if filetypes and not vim.tbl_contains(filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  return vim.fs.root(bufnr, kimi.options.root_markers) ~= nil
end

--- How long a command waits for a starting server before saying it did not start.
M.start_timeout_ms = 60000

--- Run `fn(client)` with the kimi-lsp client of `bufnr`: now if it is ready, else once it has attached (the
--- server is still starting), else say why there is none.
--- @param bufnr integer
--- @param fn fun(client: vim.lsp.Client)
function M.with_client(bufnr, fn)
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = client_name })[1]
  if client and client.initialized then
    fn(client)
    return
  end
  if not client and not expects_client(bufnr) then
    M.client_for(bufnr) -- says why
    return
  end
  notify("kimi-lsp is starting; the command runs once it is ready")
  local waiting = true
  local autocmd = vim.api.nvim_create_autocmd("LspAttach", {
    buffer = bufnr,
    callback = function(ev)
      local attached = vim.lsp.get_client_by_id(ev.data.client_id)
      if waiting and attached and attached.name == client_name then
        waiting = false
        fn(attached)
        return true -- delete this autocmd
      end
    end,
  })
  vim.defer_fn(function()
    if waiting then
      waiting = false
      pcall(vim.api.nvim_del_autocmd, autocmd)
      notify("kimi-lsp did not start (see :checkhealth kimi_lsp and :LspLog)", vim.log.levels.ERROR)
    end
  end, M.start_timeout_ms)
end

--- Send `workspace/executeCommand` and report the answer.
--- @param client vim.lsp.Client
--- @param bufnr integer
--- @param command string
--- @param argument table
--- @param on_result? fun(result: any)
function M.execute(client, bufnr, command, argument, on_result)
  local params = { command = command, arguments = { argument } }
  client:request("workspace/executeCommand", params, function(err, result)
    if err then
      notify(command .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
end

--- Byte column `col` of line `lnum` counted in the client's position encoding.
local function lsp_character(bufnr, lnum, col, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, lnum, lnum + 1, false)[1]
  if not line then
    return 0
  end
  col = math.max(0, math.min(col, #line))
  if encoding == "utf-8" then
    return col
  end
  return vim.str_utfindex(line, encoding, col, false)
end

local function line_end(bufnr, lnum, encoding)
  return lsp_character(bufnr, lnum, math.huge, encoding)
end

--- A `vim.Diagnostic` (any namespace) as LSP `Diagnostic` JSON: 0-based lines, columns in `encoding`.
--- @param bufnr integer
--- @param d vim.Diagnostic
--- @param encoding string
--- @return table
function M.to_lsp_diagnostic(bufnr, d, encoding)
  local end_lnum = d.end_lnum or d.lnum
  local end_col = d.end_col or d.col
  local out = {
    range = {
      start = { line = d.lnum, character = lsp_character(bufnr, d.lnum, d.col or 0, encoding) },
      ["end"] = { line = end_lnum, character = lsp_character(bufnr, end_lnum, end_col or 0, encoding) },
    },
    message = d.message,
    severity = d.severity,
  }
  out.source = d.source
  if type(d.code) == "string" or type(d.code) == "number" then
    out.code = d.code
  end
  return out
end

local function uri(bufnr)
  return vim.uri_from_bufnr(bufnr)
end

local function started(result)
  if type(result) ~= "table" or result.jobId == vim.NIL or result.jobId == nil then
    local reason = type(result) == "table" and result.reason or nil
    notify("nothing started" .. (reason and (": " .. tostring(reason)) or ""), vim.log.levels.WARN)
    return
  end
  notify(("%s (job %s)"):format(result.title or "job started", result.jobId))
end

--- `:KimiFix`: the diagnostics on the cursor line, from every namespace, go to `kimi.fix`.
function M.fix()
  local bufnr = vim.api.nvim_get_current_buf()
  local lnum = vim.api.nvim_win_get_cursor(0)[1] - 1
  local found = vim.diagnostic.get(bufnr, { lnum = lnum })
  if #found == 0 then
    notify("no diagnostics on this line; :KimiFixTests fixes failing tests", vim.log.levels.WARN)
    return
  end
  M.with_client(bufnr, function(client)
    M.fix_diagnostics(client, bufnr, found)
  end)
end

--- Send `found` (diagnostics of `bufnr`, any namespace) to `kimi.fix`.
--- @param client vim.lsp.Client
--- @param bufnr integer
--- @param found vim.Diagnostic[]
function M.fix_diagnostics(client, bufnr, found)
  local encoding = client.offset_encoding or "utf-16"
  local diagnostics, first, last = {}, math.huge, -1
  for _, d in ipairs(found) do
    table.insert(diagnostics, M.to_lsp_diagnostic(bufnr, d, encoding))
    first = math.min(first, d.lnum)
    last = math.max(last, d.end_lnum or d.lnum)
  end
  local range = {
    start = { line = first, character = 0 },
    ["end"] = { line = last, character = line_end(bufnr, last, encoding) },
  }
  M.execute(client, bufnr, "kimi.fix", { uri = uri(bufnr), range = range, diagnostics = diagnostics }, started)
end

--- `:KimiFixTests`: fix the failing tests of this buffer's workspace.
function M.fix_tests()
  local bufnr = vim.api.nvim_get_current_buf()
  M.with_client(bufnr, function(client)
    M.execute(client, bufnr, "kimi.fixTests", { uri = uri(bufnr) }, started)
  end)
end

--- `:[range]KimiRefactor {instruction}`: refactor whole lines `line1`..`line2` (1-based, inclusive);
--- without an instruction, ask for one with `vim.ui.input`.
--- @param line1 integer
--- @param line2 integer
--- @param instruction string
function M.refactor(line1, line2, instruction)
  local bufnr = vim.api.nvim_get_current_buf()
  M.with_client(bufnr, function(client)
    local encoding = client.offset_encoding or "utf-16"
    local range = {
      start = { line = line1 - 1, character = 0 },
      ["end"] = { line = line2 - 1, character = line_end(bufnr, line2 - 1, encoding) },
    }
    M.refactor_range(client, bufnr, { uri = uri(bufnr), range = range, instruction = instruction })
  end)
end

--- `kimi.refactor` with `argument` (uri, range, instruction?): without an instruction, ask for one here with
--- `vim.ui.input` (the server would ask through a message request, i.e. a prompt that takes the keyboard).
--- @param client vim.lsp.Client
--- @param bufnr integer
--- @param argument table
function M.refactor_range(client, bufnr, argument)
  local function send(text)
    if not text or vim.trim(text) == "" then
      notify("refactor cancelled: no instruction", vim.log.levels.WARN)
      return
    end
    M.execute(client, bufnr, "kimi.refactor", vim.tbl_extend("force", argument, { instruction = vim.trim(text) }), started)
  end
  if type(argument.instruction) == "string" and vim.trim(argument.instruction) ~= "" then
    send(argument.instruction)
  else
    -- Clear the menu the user picked from before asking (it would stay on screen until the next redraw).
    vim.cmd.redraw()
    vim.ui.input({ prompt = "Kimi: refactor instruction: " }, send)
  end
end

--- The diagnostics a code action request for `params` should carry: Neovim sends only the client's own
--- (LSP) diagnostics on the cursor line; kimi-lsp offers "Kimi: Fix …" for every source (linters,
--- `vim.diagnostic.set`), so the other namespaces' diagnostics on the requested lines are added.
--- @param client vim.lsp.Client
--- @param bufnr integer
--- @param params table a `textDocument/codeAction` params table
--- @return table[]
function M.context_diagnostics(client, bufnr, params)
  local own = {
    [vim.lsp.diagnostic.get_namespace(client.id, false)] = true,
    [vim.lsp.diagnostic.get_namespace(client.id, true)] = true,
  }
  local out = vim.deepcopy(params.context.diagnostics or {})
  local first, last = params.range.start.line, params.range["end"].line
  local encoding = client.offset_encoding or "utf-16"
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if not own[d.namespace] and d.lnum <= last and (d.end_lnum or d.lnum) >= first then
      table.insert(out, M.to_lsp_diagnostic(bufnr, d, encoding))
    end
  end
  return out
end

local wrapped = {} --- @type table<integer, boolean> clients whose requests carry every diagnostic

--- Make `client` send every source's diagnostics with its code action requests (see `context_diagnostics`).
--- @param client vim.lsp.Client
function M.send_every_diagnostic(client)
  if wrapped[client.id] then
    return
  end
  wrapped[client.id] = true
  local request = client.request
  client.request = function(self, method, params, handler, bufnr)
    if method == "textDocument/codeAction" and type(params) == "table" and type(params.context) == "table" then
      local target = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
      params.context.diagnostics = M.context_diagnostics(self, target, params)
    end
    return request(self, method, params, handler, bufnr)
  end
end

--- A `window/showMessageRequest` from kimi-lsp ("Apply / Show diff / Discard"): shown, never a prompt that
--- takes the keyboard (Neovim's own handler is one, and typing into it chose for the user). The change
--- waits for review: `:KimiStatus` lists it, the code actions apply, show or discard it.
function M.on_message_request(_, params)
  local level = ({ vim.log.levels.ERROR, vim.log.levels.WARN })[params.type] or vim.log.levels.INFO
  vim.notify(params.message .. "\nReview it with the code actions (Kimi: Apply / Show diff / Discard) or :KimiStatus", level)
  return vim.NIL
end

--- Client-side `kimi.refactor` (code actions "Kimi: Refactor selection…"): ask for a missing instruction here.
function M.on_refactor_command(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local argument = (command.arguments or {})[1]
  if client and type(argument) == "table" then
    M.refactor_range(client, ctx.bufnr, argument)
  end
end

--- The kimi-lsp client of the current buffer, else any running one (cancel and status are global).
local function any_client()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = client_name })[1]
    or vim.lsp.get_clients({ name = client_name })[1]
  if not client then
    notify("kimi-lsp is not running", vim.log.levels.ERROR)
  end
  return client, bufnr
end

--- `:KimiCancel [jobId]`: cancel one job, or every running job.
--- @param job_id? string
function M.cancel(job_id)
  local client, bufnr = any_client()
  if not client then
    return
  end
  local argument = (job_id and job_id ~= "") and { jobId = job_id } or vim.empty_dict()
  M.execute(client, bufnr, "kimi.cancel", argument, function(result)
    local ids = type(result) == "table" and result.cancelled or {}
    if type(ids) ~= "table" or #ids == 0 then
      notify("no running job to cancel")
      return
    end
    -- The server answers once the job stopped (or after a short wait): a job whose end already said
    -- "Cancelled" needs no second line, and a "cancelling" after it would be the wrong last word.
    local still = vim.tbl_filter(function(id)
      return progress.ended["kimi-" .. id] == nil
    end, ids)
    if #still > 0 then
      notify("cancelling " .. table.concat(still, ", "))
    end
  end)
end

--- The lines `:KimiStatus` shows for a `kimi.status` answer.
--- @param status table
--- @return string[]
function M.status_lines(status)
  local lines = {}
  local jobs = type(status.jobs) == "table" and status.jobs or {}
  if #jobs == 0 then
    table.insert(lines, "no jobs")
  end
  for _, job in ipairs(jobs) do
    local line = ("%s  %-9s %s: %s"):format(job.jobId, job.state, job.title, job.progress)
    if job.status and job.status ~= vim.NIL then
      line = line .. (" [%s]"):format(job.status)
    end
    table.insert(lines, line)
  end
  local proposals = type(status.proposals) == "table" and status.proposals or {}
  if #proposals > 0 then
    table.insert(
      lines,
      "waiting for review: " .. table.concat(proposals, ", ") .. " (code actions Kimi: Apply / Show diff / Discard)"
    )
  end
  for root, test_command in pairs(type(status.folders) == "table" and status.folders or {}) do
    local shown = (test_command == vim.NIL or test_command == nil) and "none (set testCommand)" or test_command
    table.insert(lines, ("folder %s: test command %s"):format(root, shown))
  end
  return lines
end

--- `:KimiStatus`: the server's jobs, pending proposals and folders.
function M.status()
  local client, bufnr = any_client()
  if not client then
    return
  end
  M.execute(client, bufnr, "kimi.status", vim.empty_dict(), function(result)
    notify("status\n" .. table.concat(M.status_lines(result or {}), "\n"))
  end)
end

return M
