// tern restore FILE [--backend auto|kvm|sim] [--api SOCKET] [--console FILE] [--json] [--copy]
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/vmm.hpp"
#include "core/trace.hpp"
#include "migrate/restore.hpp"

namespace tern::cli {

namespace {

struct RestoreArgs {
  std::string path;
  std::string backend = "auto";
  std::string api;
  std::string console;
  bool json = false;
  bool copy = false;
};

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

// When vCPU 0 first entered KVM_RUN (the guest executing again), from the
// trace; its thread may not have got there yet when resume() returns, so
// this waits for it a little (only the report waits: the guest runs on).
std::optional<trace::Clock::time_point> first_run(trace::Clock::duration wait) {
  const auto deadline = trace::Clock::now() + wait;
  for (;;) {
    for (const trace::Span& s : trace::spans())
      if (s.name == "kvm.vcpu0.first_run") return s.begin;
    if (trace::Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// The trace as JSON: [{"phase", "thread", "at_ms", "ms"}], times from the
// trace origin (core/trace.hpp).
nlohmann::json trace_json() {
  nlohmann::json out = nlohmann::json::array();
  for (const trace::Span& s : trace::spans())
    out.push_back({{"phase", std::string(s.name)},
                   {"thread", s.thread},
                   {"at_ms", trace::ms_since_origin(s.begin)},
                   {"ms", ms(s.end - s.begin)}});
  return out;
}

int run_restore(const RestoreArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  migrate::RestoreOptions o;
  o.console = a.console;
  o.copy = a.copy;
  if (a.backend != "auto") {
    auto b = migrate::parse_backend(a.backend);
    if (!b) {
      fmt::print(stderr, "tern restore: {}\n", b.error().message());
      return kExitUsage;
    }
    o.backend = *b;
  }
  auto r = migrate::restore_image(a.path, o);
  if (!r) {
    fmt::print(stderr, "tern restore: refused: {}\n", r.error().message());
    if (trace::enabled_by_environment())
      fmt::print(stderr, "tern restore: trace (ms from the origin):\n{}", trace::format_timeline());
    return r.error().code() == Errc::io || r.error().code() == Errc::usage ? kExitUsage
                                                                           : kExitRefused;
  }
  const vm::Backend backend = o.backend.value_or(r->config.backend);
  const auto resume_at = std::chrono::steady_clock::now();
  if (auto s = r->domain->resume(); !s) {
    fmt::print(stderr, "tern restore: resuming the VM: {}\n", s.error().message());
    return kExitVmmError;
  }
  const auto now = std::chrono::steady_clock::now();
  const auto running = now - t0;
  {
    trace::Scope span("restore.close_image");
    r->resources.reset();
  }
  const auto& st = r->stats;
  const bool tracing = trace::enabled_by_environment();
  std::optional<trace::Clock::time_point> entered;
  if ((a.json || tracing) && backend == vm::Backend::kvm)
    entered = first_run(std::chrono::seconds(1));
  if (tracing)
    fmt::print(stderr, "tern restore: trace (ms from the origin):\n{}", trace::format_timeline());
  if (a.json) {
    nlohmann::json j = {{"path", a.path},
                        {"backend", std::string(vm::backend_name(backend))},
                        {"bytes", st.bytes},
                        {"pages",
                         {{"data", st.data_pages},
                          {"mapped", st.mapped_pages},
                          {"zero", st.zero_pages},
                          {"xtab", st.xtab_pages}}},
                        {"times_ms",
                         {{"validate", ms(st.validate)},
                          {"create", ms(st.create)},
                          {"read", ms(st.total)},
                          {"state", ms(st.state)},
                          {"resume", ms(now - resume_at)},
                          {"map_file", ms(st.map_file)},
                          {"to_running", ms(running)}}},
                        {"trace", trace_json()}};
    // From the command's start, and from the trace origin (the process's
    // exec when TERN_TRACE_T0_NS was given), to vCPU 0's first KVM_RUN.
    if (entered) {
      j["times_ms"]["to_first_run"] = ms(*entered - t0);
      j["times_ms"]["origin_to_first_run"] = trace::ms_since_origin(*entered);
    }
    j["times_ms"]["origin_to_command"] = trace::ms_since_origin(t0);
    fmt::print("{}\n", j.dump());
    std::fflush(stdout);
  } else {
    fmt::print(stderr,
               "tern restore: {}: {} pages with data ({} mapped from the image), {} zero; running "
               "after {:.1f} ms ({})\n",
               a.path, st.data_pages, st.mapped_pages, st.zero_pages, ms(running),
               vm::backend_name(backend));
  }
  Vmm vmm(std::move(r->domain), r->config.domain_config(a.console), backend);
  return vmm.run(a.api);
}

}  // namespace

void add_restore(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<RestoreArgs>();
  auto* cmd =
      app.add_subcommand("restore", "restore a VM from an image saved by tern save, and run it");
  cmd->add_option("file", a->path, "image file")->required();
  cmd->add_option("--backend", a->backend, "auto (the image's), kvm or sim")
      ->check(CLI::IsMember({"auto", "kvm", "sim"}))
      ->capture_default_str();
  cmd->add_option("--api", a->api, "control socket path (JSON lines)");
  cmd->add_option("--console", a->console,
                  "COM1 output file (appended; default stdout, - discards)");
  cmd->add_flag("--json", a->json, "print a JSON summary (bytes, pages, times) when running");
  cmd->add_flag("--copy", a->copy,
                "read all page data into guest memory before running (default: map the "
                "image's pages copy-on-write, read when the guest touches them)");
  cmd->callback([a, &ctx] { ctx.exit_code = run_restore(*a); });
}

}  // namespace tern::cli
