--- `:checkhealth kimi_lsp`: the server executable and its version, the API key (presence only, never
--- its value), and what `kimi-lsp doctor` says about the endpoint, the model and the test command.
local M = {}

local health = vim.health

local KEY_VARS = { "KIMI_API_KEY", "MOONSHOT_API_KEY" }

local function trim_output(result)
  return vim.trim((result.stdout or "") .. (result.stderr or ""))
end

--- Run `cmd` with `args` appended; nil and a reason when it cannot start.
local function run(cmd, args, opts)
  local argv = vim.list_extend(vim.deepcopy(cmd), args)
  local ok, proc = pcall(vim.system, argv, vim.tbl_extend("force", { text = true }, opts or {}))
  if not ok then
    return nil, tostring(proc)
  end
  local result = proc:wait(opts and opts.timeout or 20000)
  return result, nil
end

local function check_server(cmd)
  health.start("kimi-lsp: server")
  if type(cmd) ~= "table" or type(cmd[1]) ~= "string" then
    health.warn("`cmd` is a function: cannot check the executable")
    return false
  end
  local exe = vim.fn.exepath(cmd[1])
  if exe == "" then
    health.error(("server executable `%s` not found"):format(cmd[1]), {
      "Install it: pip install kimi-lsp (or pipx install kimi-lsp)",
      'Or point setup() at it: require("kimi_lsp").setup({ cmd = { "/path/to/kimi-lsp" } })',
    })
    return false
  end
  health.ok(("server found: %s"):format(exe))
  local result, why = run(cmd, { "--version" }, { timeout = 10000 })
  if not result then
    health.error("cannot run the server: " .. why)
    return false
  end
  if result.code ~= 0 then
    local shown = table.concat(cmd, " ")
    health.error(("`%s --version` failed (exit %d): %s"):format(shown, result.code, trim_output(result)))
    return false
  end
  health.ok("version: " .. trim_output(result))
  return true
end

--- The variable holding the key for the server (setup's `cmd_env` first, then Neovim's environment).
local function key_source(cmd_env)
  for _, name in ipairs(KEY_VARS) do
    local value = (cmd_env or {})[name] or vim.env[name]
    if value and value ~= "" then
      return name
    end
  end
  return nil
end

local function check_key(cmd_env)
  health.start("kimi-lsp: API key")
  local source = key_source(cmd_env)
  if source then
    health.ok(("API key present (%s)"):format(source))
  else
    health.error("no API key for the server", {
      "export KIMI_API_KEY=... (or MOONSHOT_API_KEY) before starting Neovim",
    })
  end
end

--- The doctor lines worth showing: key, endpoint, model, test command and the verdict.
--- (Never the settings table: it is long, and the health buffer may be shared in a bug report.)
local function report_doctor(output, code, test_command)
  local verdict = nil
  for _, line in ipairs(vim.split(output, "\n", { trimempty = true })) do
    if line:match("^endpoint:") then
      if line:match(" answers") then
        health.ok(line)
      elseif line:match("not checked") then
        health.warn(line)
      else
        health.error(line)
      end
    elseif line:match("^model:") then
      if line:match("is listed") then
        health.ok(line)
      else
        health.warn(line)
      end
    elseif line:match("^API key:") then
      if line:match("present") then
        health.ok("doctor: " .. line)
      else
        health.error("doctor: " .. line)
      end
    elseif line:match("^test command:") then
      -- The doctor cannot see setup()'s testCommand; the server will use it.
      health.info(test_command and ("test command: %s (setup settings)"):format(test_command) or line)
    elseif line:match("^git:") then
      health.info(line)
    elseif line:match("^problems:") or line == "all good" then
      verdict = line
    end
  end
  if code == 0 then
    health.ok("doctor: " .. (verdict or "all good"))
  else
    health.warn(("doctor exited %d: %s"):format(code, verdict or "see `kimi-lsp doctor`"))
  end
end

--- Where to run the doctor: every running kimi-lsp client's root (the projects the server serves), else
--- the project around the working directory, else the working directory itself. (Not the current buffer:
--- under :checkhealth that is the health buffer, which has no file.)
--- @return string[]
local function doctor_roots()
  local kimi = require("kimi_lsp")
  local roots, seen = {}, {}
  for _, client in ipairs(vim.lsp.get_clients({ name = kimi.name })) do
    local root = client.root_dir or client.config.root_dir
    if type(root) == "string" and not seen[root] then
      seen[root] = true
      table.insert(roots, root)
    end
  end
  if #roots == 0 then
    local cwd = vim.fn.getcwd()
    table.insert(roots, vim.fs.root(cwd, kimi.options.root_markers) or cwd)
  end
  return roots
end

local function check_doctor(cmd, cmd_env, settings, root)
  health.start("kimi-lsp: endpoint (kimi-lsp doctor in " .. root .. ")")
  local env = vim.deepcopy(cmd_env or {})
  -- The doctor reads the endpoint and model from the environment; show it the ones setup() sends.
  if type(settings.baseUrl) == "string" then
    env.KIMI_BASE_URL = settings.baseUrl
  end
  if type(settings.model) == "string" then
    env.KIMI_MODEL = settings.model
  end
  local result, why = run(cmd, { "doctor" }, { env = env, cwd = root, timeout = 30000 })
  if not result then
    health.error("cannot run `kimi-lsp doctor`: " .. why)
    return
  end
  if result.signal and result.signal ~= 0 then
    health.error("`kimi-lsp doctor` did not finish (timed out?)")
    return
  end
  local test_command = type(settings.testCommand) == "string" and settings.testCommand or nil
  report_doctor(result.stdout or "", result.code, test_command)
end

function M.check()
  local kimi = require("kimi_lsp")
  local opts = kimi.options
  if vim.fn.has("nvim-0.11") == 0 then
    health.error("kimi_lsp needs Neovim 0.11 or newer")
    return
  end
  local server_ok = check_server(opts.cmd)
  check_key(opts.cmd_env)
  if server_ok then
    for _, root in ipairs(doctor_roots()) do
      check_doctor(opts.cmd, opts.cmd_env, opts.settings or {}, root)
    end
  end
  health.start("kimi-lsp: client")
  if vim.lsp.is_enabled(kimi.name) then
    local clients = vim.lsp.get_clients({ name = kimi.name })
    health.ok(("enabled; %d client(s) running"):format(#clients))
  else
    health.warn('not enabled: call require("kimi_lsp").setup() in your config')
  end
end

return M
