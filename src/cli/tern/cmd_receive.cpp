// tern receive --listen unix:PATH|tcp://HOST:PORT [--backend ...] [--api SOCKET]
//              [--console FILE] [--json] [--memory SIZE] [--prefault]
//              [--prefault-lead MIB] [--link-timeout S] [--busy-poll-us N]
// Waits for one incoming VM (a `tern migrate` stream), validates it as it
// reads, commits with the source, and runs the VM like `tern run`.
//
// --memory SIZE makes the guest's RAM before listening (with --prefault it
// is also faulted in then, as QEMU's -incoming with -mem-prealloc), so the
// stream lands in ready memory; without --memory, --prefault faults the RAM
// in on a second thread while round 0 arrives.
//
// By default (--prefault-lead 32) that second thread pre-faults only up to
// 32 MiB past the last data frame round 0 has announced, and gives back what
// round 0 then leaves zero (migrate/prefault.hpp): the copies find their
// pages faulted in without the destination growing to the guest's whole
// RAM. --prefault-lead 0 leaves all faulting to the receiving thread.
//
// --busy-poll-us N (default 0, off): while the stream flows, an empty socket
// is polled again for up to N µs before the receiving thread sleeps
// (io::FdSource). Segments arriving while it is inside recvmsg() are then
// processed by the receiver rather than in softirq on the sender's core.
// Measured on this 2-core host over loopback it is not a default: 256 MiB
// pre-faulted, median total 73 -> 65-71 ms but bimodal; 1 GiB, 270 -> 328 ms.
#include <sys/socket.h>

#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "cli/tern/commands.hpp"
#include "cli/tern/vmm.hpp"
#include "core/trace.hpp"
#include "io/endpoint.hpp"
#include "io/input.hpp"
#include "io/unix_socket.hpp"
#include "migrate/handshake.hpp"
#include "migrate/receiver.hpp"
#include "vm/thread_priority.hpp"

namespace tern::cli {

namespace {

struct ReceiveArgs {
  std::string listen;
  std::string backend = "auto";
  std::string api;
  std::string console;
  bool json = false;
  bool prefault = false;
  unsigned prefault_lead_mib = 32;
  std::string memory;  // empty: RAM is made when the stream says how much
  unsigned link_timeout_s = 30;
  unsigned busy_poll_us = 0;
};

double ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

int run_receive(const ReceiveArgs& a) {
  auto ep = io::parse_endpoint(a.listen);
  if (!ep) {
    fmt::print(stderr, "tern receive: {}\n", ep.error().message());
    return kExitUsage;
  }
  std::optional<vm::Backend> backend;
  if (a.backend != "auto") {
    auto b = migrate::parse_backend(a.backend);
    if (!b) {
      fmt::print(stderr, "tern receive: {}\n", b.error().message());
      return kExitUsage;
    }
    backend = *b;
  }
  // RAM made ahead (--memory): before listening, so a source never waits
  // for it and the pre-faulting is not part of the migration.
  std::shared_ptr<vm::HostRam> ram;
  const auto t_ram = std::chrono::steady_clock::now();
  if (!a.memory.empty()) {
    auto bytes = parse_size(a.memory);
    if (!bytes) {
      fmt::print(stderr, "tern receive: --memory: {}\n", bytes.error().message());
      return kExitUsage;
    }
    auto made = vm::HostRam::create(*bytes);
    if (made && a.prefault) {
      if (auto p = (*made)->populate(); !p) made = std::unexpected(p.error());
    }
    if (!made) {
      fmt::print(stderr, "tern receive: --memory {}: {}\n", a.memory, made.error().message());
      return made.error().code() == Errc::usage ? kExitUsage : kExitVmmError;
    }
    ram = std::move(*made);
  }
  const double ram_ms = ms(std::chrono::steady_clock::now() - t_ram);
  auto listener = io::Listener::open(*ep);
  if (!listener) {
    fmt::print(stderr, "tern receive: {}\n", listener.error().message());
    return kExitUsage;
  }
  if (a.json) {
    // Ready for the source: a caller can wait for this line.
    fmt::print("{}\n", nlohmann::json{{"listening", a.listen},
                                      {"memory_bytes", ram ? ram->bytes() : 0},
                                      {"prefaulted_bytes", ram ? ram->populated_bytes() : 0},
                                      {"memory_ms", ram_ms}}
                           .dump());
    std::fflush(stdout);
  }
  auto conn = listener->accept_one(std::nullopt);
  { auto done = std::move(*listener); }  // one VM only: stop listening (removes a unix socket)
  if (!conn) {
    fmt::print(stderr, "tern receive: {}\n", conn.error().message());
    return kExitUsage;
  }
  // A source that goes silent (dead link, killed sender) must not keep the
  // destination waiting forever: the read fails and nothing runs.
  timeval tv{static_cast<time_t>(a.link_timeout_s), 0};
  ::setsockopt(conn->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto t0 = std::chrono::steady_clock::now();
  io::FdSource src(conn->get());
  // Page payloads are read straight into guest memory (read_into): keep the
  // buffer's read-ahead to about a record's header and pfn array.
  src.set_read_ahead(64 << 10);
  src.set_busy_poll(std::chrono::microseconds(a.busy_poll_us));
  migrate::ReceiverOptions ro;
  ro.expect_end_of_input = false;    // the commit handshake follows on this connection
  ro.prefault = a.prefault && !ram;  // made ahead: already faulted in
  // (memory made ahead without --prefault is fresh: lead mode still helps)
  if (!a.prefault)
    ro.prefault_lead_frames = std::uint64_t{a.prefault_lead_mib} << (20 - vm::kPageShift);
  const int conn_fd = conn->get();
  ro.on_pages_applied = [conn_fd](std::uint64_t n) { migrate::destination_ack(conn_fd, n); };
  // From the state records (the source has paused its guest) until the VM
  // runs here, this thread is what the guest waits for: raised priority
  // (when permitted), so a busy host's scheduler does not stretch the pause.
  std::optional<vm::ThreadBoost> boost;
  ro.on_state_records = [&boost] {
    if (!boost) boost.emplace();
  };
  ro.factory = [&](const migrate::ImageConfig& c) {
    vm::DomainConfig dc = c.domain_config(a.console);
    dc.prepared_ram = ram;
    return vm::create_domain(backend.value_or(c.backend), dc);
  };
  const double cpu0 = trace::thread_cpu_ms();
  auto r = migrate::receive_stream(src, ro);
  const double receiver_cpu = trace::thread_cpu_ms() - cpu0;
  if (!r) {
    migrate::destination_refuse(conn->get(), r.error().message());
    fmt::print(stderr, "tern receive: refused: {}\n", r.error().message());
    return kExitRefused;
  }
  const auto stream_done = std::chrono::steady_clock::now();
  // The KVM backend takes the RAM made ahead when its size is the guest's.
  const bool ram_used = ram && ram->base() == nullptr;
  const std::uint64_t prefaulted_ahead = ram_used ? ram->populated_bytes() : 0;
  if (ram && !ram_used)
    fmt::print(stderr,
               "tern receive: warning: --memory {} was not used: the incoming guest has {} bytes "
               "of RAM on the {} backend (only the KVM backend takes RAM made ahead, of exactly "
               "the guest's size)\n",
               a.memory, std::max(r->config.memory_bytes, r->config.address_space_bytes),
               vm::backend_name(backend.value_or(r->config.backend)));
  ram.reset();  // unused memory goes back now
  if (auto c = migrate::destination_commit(conn->get(), std::chrono::seconds(a.link_timeout_s));
      !c) {
    r->domain->shutdown();
    fmt::print(stderr, "tern receive: no commit from the source, VM discarded: {}\n",
               c.error().message());
    return kExitRefused;
  }
  const auto go = std::chrono::steady_clock::now();
  const bool boosted = boost && boost->boosted();
  boost.reset();  // before the vCPU threads run: they must not inherit it
  if (auto s = r->domain->resume(); !s) {
    fmt::print(stderr, "tern receive: resuming the VM: {}\n", s.error().message());
    return kExitVmmError;
  }
  // steady_clock is CLOCK_MONOTONIC: comparable with the source's paused_at_ns.
  const auto resumed = std::chrono::steady_clock::now();
  const vm::Backend used = backend.value_or(r->config.backend);
  const auto& st = r->stats;
  if (a.json) {
    nlohmann::json j = {
        {"backend", std::string(vm::backend_name(used))},
        {"bytes", st.bytes},
        {"pages", {{"data", st.data_pages}, {"zero", st.zero_pages}, {"xtab", st.xtab_pages}}},
        {"prefaulted_bytes", st.prefaulted_bytes + prefaulted_ahead},
        {"prefault_released_bytes", st.prefault_released_bytes},
        {"memory_made_ahead", ram_used},
        {"boosted", boosted},
        {"receiver_cpu_ms", receiver_cpu},
        {"times_ms",
         {{"stream", ms(st.total)},
          {"state", ms(st.state)},
          {"commit", ms(go - stream_done)},
          {"resume", ms(resumed - go)},
          {"to_running", ms(resumed - t0)}}},
        {"resumed_at_ns", resumed.time_since_epoch().count()}};
    fmt::print("{}\n", j.dump());
    std::fflush(stdout);
  } else {
    fmt::print(stderr, "tern receive: VM received ({} bytes, {} pages with data), running ({})\n",
               st.bytes, st.data_pages, vm::backend_name(used));
  }
  conn->reset();
  Vmm vmm(std::move(r->domain), r->config.domain_config(a.console), used);
  return vmm.run(a.api);
}

}  // namespace

void add_receive(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ReceiveArgs>();
  auto* cmd = app.add_subcommand("receive", "wait for one incoming VM (tern migrate) and run it");
  cmd->add_option("--listen", a->listen, "unix:PATH or tcp://HOST:PORT")->required();
  cmd->add_option("--backend", a->backend, "auto (the source's), kvm or sim")
      ->check(CLI::IsMember({"auto", "kvm", "sim"}))
      ->capture_default_str();
  cmd->add_option("--api", a->api, "control socket path for the received VM");
  cmd->add_option("--console", a->console,
                  "COM1 output file (appended; default stdout, - discards)");
  cmd->add_flag("--json", a->json, "print a JSON summary when the VM runs");
  cmd->add_option("--memory", a->memory,
                  "make the guest's RAM (its size, K/M/G/T suffixes) before listening; with "
                  "--prefault it is faulted in then too");
  cmd->add_flag("--prefault", a->prefault,
                "pre-fault the VM's RAM: before listening with --memory, else on a second "
                "thread while the stream arrives");
  cmd->add_option("--prefault-lead", a->prefault_lead_mib,
                  "without --prefault: pre-fault on a second thread only this many MiB past "
                  "the data received so far (0: off)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  cmd->add_option("--link-timeout", a->link_timeout_s,
                  "seconds without data from the source before the stream counts as broken")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--busy-poll-us", a->busy_poll_us,
                  "while the stream flows, poll an empty socket this long (µs) before "
                  "sleeping; 0 sleeps at once")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->callback([a, &ctx] { ctx.exit_code = run_receive(*a); });
}

}  // namespace tern::cli
