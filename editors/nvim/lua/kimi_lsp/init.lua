--- kimi-lsp for Neovim >= 0.11: registers the server with `vim.lsp.config`/`vim.lsp.enable` and adds
--- `:KimiFix`, `:KimiFixTests`, `:KimiRefactor`, `:KimiCancel`, `:KimiStatus` and a statusline item.
local commands = require("kimi_lsp.commands")
local progress = require("kimi_lsp.progress")

local M = {}

M.name = "kimi_lsp"

--- Where a project starts: the repository root wins, else the nearest manifest.
M.default_root_markers = {
  ".git",
  { "pyproject.toml", "package.json", "setup.py", "Cargo.toml", "go.mod" },
}

--- @class kimi_lsp.Options
--- @field cmd? string[] the server command (default `{ "kimi-lsp" }`)
--- @field cmd_env? table<string, string> extra environment for the server (the API key is read from it)
--- @field settings? table kimi-lsp settings: baseUrl, model, testCommand, maxSteps, contextBudget,
---   applyMode, temperature, topP, maxTokens, runTestsOnSave
--- @field filetypes? string[] attach only to these filetypes (default: any file inside a project root)
--- @field root_markers? (string|string[])[] what marks a project root (default `M.default_root_markers`)

--- @type kimi_lsp.Options
local defaults = {
  cmd = { "kimi-lsp" },
  settings = {},
  root_markers = M.default_root_markers,
}

--- @type kimi_lsp.Options
M.options = vim.deepcopy(defaults)

--- The LSP config `setup` registers, built from the options.
--- @param opts kimi_lsp.Options
--- @return vim.lsp.Config
function M.lsp_config(opts)
  local markers = opts.root_markers
  return {
    cmd = opts.cmd,
    cmd_env = opts.cmd_env,
    filetypes = opts.filetypes,
    -- A function, not `root_markers`: a buffer outside every project gets no client at all,
    -- instead of a server rooted in some random directory.
    root_dir = function(bufnr, on_dir)
      -- vim.fs.root searches from the cwd for a buffer with no name; such a buffer is no file of any
      -- project (the commands say "save the buffer first").
      if vim.api.nvim_buf_get_name(bufnr) == "" then
        return
      end
      local root = vim.fs.root(bufnr, markers)
      if root then
        on_dir(root)
      end
    end,
    init_options = opts.settings,
    settings = { kimi = opts.settings },
    handlers = { ["window/showMessageRequest"] = commands.on_message_request },
    commands = { ["kimi.refactor"] = commands.on_refactor_command },
    on_init = function(client)
      commands.send_every_diagnostic(client)
    end,
  }
end

--- `vim.lsp.enable` attaches on `FileType`, which never fires for a file with no detected filetype:
--- start the client for those ourselves, with the same config.
local function attach_untyped(bufnr)
  if
    not vim.api.nvim_buf_is_valid(bufnr)
    or vim.bo[bufnr].buftype ~= ""
    or vim.bo[bufnr].filetype ~= ""
    or vim.api.nvim_buf_get_name(bufnr) == ""
    or M.options.filetypes
    or not vim.lsp.is_enabled(M.name)
    or #vim.lsp.get_clients({ bufnr = bufnr, name = M.name }) > 0
  then
    return
  end
  local root = vim.fs.root(bufnr, M.options.root_markers)
  if not root then
    return
  end
  local config = vim.deepcopy(vim.lsp.config[M.name])
  config.root_dir = root
  vim.lsp.start(config, { bufnr = bufnr })
end

local function create_commands()
  local create = vim.api.nvim_create_user_command
  create("KimiFix", commands.fix, { desc = "Kimi: fix the diagnostics on the cursor line (every source)" })
  create("KimiFixTests", commands.fix_tests, { desc = "Kimi: fix the failing tests of this workspace" })
  create("KimiRefactor", function(cmd)
    local line1, line2 = cmd.line1, cmd.line2
    if cmd.range == 0 then
      line1 = vim.api.nvim_win_get_cursor(0)[1]
      line2 = line1
    end
    commands.refactor(line1, line2, cmd.args)
  end, { nargs = "*", range = true, desc = "Kimi: refactor the selected lines as instructed" })
  create("KimiCancel", function(cmd)
    commands.cancel(cmd.args)
  end, { nargs = "?", desc = "Kimi: cancel a job (default: every running job)" })
  create("KimiStatus", commands.status, { desc = "Kimi: show jobs and pending changes" })
end

--- Register and enable the server, create the commands, and listen to progress.
--- @param opts? kimi_lsp.Options
function M.setup(opts)
  opts = opts or {}
  vim.validate("opts.cmd", opts.cmd, "table", true)
  vim.validate("opts.settings", opts.settings, "table", true)
  vim.validate("opts.filetypes", opts.filetypes, "table", true)
  vim.validate("opts.root_markers", opts.root_markers, "table", true)
  M.options = vim.tbl_extend("force", vim.deepcopy(defaults), opts)

  vim.lsp.config(M.name, M.lsp_config(M.options))
  vim.lsp.enable(M.name)

  local group = vim.api.nvim_create_augroup("kimi_lsp.attach", { clear = true })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    callback = function(ev)
      -- After this event the filetype is settled; FileType would already have attached typed buffers.
      vim.schedule(function()
        attach_untyped(ev.buf)
      end)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      attach_untyped(bufnr)
    end
  end

  create_commands()
  progress.attach()
end

--- "Kimi: step 4/100 · running tests · 12.3K tokens" while a job runs, "" otherwise.
--- Use it as `%{v:lua.require'kimi_lsp'.statusline()}` or in a statusline plugin.
--- @return string
function M.statusline()
  return progress.statusline()
end

return M
