// tern save --api SOCKET FILE [--stop] [--json] [--buffered]: asks a running VMM to save
// its VM to FILE (an xl image), then resume it (default) or stop it.
#include <filesystem>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/control_server.hpp"

namespace tern::cli {

namespace {

struct SaveArgs {
  std::string api;
  std::string path;
  bool stop = false;
  bool json = false;
  bool buffered = false;
};

int run_save(const SaveArgs& a) {
  std::error_code ec;
  const auto abs = std::filesystem::absolute(a.path, ec);
  if (ec) {
    fmt::print(stderr, "tern save: {}: {}\n", a.path, ec.message());
    return kExitUsage;
  }
  nlohmann::json req = {
      {"cmd", "save"}, {"path", abs.string()}, {"then", a.stop ? "stop" : "resume"}};
  if (a.buffered) req["direct"] = false;
  auto r = control_request(a.api, req, std::chrono::minutes(30));
  if (!r) {
    fmt::print(stderr, "tern save: {}\n", r.error().message());
    return kExitUsage;
  }
  if (!r->value("ok", false)) {
    fmt::print(stderr, "tern save: {}\n", r->value("error", std::string("failed")));
    return kExitInvalid;
  }
  if (a.json) {
    r->erase("ok");
    fmt::print("{}\n", r->dump());
    return kExitOk;
  }
  const auto& p = (*r)["pages"];
  const auto& t = (*r)["times_ms"];
  fmt::print(
      "saved {}: {} bytes, {} pages with data, {} zero, {} absent; {:.1f} ms to a durable file "
      "(guest paused {:.1f} ms), then {}\n",
      abs.string(), (*r)["bytes"].get<std::uint64_t>(), p["data"].get<std::uint64_t>(),
      p["zero"].get<std::uint64_t>(), p["xtab"].get<std::uint64_t>(),
      t.value("durable", t["total"].get<double>()), t["paused"].get<double>(),
      a.stop ? "stopped" : "resumed");
  return kExitOk;
}

}  // namespace

void add_save(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<SaveArgs>();
  auto* cmd =
      app.add_subcommand("save", "save a running VM to an xl image through its control socket");
  cmd->add_option("--api", a->api, "the VMM's control socket")->required();
  cmd->add_flag("--stop", a->stop, "stop the VM after saving (default: it resumes)");
  cmd->add_flag("--json", a->json, "print a JSON summary (bytes, pages, times)");
  cmd->add_flag("--buffered", a->buffered,
                "write page data through the page cache (default: O_DIRECT where the file "
                "system allows it)");
  cmd->add_option("file", a->path, "image file to write")->required();
  cmd->callback([a, &ctx] { ctx.exit_code = run_save(*a); });
}

}  // namespace tern::cli
