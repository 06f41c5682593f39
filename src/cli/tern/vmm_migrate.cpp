// The VMM's "migrate" control command: pre-copy live migration of its VM to
// a `tern receive` endpoint, with progress events on the requesting client
// and "cancel" served to other clients between rounds.
#include <sys/socket.h>

#include "cli/tern/vmm.hpp"
#include "core/trace.hpp"
#include "io/endpoint.hpp"
#include "io/fd_sink.hpp"
#include "migrate/handshake.hpp"
#include "migrate/precopy.hpp"

namespace tern::cli {

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

json progress_event(const migrate::Progress& p) {
  using P = migrate::Progress::Phase;
  return {{"event", "progress"},
          {"phase", p.phase == P::round           ? "round"
                    : p.phase == P::stop_and_copy ? "stop-and-copy"
                                                  : "committed"},
          {"round", p.round},
          {"sent_pages", p.sent_pages},
          {"sent_bytes", p.sent_bytes},
          {"dirty_pages", p.dirty_pages},
          {"bandwidth_MBps", p.bandwidth_bps / 1e6},
          {"dirty_rate_pps", p.dirty_rate_pps},
          {"expected_downtime_ms", ms(p.expected_downtime)},
          {"elapsed_ms", ms(p.elapsed)},
          {"throttle", p.throttle},
          {"not_converging", p.not_converging}};
}

// Bounds every blocking send: a destination that stops reading (or a link
// that went dead) must not hang the source forever: the migration fails
// and the guest resumes.
void set_send_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>(t.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

json Vmm::migrate(const json& req, const ControlServer::Emit& emit) {
  auto fail = [](std::string_view m) { return json{{"ok", false}, {"error", m}}; };
  if (!req.contains("to") || !req["to"].is_string()) return fail("migrate needs \"to\"");
  auto ep = io::parse_endpoint(req["to"].get<std::string>());
  if (!ep) return fail(ep.error().message());
  migrate::MigrateOptions o;
  o.max_downtime = std::chrono::milliseconds(req.value("max_downtime_ms", 50));
  o.max_iterations = req.value("max_iterations", 30U);
  o.timeout = std::chrono::milliseconds(req.value("timeout_ms", 0));
  o.auto_converge = req.value("auto_converge", false);
  o.background_vcpus = req.value("background_vcpus", false);
  auto conn = io::connect_endpoint(*ep, std::chrono::seconds(5));
  if (!conn) return fail(conn.error().message());
  const std::chrono::milliseconds link_timeout(req.value("link_timeout_ms", 30000));
  set_send_timeout(conn->get(), link_timeout);
  io::FdSink sink(conn->get());

  migrating_ = true;
  cancel_ = false;
  const ControlServer::Handler nested = [this](const json& r, const ControlServer::Emit& e) {
    return handle(r, e);
  };
  o.progress = [&](const migrate::Progress& p) {
    emit(progress_event(p));
    if (server_) (void)server_->poll(0ms, nested);  // serve "cancel" and "status"
  };
  o.tick = [this, &nested] {
    if (server_) (void)server_->poll(std::chrono::milliseconds(0), nested);
  };
  o.cancelled = [this] { return cancel_; };
  const int fd = conn->get();
  o.commit = [fd, link_timeout] { return migrate::source_commit(fd, link_timeout); };
  migrate::ReceiverProgress dst_progress(fd);
  o.catch_up = [&dst_progress, link_timeout](std::uint64_t sent) {
    return dst_progress.wait_for(sent, std::min<std::chrono::milliseconds>(link_timeout, 5s));
  };
  const auto cfg = migrate::ImageConfig::from(config_, backend_);
  const double cpu0 = trace::thread_cpu_ms();
  auto st = migrate::migrate_domain(*domain_, cfg, sink, o);
  if (st) migrate::source_wait_for_close(fd, 1s);  // the destination starts the guest first
  const double sender_cpu = trace::thread_cpu_ms() - cpu0;
  migrating_ = false;
  if (trace::enabled_by_environment())
    fmt::print(stderr, "tern: migration trace (ms from the origin):\n{}", trace::format_timeline());
  if (!st) return fail(st.error().message());
  stop_ = true;  // the guest now runs on the destination
  json rounds = json::array();
  for (const auto& r : st->rounds)
    rounds.push_back({{"data", r.data_pages},
                      {"zero", r.zero_pages},
                      {"xtab", r.xtab_pages},
                      {"bytes", r.bytes},
                      {"ms", ms(r.time)},
                      {"map_changes", r.map_changes}});
  return {{"ok", true},
          {"backend", std::string(vm::backend_name(backend_))},
          {"total_ms", ms(st->total)},
          {"downtime_ms", ms(st->downtime)},
          {"rounds", st->rounds.size()},
          {"bytes", st->bytes},
          {"pages_per_round", rounds},
          {"stop_reason", st->stop_reason},
          {"paused_at_ns", st->paused_at.count()},
          {"switch_over",
           {{"pause_ms", ms(st->switch_over.pause)},
            {"final_sync_ms", ms(st->switch_over.final_sync)},
            {"report_ms", ms(st->switch_over.report)},
            {"final_send_ms", ms(st->switch_over.final_send)},
            {"final_pages", st->switch_over.final_pages},
            {"final_bytes", st->switch_over.final_bytes},
            {"receiver_backlog", st->switch_over.receiver_backlog},
            {"state_save_ms", ms(st->switch_over.state_save)},
            {"finish_ms", ms(st->switch_over.finish)},
            {"commit_ms", ms(st->switch_over.commit)},
            {"boosted", st->switch_over.boosted}}},
          {"max_throttle", st->max_throttle},
          {"sender_cpu_ms", sender_cpu},
          {"not_converging", st->not_converging}};
}

}  // namespace tern::cli
