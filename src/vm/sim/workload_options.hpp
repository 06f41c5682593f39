// The built-in guest's command line (guest/README.md), parsed the same way
// guest/options.c does, for the sim backend's workload. Same keys, defaults,
// limits and messages, plus two sim-only keys for the balloon (seed 002):
//   balloon=N[,PERIOD]  N pages (1..65536) that vCPU 0 takes away from and
//                       gives back to the VM while it writes: one balloon
//                       step every PERIOD pages it writes (default 64)
//   bbase=ADDR          first byte of the balloon area (4 KiB aligned);
//                       default: right after the region
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tern::vm::sim {

inline constexpr std::uint64_t kMaxMib = 16384;
inline constexpr std::uint64_t kMaxPauseUs = 1000000000;
inline constexpr std::uint64_t kMaxBalloonPages = 65536;
inline constexpr std::uint64_t kDefaultBalloonPeriod = 64;
inline constexpr std::uint64_t kDefaultBase =
    0x200000;  // the guest's default (end of image, 2 MiB)

struct WorkloadOptions {
  std::uint64_t passes = 3;  // 0 = forever
  std::uint64_t mib = 8;
  std::uint64_t base = kDefaultBase;
  std::uint64_t ws = 0;  // MiB written per pass (defaults to mib)
  std::uint64_t pause_us = 0;
  std::uint64_t inject = 0;
  std::string io = "syscall";  // accepted for compatibility; the sim has no port I/O
  std::string fault = "none";  // ud / pf: the sim reports a CPU exception (exit 0x41)
  std::uint64_t balloon_pages = 0;
  std::uint64_t balloon_period = kDefaultBalloonPeriod;
  std::uint64_t balloon_base = 0;  // valid when balloon_pages != 0
};

// Errors are Errc::usage with the guest's own wording ("unknown option 'x=1'",
// "mib=0 out of range 1..16384", ...).
[[nodiscard]] Expected<WorkloadOptions> parse_workload_options(std::string_view cmdline);

// The guest's start line values, e.g. "passes=3 mib=8 ws=8 base=0x200000 ...".
[[nodiscard]] std::string describe(const WorkloadOptions& o);

}  // namespace tern::vm::sim
