#include "cli/tern/vmm.hpp"

#include <csignal>
#include <filesystem>

#include "core/log.hpp"
#include "io/image_file_sink.hpp"
#include "migrate/image_config.hpp"
#include "migrate/save.hpp"

namespace tern::cli {

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

volatile std::sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns EINTR
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

json fail(std::string_view msg) { return {{"ok", false}, {"error", msg}}; }

}  // namespace

Expected<std::uint64_t> parse_size(std::string_view s) {
  if (s.empty()) return make_error(Errc::usage, "empty size");
  std::uint64_t mult = 1;
  switch (s.back()) {
    case 'K':
    case 'k':
      mult = 1ULL << 10;
      break;
    case 'M':
    case 'm':
      mult = 1ULL << 20;
      break;
    case 'G':
    case 'g':
      mult = 1ULL << 30;
      break;
    case 'T':
    case 't':
      mult = 1ULL << 40;
      break;
    default:
      break;
  }
  std::string_view digits = mult == 1 ? s : s.substr(0, s.size() - 1);
  std::uint64_t v = 0;
  if (digits.empty()) return make_error(Errc::usage, "bad size '{}'", s);
  for (char c : digits) {
    if (c < '0' || c > '9' || v > (~0ULL - 9) / 10)
      return make_error(Errc::usage, "bad size '{}'", s);
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > ~0ULL / mult) return make_error(Errc::usage, "size '{}' is too large", s);
  return v * mult;
}

Expected<std::unique_ptr<vm::Domain>> create_domain_for(const std::string& name,
                                                        const vm::DomainConfig& cfg,
                                                        vm::Backend* chosen) {
  vm::Backend b;
  if (name == "auto") {
    b = vm::default_backend();
  } else {
    TERN_TRY_ASSIGN(b, migrate::parse_backend(name));
  }
  auto d = vm::create_domain(b, cfg);
  if (!d && name == "auto" && b == vm::Backend::kvm && d.error().code() == Errc::unsupported) {
    log::warn("KVM backend unavailable ({}): using the sim backend", d.error().message());
    b = vm::Backend::sim;
    d = vm::create_domain(b, cfg);
  }
  if (d && chosen) *chosen = b;
  return d;
}

json Vmm::status() {
  const vm::MemoryMap map = domain_->memory_map();
  json j = {{"ok", true},
            {"state", std::string(vm::run_state_name(domain_->state()))},
            {"backend", std::string(vm::backend_name(backend_))},
            {"vcpus", domain_->vcpu_count()},
            {"memory_bytes", config_.memory_bytes},
            {"populated_pages", map.populated_pages()},
            {"map_generation", map.generation()},
            {"migrating", migrating_}};
  if (domain_->state() == vm::RunState::exited) {
    auto e = domain_->wait_exit(0ms);
    if (e && *e) j["guest_exit"] = (*e)->value;
  }
  return j;
}

json Vmm::save(const json& req) {
  if (!req.contains("path") || !req["path"].is_string()) return fail("save needs a \"path\"");
  const std::string path = req["path"].get<std::string>();
  migrate::SaveOptions o;
  const std::string then = req.value("then", "resume");
  if (then == "stop")
    o.then = migrate::AfterSave::stop;
  else if (then != "resume")
    return fail("save: \"then\" must be \"resume\" or \"stop\"");
  // "direct": false writes every byte through the page cache (for
  // comparison, or a file system where O_DIRECT misbehaves).
  io::ImageFileSink::Options so;
  so.direct = req.value("direct", true);
  so.pipeline = true;  // guest memory stays put until before_resume drains
  auto out = io::ImageFileSink::create(path, so);
  if (!out) return fail(out.error().message());
  o.before_resume = [&out] { return (*out)->drain(); };
  const auto cfg = migrate::ImageConfig::from(config_, backend_);
  // The guest runs again as soon as the last byte is with the kernel (or
  // the device); fsync and rename happen after that.
  auto st = migrate::save_domain(*domain_, cfg, **out, o);
  if (!st) return fail(st.error().message());
  const auto c0 = std::chrono::steady_clock::now();
  if (auto c = (*out)->commit(); !c) {
    if (o.then == migrate::AfterSave::stop) (void)domain_->resume();
    return fail(c.error().message());
  }
  const auto commit = std::chrono::steady_clock::now() - c0;
  if (o.then == migrate::AfterSave::stop) stop_ = true;
  const auto& p = st->pages;
  return {{"ok", true},
          {"path", path},
          {"bytes", st->bytes},
          {"bytes_direct", (*out)->bytes_direct()},
          {"pages", {{"data", p.data_pages}, {"zero", p.zero_pages}, {"xtab", p.xtab_pages}}},
          {"times_ms",
           {{"total", ms(st->total)},
            {"paused", ms(st->paused)},
            {"state", ms(st->state)},
            {"commit", ms(commit)},
            {"durable", ms(st->total + commit)}}},
          {"then", then}};
}

json Vmm::handle(const json& req, const ControlServer::Emit& emit) {
  const std::string cmd = req["cmd"].get<std::string>();
  if (cmd == "status") return status();
  if (cmd == "cancel") {
    if (!migrating_) return fail("no migration in progress");
    cancel_ = true;
    return {{"ok", true}};
  }
  if (migrating_) return fail("busy: a migration is in progress (cancel or status only)");
  if (cmd == "migrate") return migrate(req, emit);
  if (cmd == "pause" || cmd == "resume") {
    auto r = cmd == "pause" ? domain_->pause() : domain_->resume();
    if (!r) return fail(r.error().message());
    return {{"ok", true}, {"state", std::string(vm::run_state_name(domain_->state()))}};
  }
  if (cmd == "save") return save(req);
  if (cmd == "quit") {
    stop_ = true;
    return {{"ok", true}};
  }
  return fail(fmt::format(
      "unknown command '{}' (status, pause, resume, save, migrate, cancel, quit)", cmd));
}

int Vmm::run(const std::string& api) {
  install_signal_handlers();
  std::unique_ptr<ControlServer> server;
  if (!api.empty()) {
    auto s = ControlServer::listen(api);
    if (!s) {
      log::error("{}", s.error().message());
      domain_->shutdown();
      return kExitVmmError;
    }
    server = std::move(*s);
    server_ = server.get();
  }
  int rc = 0;
  for (;;) {
    if (g_signal != 0) {
      rc = 128 + g_signal;
      break;
    }
    if (stop_) break;
    auto e = domain_->wait_exit(server ? 0ms : 50ms);
    if (!e) {
      log::error("the VM failed: {}", e.error().message());
      rc = kExitVmmError;
      break;
    }
    if (*e) {
      rc = (*e)->clean() ? 0 : kExitGuestErrors;
      break;
    }
    if (server) {
      if (auto p = server->poll(
              20ms,
              [this](const json& r, const ControlServer::Emit& emit) { return handle(r, emit); });
          !p) {
        log::error("control socket: {}", p.error().message());
        rc = kExitVmmError;
        break;
      }
    }
  }
  domain_->shutdown();
  server_ = nullptr;
  return rc;
}

}  // namespace tern::cli
