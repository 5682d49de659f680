--- Progress of kimi-lsp jobs, read from the `LspProgress` autocmd: the latest message per token, a
--- statusline string, and a notification when a job ends. (No "started" notification: the command that
--- started the job already said so. None for an end the server tells itself either: failures and "not
--- fixed" come as `window/showMessage`, a change to review as a message request.)
local M = {}

--- @class kimi_lsp.Job
--- @field token string
--- @field title string
--- @field message string
--- @field seq integer  order of the latest update, to show the job that moved last
--- @field client_id? integer  the client whose server runs the job (its jobs die with it)

--- @type table<string, kimi_lsp.Job>
M.running = {}

--- Finished jobs' end messages by token (the last 20), for `:KimiStatus` and tests.
--- @type table<string, string>
M.ended = {}
local ended_order = {} --- @type string[]

local seq = 0
local client_name = "kimi_lsp"

local function end_level(message)
  if message:match("^Cancelled") or message:match("^Not ") then
    return vim.log.levels.WARN
  end
  return vim.log.levels.INFO
end

--- Ends the server tells the user about itself (window/showMessage, or a review request): one message each.
local function told_by_server(message)
  return message:match("^Failed") or message:match("^Not fixed") or message:match("^Not applied")
    or message:match("^Ready for review")
end

local function remember_end(token, message)
  M.ended[token] = message
  table.insert(ended_order, token)
  -- Bounded: a long session runs many jobs.
  if #ended_order > 20 then
    M.ended[table.remove(ended_order, 1)] = nil
  end
end

local function redraw()
  pcall(vim.cmd.redrawstatus)
end

--- Handle one `$/progress` params table from a kimi-lsp client.
--- @param params {token: string|integer, value: table}
--- @param client_id? integer the client that received it
function M.on_progress(params, client_id)
  local token = params.token
  local value = params.value
  if type(token) ~= "string" or not token:match("^kimi%-") or type(value) ~= "table" then
    return
  end
  seq = seq + 1
  if value.kind == "begin" then
    local title = value.title or "Kimi"
    M.running[token] =
      { token = token, title = title, message = value.message or "starting", seq = seq, client_id = client_id }
  elseif value.kind == "report" then
    local job = M.running[token]
    if job and value.message then
      job.message = value.message
      job.seq = seq
    end
  elseif value.kind == "end" then
    local job = M.running[token]
    M.running[token] = nil
    local message = value.message or "done"
    remember_end(token, message)
    if not told_by_server(message) then
      vim.notify(((job and job.title) or "Kimi") .. ": " .. message, end_level(message))
    end
  end
  redraw()
end

--- The job that moved last and how many others run, or nil when none runs.
--- @return kimi_lsp.Job?, integer
function M.latest()
  local best, count = nil, 0
  for _, job in pairs(M.running) do
    count = count + 1
    if not best or job.seq > best.seq then
      best = job
    end
  end
  return best, count
end

--- "Kimi: step 4/100 · running tests · 12.3K tokens" while a job runs, "" otherwise.
--- @return string
function M.statusline()
  local job, count = M.latest()
  if not job then
    return ""
  end
  local text = "Kimi: " .. job.message
  if count > 1 then
    text = text .. (" (+%d more)"):format(count - 1)
  end
  return text
end

--- Forget the jobs of client `client_id`, whose server is gone (it will never send their `end`), and say
--- so once. The number of jobs forgotten.
--- @param client_id integer
--- @return integer
function M.forget_client(client_id)
  local lost = 0
  for token, job in pairs(M.running) do
    if job.client_id == client_id then
      M.running[token] = nil
      remember_end(token, "Lost: the server stopped")
      lost = lost + 1
    end
  end
  if lost > 0 then
    vim.notify("Kimi: the server stopped; the job is lost", vim.log.levels.WARN)
    redraw()
  end
  return lost
end

--- Listen to `LspProgress` and `LspDetach` (once, however often setup runs).
function M.attach()
  local group = vim.api.nvim_create_augroup("kimi_lsp.progress", { clear = true })
  vim.api.nvim_create_autocmd("LspProgress", {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == client_name then
        M.on_progress(ev.data.params, client.id)
      end
    end,
  })
  vim.api.nvim_create_autocmd("LspDetach", {
    group = group,
    callback = function(ev)
      -- A buffer closing also detaches; only a stopped (or already forgotten) client takes its jobs along.
      -- Jobs are stored for kimi-lsp clients only, so the client id alone says whose they are.
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and not client:is_stopped() then
        return
      end
      M.forget_client(ev.data.client_id)
    end,
  })
end

return M
