--- Progress of kimi-lsp jobs, read from the `LspProgress` autocmd: the latest message per token, a
--- statusline string, and a notification when a job begins and ends.
local M = {}

--- @class kimi_lsp.Job
--- @field token string
--- @field title string
--- @field message string
--- @field seq integer  order of the latest update, to show the job that moved last

--- @type table<string, kimi_lsp.Job>
M.running = {}

--- Finished jobs' end messages by token (the last 20), for `:KimiStatus` and tests.
--- @type table<string, string>
M.ended = {}
local ended_order = {} --- @type string[]

local seq = 0
local client_name = "kimi_lsp"

local function end_level(message)
  if message:match("^Failed") then
    return vim.log.levels.ERROR
  elseif message:match("^Cancelled") or message:match("^Not ") then
    return vim.log.levels.WARN
  end
  return vim.log.levels.INFO
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
function M.on_progress(params)
  local token = params.token
  local value = params.value
  if type(token) ~= "string" or not token:match("^kimi%-") or type(value) ~= "table" then
    return
  end
  seq = seq + 1
  if value.kind == "begin" then
    local title = value.title or "Kimi"
    M.running[token] = { token = token, title = title, message = value.message or "starting", seq = seq }
    vim.notify(title .. " started", vim.log.levels.INFO)
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
    vim.notify(((job and job.title) or "Kimi") .. ": " .. message, end_level(message))
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

--- Listen to `LspProgress` (once, however often setup runs).
function M.attach()
  local group = vim.api.nvim_create_augroup("kimi_lsp.progress", { clear = true })
  vim.api.nvim_create_autocmd("LspProgress", {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == client_name then
        M.on_progress(ev.data.params)
      end
    end,
  })
end

return M
