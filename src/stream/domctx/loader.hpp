// Loading a domain: the whole blob is checked first (parser.hpp, against
// the registry's rules and the domain's vCPU count), then the selected
// records are handed to their load handlers in blob order. A blob that
// fails any check applies nothing. Records flagged IGNORE are skipped; a
// caller may also apply only some typecodes (seed 000's example: change the
// shared_info record of a saved blob and load just that one).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/descriptor.hpp"
#include "stream/domctx/domain.hpp"
#include "stream/domctx/registry.hpp"

namespace tern::stream::domctx {

struct LoadOptions {
  // Typecodes to apply; empty applies every record not flagged IGNORE.
  // Records of other types are still fully checked, just not applied.
  std::vector<std::uint16_t> only;
};

struct LoadStats {
  HeaderBody header;
  std::uint64_t records = 0;  // state records in the blob
  std::uint64_t applied = 0;  // handed to a load handler
  std::uint64_t ignored = 0;  // flagged IGNORE
  std::uint64_t skipped = 0;  // not selected by LoadOptions::only
};

Expected<LoadStats> load(const Registry& reg, const DomainShape& dom, Bytes blob, const LoadOptions& opt = {});

// Sets the IGNORE flag on every state record whose typecode is not in
// `keep` (and clears it on those that are), in place; the blob must be well
// framed. Returns how many records remain to be applied.
Expected<std::uint64_t> ignore_all_except(MutableBytes blob, std::span<const std::uint16_t> keep);

}  // namespace tern::stream::domctx
