// Pre-copy live migration between two sim domains over a socketpair, with
// the real receiver and commit handshake on the other end.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>

#include "io/fd_sink.hpp"
#include "io/input.hpp"
#include "migrate/handshake.hpp"
#include "migrate/precopy.hpp"
#include "migrate/prefault.hpp"
#include "migrate_test_util.hpp"
#include "vm/sim/host_check.hpp"

namespace tern::migrate {
namespace {

using namespace std::chrono_literals;
using namespace testing;

// Writes to a socket whose peer is gone must fail with EPIPE, not kill the
// test (tern's main() ignores SIGPIPE the same way).
const bool kIgnoreSigpipe = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

struct Pair {
  UniqueFd src, dst;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    src.reset(fds[0]);
    dst.reset(fds[1]);
  }
};

// The destination: receives, commits, and hands back the (not yet running)
// domain, or the error.
// With `acks`, it reports its progress (ACK lines) as `tern receive` does.
// It pre-faults the domain's RAM during round 0 as `prefault` says.
enum class Prefault { none, whole, lead };
std::future<Expected<ReceiveResult>> start_destination(int fd, bool acks = false,
                                                       Prefault prefault = Prefault::none) {
  return std::async(std::launch::async, [fd, acks, prefault]() -> Expected<ReceiveResult> {
    io::FdSource src(fd);
    ReceiverOptions ro;
    ro.expect_end_of_input = false;
    ro.prefault = prefault == Prefault::whole;
    // (a small window, so that the test's 64 MiB guest has frames past it)
    if (prefault == Prefault::lead) ro.prefault_lead_frames = 4 * Prefaulter::kStepPages;
    ro.factory = CountingFactory{}.get();
    if (acks) ro.on_pages_applied = [fd](std::uint64_t n) { destination_ack(fd, n); };
    auto r = receive_stream(src, ro);
    if (!r) {
      destination_refuse(fd, r.error().message());
      return r;
    }
    if (auto c = destination_commit(fd, 10s); !c) {
      r->domain->shutdown();
      return std::unexpected(c.error());
    }
    return r;
  });
}

struct Outcome {
  Expected<MigrateStats> stats = make_error(Errc::internal, "not run");
  Expected<ReceiveResult> dst = make_error(Errc::internal, "not run");
};

// A link of limited bandwidth in front of a real sink.
class SlowSink final : public ByteSink {
 public:
  SlowSink(ByteSink& inner, double bytes_per_sec) : inner_(inner), bps_(bytes_per_sec) {}
  Expected<void> write_gather(std::span<const Bytes> parts) override {
    std::size_t n = 0;
    for (Bytes p : parts) n += p.size();
    std::this_thread::sleep_for(std::chrono::duration<double>(static_cast<double>(n) / bps_));
    return inner_.write_gather(parts);
  }
  [[nodiscard]] std::uint64_t bytes_written() const override { return inner_.bytes_written(); }

 private:
  ByteSink& inner_;
  double bps_;
};

Outcome migrate_pair(vm::Domain& src, const vm::DomainConfig& cfg, MigrateOptions o,
                     double link_bps = 0, bool acks = false, Prefault prefault = Prefault::none) {
  Pair p;
  auto dst = start_destination(p.dst.get(), acks, prefault);
  io::FdSink fd_sink(p.src.get());
  SlowSink slow(fd_sink, link_bps);
  ByteSink& sink = link_bps > 0 ? static_cast<ByteSink&>(slow) : fd_sink;
  const int fd = p.src.get();
  o.commit = [fd] { return source_commit(fd, 10s); };
  Outcome out;
  out.stats = migrate_domain(src, ImageConfig::from(cfg, vm::Backend::sim), sink, o);
  if (!out.stats) p.src.reset();  // the destination sees the connection close
  out.dst = dst.get();
  return out;
}

// After a committed migration the source is paused at the switch-over
// point: the destination must hold exactly its memory and finish clean.
void expect_clean_switch_over(vm::sim::SimDomain& src, Outcome& o) {
  ASSERT_TRUE(o.stats) << o.stats.error().message();
  ASSERT_TRUE(o.dst) << o.dst.error().message();
  EXPECT_EQ(src.state(), vm::RunState::paused);
  std::string why;
  EXPECT_TRUE(same_memory(src, *o.dst->domain, &why)) << why;
  auto hc = vm::sim::host_check(*o.dst->domain, o.dst->state);
  ASSERT_TRUE(hc) << hc.error().message();
  EXPECT_TRUE(hc->clean()) << hc->mismatched_words << " words, " << hc->map_mismatches << " map";
  ASSERT_TRUE(o.dst->domain->resume());
  EXPECT_EQ(run_to_exit(*o.dst->domain), 0) << as_sim(*o.dst->domain).console_text();
  src.shutdown();
}

TEST(PreCopy, BusyGuestWithBalloonMigratesClean) {
  const auto cfg = sim_config("passes=150 mib=16 ws=4 balloon=2048,8", 2, 64ULL << 20);
  auto src = running_mid_pass(cfg, 3);
  ASSERT_NE(src, nullptr);
  MigrateOptions o;
  o.max_downtime = 1ms;  // forces several rounds
  o.max_iterations = 5;
  std::vector<Progress> seen;
  o.progress = [&](const Progress& p) { seen.push_back(p); };
  Outcome out = migrate_pair(*src, cfg, o);
  ASSERT_TRUE(out.stats) << out.stats.error().message();
  EXPECT_GE(out.stats->rounds.size(), 3U);
  EXPECT_FALSE(out.stats->stop_reason.empty());
  std::uint64_t xtab = 0, changes = 0;
  for (const auto& r : out.stats->rounds) xtab += r.xtab_pages, changes += r.map_changes;
  EXPECT_GT(xtab, 0U) << "the balloon took no page away during the migration";
  EXPECT_GT(changes, 0U) << "no batch saw the map change";
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().phase, Progress::Phase::committed);
  expect_clean_switch_over(*src, out);
}

TEST(PreCopy, IdleGuestStopsAfterOneRoundOnTheDowntimePolicy) {
  const auto cfg = sim_config("passes=3 mib=4", 1, 64ULL << 20);
  auto src = make_sim(cfg);
  ASSERT_TRUE(src->start());
  // Let it finish its passes: it then sits in its final state, dirtying
  // nothing; a paused-then-resumed idle guest is the same.
  // (An exited guest cannot be migrated, so use one that runs forever
  // between tiny passes instead.)
  src->shutdown();
  const auto idle_cfg = sim_config("passes=0 mib=1 ws=1 pause=1000000", 1, 64ULL << 20);
  auto idle = make_sim(idle_cfg);
  ASSERT_TRUE(idle->start());
  std::this_thread::sleep_for(20ms);  // in its 1 s pause after pass 1
  MigrateOptions o;
  Outcome out = migrate_pair(*idle, idle_cfg, o);
  ASSERT_TRUE(out.stats) << out.stats.error().message();
  EXPECT_EQ(out.stats->stop_reason, "downtime");
  EXPECT_LE(out.stats->rounds.size(), 3U);
  std::string why;
  EXPECT_TRUE(same_memory(*idle, *out.dst->domain, &why)) << why;
  idle->shutdown();
  out.dst->domain->shutdown();
}

TEST(PreCopy, SkippingTheFinalDirtySyncIsCaught) {
  // A rotating 1 MiB write window: after the last collection (while the
  // VMM is busy, here in the progress callback) the guest writes chunks
  // that are in no earlier dirty set; only the final sync after the pause
  // finds them.
  const auto cfg = sim_config("passes=0 mib=32 ws=1", 1, 64ULL << 20);
  for (bool final_sync : {false, true}) {
    SCOPED_TRACE(final_sync ? "with the final sync" : "without the final sync");
    auto src = make_sim(cfg);
    ASSERT_TRUE(src->start());
    MigrateOptions o;
    o.max_downtime = 10000ms;  // stop right after round 0
    o.final_sync = final_sync;
    o.progress = [](const Progress& p) {
      if (p.phase == Progress::Phase::round) std::this_thread::sleep_for(40ms);
    };
    Outcome out = migrate_pair(*src, cfg, o);
    ASSERT_TRUE(out.stats) << out.stats.error().message();
    ASSERT_TRUE(out.dst) << out.dst.error().message();
    std::string why;
    const bool same = same_memory(*src, *out.dst->domain, &why);
    auto hc = vm::sim::host_check(*out.dst->domain, out.dst->state);
    ASSERT_TRUE(hc);
    if (final_sync) {
      EXPECT_TRUE(same) << why;
      EXPECT_TRUE(hc->clean());
    } else {
      EXPECT_FALSE(same) << "memory matched although the final dirty sync was skipped";
      EXPECT_FALSE(hc->clean());
    }
    src->shutdown();
    out.dst->domain->shutdown();
  }
}

TEST(PreCopy, FailuresBeforeCommitLeaveTheSourceRunning) {
  const auto cfg = sim_config("passes=60 mib=8 ws=2 pause=2000", 1, 32ULL << 20);
  // The destination reads `cut` bytes, then drops the connection.
  for (std::size_t cut : {0UL, 40UL, 400UL, 5000UL, 1UL << 20, 4UL << 20}) {
    auto src = make_sim(cfg);
    ASSERT_TRUE(src->start());
    Pair p;
    auto reader = std::async(std::launch::async, [&p, cut] {
      std::vector<char> buf(1 << 16);
      std::size_t got = 0;
      while (got < cut) {
        const ssize_t n = ::read(p.dst.get(), buf.data(), std::min(buf.size(), cut - got));
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      p.dst.reset();
    });
    io::FdSink sink(p.src.get());
    MigrateOptions o;
    const int fd = p.src.get();
    o.commit = [fd] { return source_commit(fd, 5s); };
    auto st = migrate_domain(*src, ImageConfig::from(cfg, vm::Backend::sim), sink, o);
    p.src.reset();
    reader.get();
    EXPECT_FALSE(st) << "cut " << cut;
    EXPECT_EQ(src->state(), vm::RunState::running) << "cut " << cut;
    EXPECT_EQ(run_to_exit(*src), 0) << "cut " << cut;
  }
}

TEST(PreCopy, RefusalAndInjectedFaultsResumeTheSource) {
  const auto cfg = sim_config("passes=60 mib=8 ws=2 pause=2000", 1, 32ULL << 20);
  {  // collect_dirty fails in round 2
    auto src = make_sim(cfg);
    ASSERT_TRUE(src->start());
    src->faults().fail_collect_dirty_at = 2;
    MigrateOptions o;
    o.max_downtime = 0ms;
    Outcome out = migrate_pair(*src, cfg, o);
    EXPECT_FALSE(out.stats);
    EXPECT_FALSE(out.dst);
    EXPECT_EQ(src->state(), vm::RunState::running);
    EXPECT_EQ(run_to_exit(*src), 0);
  }
  {  // save_state fails after the guest was paused
    auto src = make_sim(cfg);
    ASSERT_TRUE(src->start());
    src->faults().fail_save_state = true;
    Outcome out = migrate_pair(*src, cfg, MigrateOptions{});
    EXPECT_FALSE(out.stats);
    EXPECT_FALSE(out.dst);
    EXPECT_EQ(src->state(), vm::RunState::running);
    EXPECT_EQ(run_to_exit(*src), 0);
  }
  {  // cancelled between rounds
    auto src = make_sim(cfg);
    ASSERT_TRUE(src->start());
    MigrateOptions o;
    o.max_downtime = 0ms;
    o.cancelled = [] { return true; };
    Outcome out = migrate_pair(*src, cfg, o);
    ASSERT_FALSE(out.stats);
    EXPECT_NE(out.stats.error().message().find("cancelled"), std::string::npos);
    EXPECT_FALSE(out.dst);
    EXPECT_EQ(run_to_exit(*src), 0);
  }
}

TEST(PreCopy, GuestOutrunningTheLinkIsReportedAndThrottled) {
  // ~1 GB/s of dirtying against a 40 MB/s link.
  const auto cfg = sim_config("passes=0 mib=8 ws=8", 1, 32ULL << 20);
  for (bool auto_converge : {false, true}) {
    SCOPED_TRACE(auto_converge ? "auto-converge" : "no auto-converge");
    auto src = make_sim(cfg);
    ASSERT_TRUE(src->start());
    MigrateOptions o;
    o.max_downtime = 5ms;
    o.max_iterations = 4;
    o.auto_converge = auto_converge;
    bool reported = false;
    o.progress = [&](const Progress& p) { reported |= p.not_converging; };
    Outcome out = migrate_pair(*src, cfg, o, 40e6);
    ASSERT_TRUE(out.stats) << out.stats.error().message();
    EXPECT_TRUE(reported);
    EXPECT_TRUE(out.stats->not_converging);
    EXPECT_EQ(out.stats->stop_reason, "max-iterations");
    if (auto_converge)
      EXPECT_GE(out.stats->max_throttle, 0.6);
    else
      EXPECT_EQ(out.stats->max_throttle, 0.0);
    std::string why;
    EXPECT_TRUE(same_memory(*src, *out.dst->domain, &why)) << why;
    src->shutdown();
    out.dst->domain->shutdown();
  }
}

TEST(PreCopy, CancelDuringARoundStopsWithinABatch) {
  const auto cfg = sim_config("passes=100 mib=16 ws=2 pause=1000", 1, 64ULL << 20);
  auto src = make_sim(cfg);
  ASSERT_TRUE(src->start());
  MigrateOptions o;
  int batches = 0;
  o.tick = [&] { ++batches; };
  o.cancelled = [&] { return batches >= 3; };
  Outcome out = migrate_pair(*src, cfg, o, 40e6);  // round 0 would take ~2 s
  ASSERT_FALSE(out.stats);
  EXPECT_NE(out.stats.error().message().find("cancelled"), std::string::npos);
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(src->state(), vm::RunState::running);
  EXPECT_EQ(run_to_exit(*src), 0);
}

TEST(PreCopy, RandomizedMigrationsWithBalloonActivity) {
  std::mt19937_64 rng(0x7e57);
  int migrated = 0;
  for (int run = 0; run < 12; ++run) {
    const unsigned vcpus = 1 + static_cast<unsigned>(rng() % 3);
    const std::string cmd = fmt::format("passes=100 mib=8 ws={} balloon={},{}", 1 + rng() % 8,
                                        64 + rng() % 2000, 1 + rng() % 16);
    const auto cfg = sim_config(cmd, vcpus, 48ULL << 20);
    auto src = make_sim(cfg);
    ASSERT_TRUE(src->start());
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    MigrateOptions o;
    o.max_downtime = std::chrono::milliseconds(rng() % 3);
    o.max_iterations = static_cast<unsigned>(rng() % 6);
    Outcome out = migrate_pair(*src, cfg, o);
    if (!out.stats && src->state() == vm::RunState::exited) continue;  // finished first
    SCOPED_TRACE(fmt::format("run {}: {} vcpus, {}", run, vcpus, cmd));
    expect_clean_switch_over(*src, out);
    ++migrated;
  }
  EXPECT_GE(migrated, 9);
}

TEST(PreCopy, SourceWaitsForTheDestinationToCatchUpBeforePausing) {
  // A destination that applies pages slowly (a 40 MB/s "memory") behind
  // a fast link: without waiting, the pause would find megabytes queued.
  const auto cfg = sim_config("passes=400 mib=4 ws=4 pause=2000", 1, 32ULL << 20);
  auto src = make_sim(cfg);
  ASSERT_TRUE(src->start());
  Pair p;
  auto dst = std::async(std::launch::async, [fd = p.dst.get()]() -> Expected<ReceiveResult> {
    io::FdSource s(fd);
    ReceiverOptions ro;
    ro.expect_end_of_input = false;
    ro.factory = CountingFactory{}.get();
    ro.on_pages_applied = [fd](std::uint64_t n) {
      std::this_thread::sleep_for(2ms);  // per record
      destination_ack(fd, n);
    };
    auto r = receive_stream(s, ro);
    if (!r) return r;
    if (auto c = destination_commit(fd, 10s); !c) return std::unexpected(c.error());
    return r;
  });
  io::FdSink sink(p.src.get());
  ReceiverProgress progress(p.src.get());
  MigrateOptions o;
  o.max_downtime = 20ms;
  o.max_iterations = 4;
  o.sender.max_batch = 64;  // many records: many ACKs
  const int fd = p.src.get();
  std::vector<std::uint64_t> waited_for;
  o.catch_up = [&](std::uint64_t sent) {
    waited_for.push_back(sent);
    return progress.wait_for(sent, 10s);
  };
  o.commit = [fd] { return source_commit(fd, 10s); };  // skips ACKs still unread
  Outcome out;
  out.stats = migrate_domain(*src, ImageConfig::from(cfg, vm::Backend::sim), sink, o);
  if (!out.stats) p.src.reset();  // the destination sees the connection close
  out.dst = dst.get();
  ASSERT_TRUE(out.stats) << out.stats.error().message();
  ASSERT_TRUE(out.dst) << out.dst.error().message();
  EXPECT_EQ(waited_for.size(), out.stats->rounds.size() - 1) << "one wait per live round";
  EXPECT_EQ(out.stats->switch_over.receiver_backlog, 0U);
  EXPECT_GE(progress.acked(), waited_for.back());
  expect_clean_switch_over(*src, out);
}

TEST(PreCopy, MigrationWithAcksOverTheRealPathIsClean) {
  const auto cfg = sim_config("passes=150 mib=16 ws=4 balloon=2048,8", 2, 64ULL << 20);
  auto src = make_sim(cfg);
  ASSERT_TRUE(src->start());
  MigrateOptions o;
  o.max_downtime = 1ms;
  o.max_iterations = 5;
  Outcome out = migrate_pair(*src, cfg, o, 0, /*acks=*/true);
  expect_clean_switch_over(*src, out);
}

// A busy, ballooning guest migrated to a destination that pre-faults as
// `mode` says: the pre-fault thread touches frames while the stream writes,
// populates and removes them; the destination must still end with exactly
// the source's map and contents.
Outcome migrate_prefaulting(Prefault mode, const vm::DomainConfig& cfg,
                            std::unique_ptr<vm::sim::SimDomain>& src) {
  src = running_mid_pass(cfg, 3);
  if (!src) return {};
  MigrateOptions o;
  o.max_downtime = 1ms;
  o.max_iterations = 4;
  return migrate_pair(*src, cfg, o, 0, /*acks=*/true, mode);
}

TEST(PreCopy, PrefaultingDestinationEndsWithTheSourceMemory) {
  // Whole mode: every frame, ballooned-out ones too.
  const auto cfg = sim_config("passes=150 mib=16 ws=4 balloon=2048,8", 2, 64ULL << 20);
  std::unique_ptr<vm::sim::SimDomain> src;
  Outcome out = migrate_prefaulting(Prefault::whole, cfg, src);
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(out.dst) << out.dst.error().message();
  EXPECT_LE(out.dst->stats.prefaulted_bytes, cfg.memory_bytes);
  // Counted in whole steps.
  EXPECT_EQ(out.dst->stats.prefaulted_bytes % (Prefaulter::kStepPages * vm::kPageSize), 0U);
  expect_clean_switch_over(*src, out);
}

TEST(PreCopy, LeadPrefaultingDestinationEndsWithTheSourceMemory) {
  // Lead mode: the frames round 0 announces and a look-ahead past them,
  // with what round 0 leaves zero given back.
  const auto cfg = sim_config("passes=150 mib=16 ws=4 balloon=2048,8", 2, 64ULL << 20);
  std::unique_ptr<vm::sim::SimDomain> src;
  Outcome out = migrate_prefaulting(Prefault::lead, cfg, src);
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(out.dst) << out.dst.error().message();
  // It touched frames, but not the whole of the RAM (the workload's 16 MiB
  // and the rest of the map's data, not 64 MiB).
  EXPECT_GT(out.dst->stats.prefaulted_bytes, 0U);
  EXPECT_LT(out.dst->stats.prefaulted_bytes, cfg.memory_bytes);
  // (whether it touched frames round 0 left zero, to give back, depends on
  // timing: test_prefault.cpp checks release() on its own)
  expect_clean_switch_over(*src, out);
}

TEST(PreCopy, SparseFourTibGuestWithAHighBalloon) {
  // Round 0 jumps a ~4 TiB hole to the balloon's frames. With lead-mode
  // pre-faulting, its thread must jump the hole too (and the receiver must
  // not walk it giving frames back), and touch no more than the data and
  // its look-ahead.
  for (const Prefault mode : {Prefault::none, Prefault::lead}) {
    SCOPED_TRACE(mode == Prefault::lead ? "lead pre-faulting" : "no pre-faulting");
    auto cfg =
        sim_config("passes=300 mib=4 ws=2 balloon=256,2 bbase=0x3ffff000000", 2, 16ULL << 20);
    cfg.address_space_bytes = 4ULL << 40;
    auto src = running_mid_pass(cfg, 2);
    ASSERT_NE(src, nullptr);
    MigrateOptions o;
    o.max_downtime = 0ms;
    o.max_iterations = 3;
    const auto t0 = std::chrono::steady_clock::now();
    Outcome out = migrate_pair(*src, cfg, o, 0, /*acks=*/false, mode);
    ASSERT_TRUE(out.stats) << out.stats.error().message();
    EXPECT_EQ(out.dst->config.address_space_bytes, 4ULL << 40);
    EXPECT_GT(out.dst->domain->memory_map().end_pfn(), 0x3ffff000ULL);
    // (walking the hole 64 frames at a time would take minutes)
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
    EXPECT_LE(out.dst->stats.prefaulted_bytes,
              cfg.memory_bytes + (4 * 2 + 2) * Prefaulter::kStepPages * vm::kPageSize);
    expect_clean_switch_over(*src, out);
  }
}

// Threads of this process running as SCHED_IDLE (field 41 of
// /proc/self/task/*/stat is the scheduling policy; SCHED_IDLE is 5).
int idle_threads() {
  int n = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(t.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');  // the name may hold spaces
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 41 && rest >> field; ++i)
      if (i == 41 && field == "5") ++n;
  }
  return n;
}

// --background-vcpus: the vCPU threads are SCHED_IDLE during round 0 only,
// and normal again afterwards — also when the migration fails.
TEST(PreCopy, BackgroundVcpusOnlyDuringRoundZero) {
  const auto cfg = sim_config("passes=100 mib=16 ws=4", 2, 64ULL << 20);
  for (const bool cancel : {false, true}) {
    auto src = running_mid_pass(cfg, 2);
    ASSERT_NE(src, nullptr);
    ASSERT_EQ(idle_threads(), 0);
    MigrateOptions o;
    o.background_vcpus = true;
    int most_idle = 0, batches = 0;
    bool round0 = true;
    o.progress = [&](const Progress&) { round0 = false; };
    o.tick = [&] {
      if (round0) most_idle = std::max(most_idle, idle_threads());
      ++batches;
    };
    o.cancelled = [&] { return cancel && batches > 3; };
    Outcome out = migrate_pair(*src, cfg, o);
    EXPECT_EQ(most_idle, 2) << "both vCPU threads, during round 0";
    EXPECT_EQ(idle_threads(), 0) << "after the migration" << (cancel ? " (cancelled)" : "");
    if (cancel) {
      ASSERT_FALSE(out.stats);
      EXPECT_EQ(src->state(), vm::RunState::running);
      EXPECT_EQ(run_to_exit(*src), 0) << src->console_text();
    } else {
      expect_clean_switch_over(*src, out);
    }
    src->shutdown();
  }
}

}  // namespace
}  // namespace tern::migrate
