// The sim guest's workload: guest/user_workload.c's passes, one unit of
// work per step() so a vCPU can be paused (and its state saved) between any
// two units. Several vCPUs share each pass: vCPU i verifies the MiB chunks
// c with c % vcpus == i and writes the window chunks i, i+vcpus, ...; they
// meet at barriers between the verify, write and report phases, and vCPU 0
// prints the pass line with everyone's counts.
#include <chrono>
#include <thread>

#include "core/bytes.hpp"
#include "vm/sim/pattern.hpp"
#include "vm/sim/sim_domain.hpp"

namespace tern::vm::sim {

namespace {
constexpr std::uint64_t kPagesPerMiB = kMiB / kPageSize;
constexpr std::uint64_t kWordsPerPage = kPageSize / 8;
constexpr std::uint32_t kExitErrorsMax = 0x3f;
constexpr std::uint32_t kExitException = 0x41;
constexpr std::uint64_t kBalloonSeed = 0x62616c6c6f6f6e31ULL;

std::uint64_t mix(std::uint64_t x) { return pattern_word(1, x); }

// First index >= i owned by vCPU id when index k belongs to vCPU k % n.
std::uint64_t next_owned(std::uint64_t i, unsigned id, unsigned n) {
  return i + (id + n - i % n) % n;
}
}  // namespace

std::uint64_t SimDomain::load_word(std::uint64_t addr) const {
  return load_le<std::uint64_t>(mem_->page(addr >> kPageShift) + (addr & (kPageSize - 1)));
}

void SimDomain::store_word(unsigned shard, std::uint64_t addr, std::uint64_t v) {
  store_le<std::uint64_t>(mem_->page(addr >> kPageShift) + (addr & (kPageSize - 1)), v);
  mem_->mark(shard, addr >> kPageShift);
}

std::uint64_t SimDomain::window_first(std::uint64_t pass) const {
  const auto& o = layout_.opt;
  return ((pass - 1) % o.mib) * o.ws % o.mib;
}

void SimDomain::write_page(unsigned shard, std::uint64_t addr, std::uint64_t pass) {
  std::byte* p = mem_->page(addr >> kPageShift);
  for (std::uint64_t i = 0; i < kWordsPerPage; ++i)
    store_le<std::uint64_t>(p + 8 * i, pattern_word(pass, addr + 8 * i));
  mem_->mark(shard, addr >> kPageShift);  // after the write: see sim_memory.hpp
}

void SimDomain::verify_page(unsigned id, std::uint64_t addr, std::uint64_t pass) {
  WorkState& s = *states_[id];
  const std::byte* p = mem_->page(addr >> kPageShift);
  for (std::uint64_t i = 0; i < kWordsPerPage; ++i) {
    const std::uint64_t want = pattern_word(pass, addr + 8 * i);
    const std::uint64_t got = load_le<std::uint64_t>(p + 8 * i);
    if (got == want) continue;
    s.add(kPassErrors, 1);
    if (s.get(kReported) < 4) {
      s.add(kReported, 1);
      print(fmt::format(
          "tern-guest: mismatch at {:#x}: expected {:#018x} (pass {}), found {:#018x}\n",
          addr + 8 * i, want, pass, got));
    }
  }
}

Expected<void> SimDomain::step(unsigned id) {
  switch (states_[id]->phase()) {
    case Phase::verify:
      return step_verify(id, false);
    case Phase::write:
      return step_write(id);
    case Phase::report:
      step_report(id);
      return {};
    case Phase::pause:
      step_pause(id);
      return {};
    case Phase::final_verify:
      return step_verify(id, true);
    case Phase::final_report:
      step_final_report(id);
      return {};
    case Phase::fault:
      step_fault(id);
      return {};
    case Phase::done:
      return {};
  }
  return make_error(Errc::internal, "unknown workload phase {}", states_[id]->get(kPhase));
}

// Per-pass counters restart only once every vCPU is past the barrier, after
// vCPU 0 has read them for its report.
void SimDomain::after_barrier(unsigned id) {
  WorkState& s = *states_[id];
  if (s.phase() == Phase::verify || s.phase() == Phase::final_verify) {
    s.set(kPassErrors, 0);
    s.set(kPassVerified, 0);
    s.set(kReported, 0);
  }
  if (s.phase() == Phase::final_report && id != 0) s.set_phase(Phase::done);
}

Expected<void> SimDomain::step_verify(unsigned id, bool final) {
  WorkState& s = *states_[id];
  const auto& o = layout_.opt;
  const unsigned n = config_.vcpus;
  const std::uint64_t region = layout_.region_pages;
  const std::uint64_t total = region + (id == 0 ? o.balloon_pages : 0);
  const std::uint64_t pos = s.get(kPos);
  if (pos >= total) {
    s.add(kTotalErrors, s.get(kPassErrors));
    s.set(kPos, 0);
    s.set_phase(final ? Phase::final_report : Phase::write);
    s.arrive();
    notify_progress();
    return {};
  }
  if (pos < region) {
    const std::uint64_t c = pos / kPagesPerMiB;
    const std::uint64_t written_by = load_word(kChunkPassAddr + 8 * c);
    if (c % n != id || written_by == 0) {  // not ours, or never written: skip the chunk
      const std::uint64_t next = next_owned(c % n == id ? c + 1 : c, id, n);
      s.set(kPos, next >= o.mib ? region : next * kPagesPerMiB);
      return {};
    }
    if (pos % kPagesPerMiB == 0) s.add(kPassVerified, 1);
    verify_page(id, o.base + pos * kPageSize, written_by);
  } else {
    const std::uint64_t k = pos - region;
    const std::uint64_t tag = load_word(kBalloonTableAddr + 8 * k);
    if (tag >= kBalloonTagBase) verify_page(id, o.balloon_base + k * kPageSize, tag);
  }
  s.set(kPos, pos + 1);
  return {};
}

Expected<void> SimDomain::step_write(unsigned id) {
  WorkState& s = *states_[id];
  const auto& o = layout_.opt;
  const unsigned n = config_.vcpus;
  const std::uint64_t pos = s.get(kPos);
  if (pos >= layout_.window_pages) {
    s.set(kPos, 0);
    s.set_phase(Phase::report);
    s.arrive();
    notify_progress();
    return {};
  }
  const std::uint64_t i = pos / kPagesPerMiB;
  if (i % n != id) {
    s.set(kPos, std::min(next_owned(i, id, n) * kPagesPerMiB, layout_.window_pages));
    return {};
  }
  const std::uint64_t pass = s.get(kPass);
  const std::uint64_t c = (window_first(pass) + i) % o.mib;
  write_page(id, o.base + c * kMiB + (pos % kPagesPerMiB) * kPageSize, pass);
  if (pos % kPagesPerMiB == kPagesPerMiB - 1) store_word(id, kChunkPassAddr + 8 * c, pass);
  if (id == 0 && o.balloon_pages != 0 && (pos + 1) % o.balloon_period == 0)
    TERN_TRY(balloon_step(id));
  s.set(kPos, pos + 1);
  return {};
}

// One balloon step (seed 002): a pseudo-random balloon page is taken away
// from the VM if present, or given back and written if absent. The map's
// generation changes either way; a page given back reads zero until this
// step writes it, and is verified against its tag from then on.
Expected<void> SimDomain::balloon_step(unsigned id) {
  WorkState& s = *states_[id];
  const auto& o = layout_.opt;
  const std::uint64_t step = s.get(kBalloonStep);
  const std::uint64_t k = mix(kBalloonSeed + step) % o.balloon_pages;
  const std::uint64_t addr = o.balloon_base + k * kPageSize;
  const std::uint64_t slot = kBalloonTableAddr + 8 * k;
  if (load_word(slot) != kBalloonAbsent) {
    TERN_TRY(mem_->depopulate(addr >> kPageShift, 1, id));
    store_word(id, slot, kBalloonAbsent);
  } else {
    TERN_TRY(mem_->populate(addr >> kPageShift, 1, id));
    const std::uint64_t tag = kBalloonTagBase + step;
    write_page(id, addr, tag);
    store_word(id, slot, tag);
  }
  s.set(kBalloonStep, step + 1);
  return {};
}

void SimDomain::step_report(unsigned id) {
  WorkState& s = *states_[id];
  s.set(kPos, 0);
  s.set_phase(Phase::pause);
  if (id != 0) return;
  const auto& o = layout_.opt;
  const std::uint64_t pass = s.get(kPass);
  std::uint64_t errors = 0, verified = 0;
  for (const auto& v : states_) {
    errors += v->get(kPassErrors);
    verified += v->get(kPassVerified);
  }
  if (o.inject == pass) {
    const std::uint64_t victim = o.base + window_first(pass) * kMiB + kMiB / 2;
    store_word(id, victim, load_word(victim) ^ (1ULL << (pass % 64)));
    print(fmt::format("tern-guest: injected a flipped bit at {:#x} after pass {}\n", victim, pass));
  }
  print(fmt::format("pass {}: wrote {} MiB, verified {} MiB, {} errors\n", pass, o.ws, verified,
                    errors));
}

void SimDomain::step_pause(unsigned id) {
  WorkState& s = *states_[id];
  const auto& o = layout_.opt;
  const std::uint64_t done_us = s.get(kPausedUs);
  if (id == 0 && done_us < o.pause_us) {
    const std::uint64_t slice = std::min<std::uint64_t>(1000, o.pause_us - done_us);
    std::this_thread::sleep_for(std::chrono::microseconds(slice));
    s.set(kPausedUs, done_us + slice);
    return;
  }
  const std::uint64_t next = s.get(kPass) + 1;
  s.set(kPausedUs, 0);
  s.set(kPass, next);
  s.set_phase(o.passes != 0 && next > o.passes ? Phase::final_verify : Phase::verify);
  s.arrive();
  notify_progress();
}

void SimDomain::step_final_report(unsigned id) {
  WorkState& s = *states_[id];
  if (id != 0) {
    s.set_phase(Phase::done);
    return;
  }
  std::uint64_t errors = 0, verified = 0, total = 0;
  for (const auto& v : states_) {
    errors += v->get(kPassErrors);
    verified += v->get(kPassVerified);
    total += v->get(kTotalErrors);
  }
  print(fmt::format("final: verified {} MiB, {} errors\n", verified, errors));
  print(fmt::format("tern-guest: done, passes={} errors={}\n", s.get(kPass) - 1, total));
  const auto value = static_cast<std::uint32_t>(std::min<std::uint64_t>(total, kExitErrorsMax));
  s.set(kExitValue, value);
  s.set_phase(Phase::done);
  guest_exit_now(value);
}

void SimDomain::step_fault(unsigned id) {
  WorkState& s = *states_[id];
  s.set_phase(Phase::done);
  if (id != 0) return;
  print("tern-guest: ring 3 workload running\n");
  if (layout_.fault == FaultKind::ud)
    print("tern-guest: exception 6 (#UD) error=0x0 rip=0x0 (sim) ring=3\n");
  else
    print(fmt::format("tern-guest: exception 14 (#PF) error=0x7 rip=0x0 (sim) cr2={:#x} ring=3\n",
                      kHeaderAddr));
  s.set(kExitValue, kExitException);
  guest_exit_now(kExitException);
}

}  // namespace tern::vm::sim
