// tern: save, restore and live-migrate VMs through Xen's record streams.
#include <csignal>
#include <cstdio>

#include "cli/tern/commands.hpp"
#include "core/log.hpp"
#include "core/trace.hpp"

int main(int argc, char** argv) {
  tern::trace::instant("main");
  // A peer that goes away (a migration destination, a control client) must
  // make writes fail with EPIPE, not kill the VMM and its guest.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"tern: save, restore and live-migrate VMs through Xen's versioned record streams"};
  app.require_subcommand(1);
  app.set_version_flag("--version", TERN_VERSION);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log progress and details to stderr");
  app.parse_complete_callback([&] {
    if (verbose) tern::log::set_level(tern::log::Level::debug);
  });

  tern::cli::Context ctx;
  tern::cli::add_version(app, ctx);
  tern::cli::add_inspect(app, ctx);
  tern::cli::add_verify(app, ctx);
  tern::cli::add_convert(app, ctx);
  tern::cli::add_synth(app, ctx);
  tern::cli::add_run(app, ctx);
  tern::cli::add_save(app, ctx);
  tern::cli::add_restore(app, ctx);
  tern::cli::add_xenstore(app, ctx);
  tern::cli::add_migrate(app, ctx);
  tern::cli::add_receive(app, ctx);
  tern::cli::add_demo(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : tern::cli::kExitUsage;
  }
  return ctx.exit_code;
}
