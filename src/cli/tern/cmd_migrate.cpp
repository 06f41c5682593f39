// tern migrate --api SOCKET --to unix:PATH|tcp://HOST:PORT|fd:N
//              [--max-downtime MS] [--max-iterations N] [--timeout S]
//              [--auto-converge] [--json]
// tern migrate --cancel --api SOCKET
#include <unistd.h>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/control_server.hpp"
#include "io/unix_socket.hpp"

namespace tern::cli {

namespace {

struct MigrateArgs {
  std::string api;
  std::string to;
  unsigned max_downtime_ms = 50;
  unsigned max_iterations = 30;
  unsigned timeout_s = 0;
  unsigned link_timeout_s = 30;
  bool auto_converge = false;
  bool background_vcpus = false;
  bool json = false;
  bool cancel = false;
};

// Reads one line from fd (blocking).
Expected<std::string> read_line(int fd, std::string& buf) {
  for (;;) {
    if (auto nl = buf.find('\n'); nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return line;
    }
    char tmp[4096];
    const ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("control socket read", errno);
    if (n == 0) return make_error(Errc::io, "the VMM closed the control socket");
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

void draw_progress(const nlohmann::json& ev) {
  const auto dirty = ev["dirty_pages"].get<std::uint64_t>();
  const auto sent = ev["sent_pages"].get<std::uint64_t>();
  const double total = static_cast<double>(sent + dirty);
  const int width = 30;
  const int done = total > 0 ? static_cast<int>(width * static_cast<double>(sent) / total) : width;
  const double bw = ev["bandwidth_MBps"].get<double>();
  const double eta_ms = bw > 0 ? static_cast<double>(dirty) * 4104 / (bw * 1e3) : 0;
  fmt::print(stderr,
             "\r[{:=<{}}{: <{}}] round {:>2} {}: {} pages left, {:.0f} MB/s, ETA {:.0f} ms{}   ",
             "", done, "", width - done, ev["round"].get<unsigned>(),
             ev["phase"].get<std::string>(), dirty, bw, eta_ms,
             ev["not_converging"].get<bool>() ? " (guest dirties faster than the link)" : "");
}

int run_migrate(const MigrateArgs& a) {
  if (a.cancel) {
    auto r = control_request(a.api, {{"cmd", "cancel"}}, std::chrono::seconds(10));
    if (!r) {
      fmt::print(stderr, "tern migrate --cancel: {}\n", r.error().message());
      return kExitUsage;
    }
    if (!r->value("ok", false)) {
      fmt::print(stderr, "tern migrate --cancel: {}\n", r->value("error", std::string("failed")));
      return kExitInvalid;
    }
    return kExitOk;
  }
  if (a.to.empty()) {
    fmt::print(stderr, "tern migrate: --to is required\n");
    return kExitUsage;
  }
  auto fd = io::connect_unix(a.api);
  if (!fd) {
    fmt::print(stderr, "tern migrate: control socket: {}\n", fd.error().message());
    return kExitUsage;
  }
  nlohmann::json req = {{"cmd", "migrate"},
                        {"to", a.to},
                        {"max_downtime_ms", a.max_downtime_ms},
                        {"max_iterations", a.max_iterations},
                        {"timeout_ms", std::uint64_t{a.timeout_s} * 1000},
                        {"auto_converge", a.auto_converge},
                        {"background_vcpus", a.background_vcpus},
                        {"link_timeout_ms", std::uint64_t{a.link_timeout_s} * 1000}};
  const std::string line = req.dump() + "\n";
  if (::write(fd->get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    fmt::print(stderr, "tern migrate: cannot send the request\n");
    return kExitUsage;
  }
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::string buf;
  for (;;) {
    auto l = read_line(fd->get(), buf);
    if (!l) {
      fmt::print(stderr, "tern migrate: {}\n", l.error().message());
      return kExitUsage;
    }
    auto j = nlohmann::json::parse(*l, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("event")) {
      if (a.json)
        fmt::print("{}\n", j.dump());
      else if (tty)
        draw_progress(j);
      continue;
    }
    if (tty && !a.json) fmt::print(stderr, "\n");
    if (!j.value("ok", false)) {
      fmt::print(stderr, "tern migrate: failed, the VM keeps running here: {}\n",
                 j.value("error", std::string("?")));
      return kExitInvalid;
    }
    j.erase("ok");
    if (a.json) {
      j["event"] = "summary";
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("migrated in {:.1f} ms (downtime {:.1f} ms), {} rounds, {} bytes, stopped on {}\n",
                 j["total_ms"].get<double>(), j["downtime_ms"].get<double>(),
                 j["rounds"].get<std::size_t>(), j["bytes"].get<std::uint64_t>(),
                 j["stop_reason"].get<std::string>());
    }
    return kExitOk;
  }
}

}  // namespace

void add_migrate(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<MigrateArgs>();
  auto* cmd = app.add_subcommand("migrate", "live-migrate a running VM to a `tern receive`");
  cmd->add_option("--api", a->api, "the VMM's control socket")->required();
  cmd->add_option("--to", a->to, "unix:PATH, tcp://HOST:PORT or fd:N");
  cmd->add_option("--max-downtime", a->max_downtime_ms, "target downtime in ms")
      ->capture_default_str();
  cmd->add_option("--max-iterations", a->max_iterations, "pre-copy rounds after the first")
      ->capture_default_str();
  cmd->add_option("--timeout", a->timeout_s,
                  "seconds of pre-copy before stopping the guest anyway (0 = none)");
  cmd->add_option("--link-timeout", a->link_timeout_s,
                  "seconds a send may block before the link counts as dead")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_flag("--auto-converge", a->auto_converge,
                "throttle the guest's vCPUs when it outruns the link");
  cmd->add_flag("--background-vcpus", a->background_vcpus,
                "run the guest's vCPU threads as host background work (SCHED_IDLE) during "
                "round 0, so the bulk copy goes first on a host with no spare core");
  cmd->add_flag("--json", a->json, "progress events and a summary as JSON lines");
  cmd->add_flag("--cancel", a->cancel,
                "abort the migration in progress (the VM keeps running here)");
  cmd->callback([a, &ctx] { ctx.exit_code = run_migrate(*a); });
}

}  // namespace tern::cli
