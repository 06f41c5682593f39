// Each `tern` sub-command lives in its own cmd_<name>.cpp and registers itself
// on the CLI11 app through one of these functions (called from main.cpp).
// A registered callback returns the process exit status through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace tern::cli {

// Exit statuses shared by the tools (DESIGN.md's command-line contract).
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;  // verify: the input breaks a rule
inline constexpr int kExitUsage = 2;    // usage or I/O error

struct Context {
  int exit_code = kExitOk;
};

void add_version(CLI::App& app, Context& ctx);
// Image tools (tern issue A): one cmd_<name>.cpp each.
void add_inspect(CLI::App& app, Context& ctx);
void add_verify(CLI::App& app, Context& ctx);
void add_convert(CLI::App& app, Context& ctx);
void add_synth(CLI::App& app, Context& ctx);
// VM operations (issue E): cmd_run.cpp, cmd_save.cpp, cmd_restore.cpp.
void add_run(CLI::App& app, Context& ctx);
void add_save(CLI::App& app, Context& ctx);
void add_restore(CLI::App& app, Context& ctx);
// xenstore tools: `tern xenstore ring-client` (issue C), `export`/`import` (issue D).
void add_xenstore(CLI::App& app, Context& ctx);
// Live migration (issue F): cmd_migrate.cpp, cmd_receive.cpp.
void add_migrate(CLI::App& app, Context& ctx);
void add_receive(CLI::App& app, Context& ctx);
void add_demo(CLI::App& app, Context& ctx);  // cmd_demo.cpp: the main job

}  // namespace tern::cli
