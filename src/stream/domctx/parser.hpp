// Strict parse of a whole domain-context blob, shared by load, verify and
// describe. Checks, in order of appearance: HEADER first (magic, version,
// flags, instance, length), every descriptor bounded by the remaining
// input, only known flag bits, IGNORE never on HEADER/END, zero padding,
// END present with an empty body and nothing after it. With a rules lookup
// it also checks each record not marked IGNORE: known typecode, instance
// (global: 0; per vCPU: below the vCPU count when known), body size,
// body contents, and that no (typecode, instance) pair appears twice.
// Every error names the byte offset, record index, type name and instance.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/bytes.hpp"
#include "core/error.hpp"
#include "stream/domctx/descriptor.hpp"
#include "stream/domctx/registry.hpp"

namespace tern::stream::domctx {

struct ParsedRecord {
  Descriptor desc;
  std::uint64_t offset = 0;  // descriptor offset within the blob
  std::uint64_t index = 0;   // 0 is the HEADER
  Bytes raw;                 // body as stored
  std::vector<std::byte> extended;  // zero-extended copy of a shorter body
  const TypeRules* rules = nullptr;  // set when checked against rules
  [[nodiscard]] bool ignored() const { return (desc.flags & kFlagIgnore) != 0; }
  [[nodiscard]] Bytes body() const { return extended.empty() ? raw : Bytes(extended); }
};

struct ParsedBlob {
  HeaderBody header;
  std::vector<ParsedRecord> records;  // state records, between HEADER and END
  std::uint64_t end_offset = 0;       // offset of the END descriptor
  std::uint64_t size = 0;             // whole blob
};

struct ParseRules {
  // Rules for a state typecode, nullptr when unknown. Empty: framing only.
  std::function<const TypeRules*(std::uint16_t)> lookup;
  // Bound on per-vCPU instances, when the domain is known.
  std::optional<std::uint32_t> vcpu_count;
};

[[nodiscard]] Expected<ParsedBlob> parse_blob(Bytes blob, const ParseRules& rules);

// An error about one record, in the same form parse_blob uses:
// "domctx: offset N: record #I (NAME instance K): RULE".
[[nodiscard]] Error record_error(Errc code, const ParsedRecord& r, std::string_view rule);

}  // namespace tern::stream::domctx
