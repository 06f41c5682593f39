// Host-side check of a sim guest's memory: recomputes, from the tables in
// guest memory and the vCPU registers, what every written word must hold,
// and counts the words that differ. Independent of the guest's own
// verification, so a test can confirm that a restored or migrated guest's
// memory is right before the guest looks at it. Needs a paused (or exited)
// domain and the state save_state() returned for it.
#pragma once

#include <cstdint>

#include "core/error.hpp"
#include "stream/domctx/state_image.hpp"
#include "vm/domain.hpp"

namespace tern::vm::sim {

struct HostCheck {
  std::uint64_t mismatched_words = 0;
  std::uint64_t checked_pages = 0;
  std::uint64_t balloon_pages_present = 0;
  std::uint64_t map_mismatches = 0;  // balloon table vs memory map disagreements
  [[nodiscard]] bool clean() const { return mismatched_words == 0 && map_mismatches == 0; }
};

[[nodiscard]] Expected<HostCheck> host_check(Domain& d, const stream::domctx::StateImage& state);

}  // namespace tern::vm::sim
