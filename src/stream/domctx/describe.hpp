// Tools' view of a domain-context blob (tern inspect / verify --format
// domctx): strict verification against the standard record catalogue, a
// neutral JSON description of every record with its decoded fields, and
// format detection from a prefix.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/descriptor.hpp"

namespace tern::stream::domctx {

struct VerifySummary {
  HeaderBody header;
  std::uint64_t size = 0;           // bytes, END included
  std::uint64_t records = 0;        // state records (HEADER and END excluded)
  std::uint64_t ignored = 0;        // of which flagged IGNORE
  std::uint32_t vcpus = 0;          // highest per-vCPU instance + 1
  std::map<std::string, std::uint64_t> per_type;  // record count by type name
};

// Strict: every rule of parser.hpp with the standard catalogue (no domain,
// so per-vCPU instances are not bounded). On failure the error message
// names offset, record index, type and instance.
[[nodiscard]] Expected<VerifySummary> verify(Bytes blob);

// Verifies, then describes:
// {"format":"domctx","size":N,
//  "header":{"magic","version","producer_major","producer_minor"},
//  "records":[{"index","offset","typecode","name","instance","flags",
//              "ignore","length","fields":{...}}...]}   (HEADER and END included;
// "fields" is null for IGNOREd records a decoder cannot read).
[[nodiscard]] Expected<nlohmann::json> describe(Bytes blob);

[[nodiscard]] nlohmann::json to_json(const VerifySummary& s);

// True when `prefix` starts with a domain-context HEADER (descriptor +
// magic): needs at least kDetectBytes bytes.
inline constexpr std::size_t kDetectBytes = kDescriptorSize + 8;
[[nodiscard]] bool looks_like_domctx(Bytes prefix);

}  // namespace tern::stream::domctx
