// A domain's non-memory state as the domain-context blob (seed 000 format,
// docs/FORMAT.md §4) that an image carries in its HVM_CONTEXT record.
#pragma once

#include <cstdint>
#include <vector>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/state_image.hpp"

namespace tern::migrate {

[[nodiscard]] Expected<std::vector<std::byte>> encode_state(const stream::domctx::StateImage& img);
// Fully validated against the registry's rules and `vcpus` before anything
// is returned.
[[nodiscard]] Expected<stream::domctx::StateImage> decode_state(Bytes blob, std::uint32_t vcpus);

}  // namespace tern::migrate
