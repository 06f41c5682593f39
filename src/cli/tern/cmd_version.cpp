#include <fmt/format.h>

#include "cli/tern/commands.hpp"

namespace tern::cli {

void add_version(CLI::App& app, Context& /*ctx*/) {
  auto* cmd = app.add_subcommand("version", "print tern's version and supported formats");
  cmd->callback([] {
    fmt::print("tern {}\n", TERN_VERSION);
    fmt::print("libxc stream: write v3, read v2 and v3\n");
  });
}

}  // namespace tern::cli
