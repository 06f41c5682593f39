// Where the sim backend's workload keeps its data in guest memory. Like the
// built-in guest (whose .bss.user holds its options and the per-MiB "last
// written by pass" table), everything the workload needs to continue after
// a restore lives in guest memory or in its vCPU registers, so a save image
// carries it and nothing else is needed on the destination.
//
//   0x100000  header page: magic, options, vCPU count      ("the image")
//   0x101000  chunk_pass[16384]: pass that last wrote each MiB (0 = never)
//   0x121000  balloon[65536]: per balloon page 0 absent, 1 present and never
//             written, else the tag its contents were written with
//   0x1a1000  end of the image; the region (base=) must not overlap it
#pragma once

#include <cstdint>

#include "vm/sim/workload_options.hpp"

namespace tern::vm::sim {

inline constexpr std::uint64_t kMiB = 1ULL << 20;
inline constexpr std::uint64_t kImageStart = 0x100000;
inline constexpr std::uint64_t kHeaderAddr = 0x100000;
inline constexpr std::uint64_t kChunkPassAddr = 0x101000;
inline constexpr std::uint64_t kBalloonTableAddr = kChunkPassAddr + kMaxMib * 8;
inline constexpr std::uint64_t kImageEnd = kBalloonTableAddr + kMaxBalloonPages * 8;
static_assert(kImageEnd == 0x1a1000);

inline constexpr std::uint64_t kHeaderMagic = 0x31474d49534e5254ULL;  // "TRNSIMG1"
inline constexpr std::uint64_t kLayoutVersion = 1;

// Balloon table values below kBalloonTagBase; tags are kBalloonTagBase + step,
// never equal to a pass number a real run can reach.
inline constexpr std::uint64_t kBalloonAbsent = 0;
inline constexpr std::uint64_t kBalloonUntouched = 1;
inline constexpr std::uint64_t kBalloonTagBase = 1ULL << 48;

enum class FaultKind : std::uint64_t { none = 0, ud = 1, pf = 2 };

// The header page, little-endian u64 fields in this order.
struct GuestHeader {
  std::uint64_t magic = kHeaderMagic;
  std::uint64_t version = kLayoutVersion;
  std::uint64_t vcpus = 0;
  std::uint64_t passes = 0, mib = 0, base = 0, ws = 0, pause_us = 0, inject = 0;
  std::uint64_t fault = 0;
  std::uint64_t balloon_pages = 0, balloon_period = 0, balloon_base = 0;
};

}  // namespace tern::vm::sim
