// A sim vCPU's "registers": the workload's progress, which is all the state
// a sim vCPU has. Saved as the general-purpose registers of a VCPU_REGS
// domain-context record (the layout every backend uses), so a save image of
// a sim guest has the same shape as a KVM one and resumes exactly mid-pass.
//
// Fields are atomics because the vCPUs read each other's published fields at
// their barriers; only the owning vCPU thread writes them while it runs.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "core/error.hpp"

namespace tern::vm::sim {

// Marks registers written by the sim backend (r15): a KVM vCPU's state
// cannot be mistaken for a sim workload's, nor the other way round.
inline constexpr std::uint64_t kRegsMagic = 0x3153564353524554ULL;  // "TERSCVS1"

enum class Phase : std::uint64_t {
  verify = 1,        // verify what earlier passes wrote
  write = 2,         // write this pass's window
  report = 3,        // vCPU 0: inject, print the pass line
  pause = 4,         // vCPU 0: the pause between passes
  final_verify = 5,  // verify everything once more
  final_report = 6,  // vCPU 0: final lines, exit value
  done = 7,
  fault = 8,  // fault=ud/pf: report a CPU exception
};
inline constexpr std::uint64_t kMaxPhase = 8;

enum Field : unsigned {
  kPhase,         // rip
  kPass,          // rax
  kPos,           // rbx: unit (page, or microsecond in the pause) within the phase
  kArrived,       // rcx: barriers this vCPU has arrived at
  kWaiting,       // rdx: 1 while waiting at barrier kArrived
  kPassErrors,    // rsi: mismatching words found in this pass's verify
  kPassVerified,  // rdi: MiB verified in this pass
  kTotalErrors,   // r8
  kReported,      // r9: mismatches printed this pass (at most 4)
  kBalloonStep,   // r10
  kPausedUs,      // r11
  kExitValue,     // r12
  kFieldCount,
};

class WorkState {
 public:
  [[nodiscard]] std::uint64_t get(Field f) const { return v_[f].load(std::memory_order_relaxed); }
  void set(Field f, std::uint64_t x) { v_[f].store(x, std::memory_order_relaxed); }
  void add(Field f, std::uint64_t x) { set(f, get(f) + x); }
  [[nodiscard]] Phase phase() const { return static_cast<Phase>(get(kPhase)); }
  void set_phase(Phase p) { set(kPhase, static_cast<std::uint64_t>(p)); }

  // Barrier arrival, published with release so the fields written before it
  // are visible to a vCPU that acquires it.
  void arrive() {
    set(kWaiting, 1);
    v_[kArrived].fetch_add(1, std::memory_order_release);
  }
  [[nodiscard]] std::uint64_t arrived_acquire() const {
    return v_[kArrived].load(std::memory_order_acquire);
  }

  [[nodiscard]] kvm_regs to_regs() const;
  // Refuses registers not written by the sim backend or with an unknown phase.
  static Expected<void> check_regs(const kvm_regs& r);
  void from_regs(const kvm_regs& r);

 private:
  std::array<std::atomic<std::uint64_t>, kFieldCount> v_{};
};

}  // namespace tern::vm::sim
